package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// TestVerifyCommand runs `tally verify --business` on a healthy business (exit 0,
// summary), then on one whose stored balance was corrupted behind the ledger's
// back (errViolations, i.e. exit 1, with the violation named), and restores it.
func TestVerifyCommand(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	cust := ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, cust, "USD", "42")

	var out bytes.Buffer
	if err := run([]string{"verify", "--business", b.ID}, &out, io.Discard); err != nil {
		t.Fatalf("verify on a healthy ledger: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "verify ok: 1 businesses") {
		t.Fatalf("summary = %q", out.String())
	}

	db := pgtest.DB(t).DB
	corrupt := func(delta string) {
		if _, err := db.ExecContext(context.Background(), `UPDATE ledger_balances SET credits_posted = credits_posted + $3::numeric
			WHERE business_id = $1 AND owner_id = $2`, b.ID, cust, delta); err != nil {
			t.Fatal(err)
		}
	}
	corrupt("1")
	defer corrupt("-1")
	out.Reset()
	err := run([]string{"verify", "--business", b.ID}, &out, io.Discard)
	if !errors.Is(err, errViolations) {
		t.Fatalf("verify on a corrupted ledger: err = %v, want errViolations\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "VIOLATION [2 stored balances equal the sum of their lines] "+b.ID) {
		t.Fatalf("output does not name the violation:\n%s", out.String())
	}
}

// TestVerifyTimeoutFlag: --timeout, not TALLY_REQUEST_TIMEOUT, bounds verify's
// statements (its checks scan whole tables, far beyond a request's bound).
func TestVerifyTimeoutFlag(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.URL(t))
	t.Setenv("TALLY_REQUEST_TIMEOUT", "100ms")
	var out bytes.Buffer
	err := run([]string{"verify", "--timeout", "1ms"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "statement timeout") {
		t.Fatalf("verify --timeout 1ms: err = %v, want a statement timeout\n%s", err, out.String())
	}
	if err := run([]string{"verify", "--timeout", "0s"}, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "--timeout") {
		t.Fatalf("verify --timeout 0s: err = %v, want a usage error", err)
	}
}
