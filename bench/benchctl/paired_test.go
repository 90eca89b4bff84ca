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
	write := func(dir, name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pgbench := func(tps float64) string {
		return fmt.Sprintf("number of failed transactions: 0 (0.000%%)\ntps = %f (without initial connection time)\n", tps)
	}
	load := func(scenario string, rate float64) string {
		return fmt.Sprintf(`{"scenario": %q, "duration_s": 10, "req_rate": %f}`, scenario, rate)
	}
	// tpcb, transfers, payouts, -S, balances
	rates := [][5]float64{{2000, 2400, 2100, 30000, 16000}, {3000, 3000, 2800, 40000, 18000}}
	writes := func(withReads bool) string {
		dir := t.TempDir()
		for i, r := range rates {
			write(dir, fmt.Sprintf("%d-tpcb.txt", i+1), pgbench(r[0]))
			write(dir, fmt.Sprintf("%d-transfers.json", i+1), load("transfers", r[1]))
			write(dir, fmt.Sprintf("%d-payouts.json", i+1), load("payouts", r[2]))
			if withReads {
				write(dir, fmt.Sprintf("%d-select.txt", i+1), pgbench(r[3]))
				write(dir, fmt.Sprintf("%d-balances.json", i+1), load("balances", r[4]))
			}
		}
		write(dir, "3-tpcb.txt", pgbench(2500)) // round 3 never finished
		return dir
	}

	ps := loadPaired(writes(true))
	if len(ps) != 2 {
		t.Fatalf("%d rounds, want 2", len(ps))
	}
	m, ok := ps.mean()
	if !ok || m.tpcb != 2500 || m.transfers != 2700 || m.payouts != 2450 || m.sel != 35000 || m.balances != 17000 || m.seconds != 10 {
		t.Fatalf("means %+v %v", m, ok)
	}
	table := ps.table()
	for _, want := range []string{
		"| 1 | 2000 tps | 2400 req/s | 2100 req/s | 1.20× | 0.88× | 30000 tps | 16000 req/s | 0.53× |",
		"| mean | 2500 tps | 2700 req/s | 2450 req/s | 1.08× | 0.91× | 35000 tps | 17000 req/s | 0.49× |",
	} {
		if !strings.Contains(table, want) {
			t.Fatalf("table lacks %q:\n%s", want, table)
		}
	}
	got := targets(nil, pgb{}, pgb{}, ps)
	if !strings.Contains(got, "(1) met — 1.08× tpcb-like; (2) met — 0.91× transfers; (3) **missed** — 0.49× -S") {
		t.Fatalf("targets: %s", got)
	}

	// Without balances the reads' columns and verdict are left out.
	ps = loadPaired(writes(false))
	if len(ps) != 2 || strings.Contains(ps.table(), "-S") || strings.Contains(targets(nil, pgb{}, pgb{}, ps), "(3)") {
		t.Fatalf("rounds without reads: %d\n%s", len(ps), ps.table())
	}
	if loadPaired(t.TempDir()) != nil {
		t.Fatal("rounds from an empty folder")
	}
}
