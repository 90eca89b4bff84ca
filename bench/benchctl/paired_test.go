package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPairedRounds: the rounds run.sh wrote are read until the first
// incomplete one, and the ratios are those of the mean rates.
func TestPairedRounds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rates := [][3]float64{{2000, 2400, 2100}, {3000, 3000, 2800}} // tpcb, transfers, payouts
	for i, r := range rates {
		write(fmt.Sprintf("%d-tpcb.txt", i+1), fmt.Sprintf("number of failed transactions: 0 (0.000%%)\ntps = %f (without initial connection time)\n", r[0]))
		write(fmt.Sprintf("%d-transfers.json", i+1), fmt.Sprintf(`{"scenario": "transfers", "duration_s": 10, "req_rate": %f}`, r[1]))
		write(fmt.Sprintf("%d-payouts.json", i+1), fmt.Sprintf(`{"scenario": "payouts", "duration_s": 10, "req_rate": %f}`, r[2]))
	}
	write("3-tpcb.txt", "tps = 2500 (without initial connection time)\n") // round 3 never finished
	ps := loadPaired(dir)
	if len(ps) != 2 {
		t.Fatalf("%d rounds, want 2", len(ps))
	}
	tr, po, tp, ok := ps.sums()
	if !ok || tr != 2700 || po != 2450 || tp != 2500 {
		t.Fatalf("means %v %v %v %v, want 2700 2450 2500 true", tr, po, tp, ok)
	}
	table := ps.table()
	for _, want := range []string{"| 1 | 2000 tps | 2400 req/s | 2100 req/s | 1.20× | 0.88× |", "| mean | 2500 tps | 2700 req/s | 2450 req/s | 1.08× | 0.91× |"} {
		if !strings.Contains(table, want) {
			t.Fatalf("table lacks %q:\n%s", want, table)
		}
	}
	got := targets(nil, pgb{}, pgb{}, ps)
	if !strings.Contains(got, "(1) met — 1.08× tpcb-like; (2) met — 0.91× transfers") {
		t.Fatalf("targets: %s", got)
	}
	if loadPaired(t.TempDir()) != nil {
		t.Fatal("rounds from an empty folder")
	}
}
