package postgres_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

func main(owner, cur string) ledger.Account {
	return ledger.Account{Owner: owner, Purpose: ledger.PurposeMain, Currency: cur}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func record(t testing.TB, s *postgres.Store, e ledger.Entry) ([]postgres.Line, error) {
	t.Helper()
	var lines []postgres.Line
	err := s.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
		var err error
		lines, err = tx.Record(ctx, e)
		return err
	})
	return lines, err
}

func transfer(biz, from, to, cur, amount string) ledger.Entry {
	return ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: biz, Kind: "transfer", Phase: ledger.PhasePosted,
		Postings: []ledger.Posting{{Debit: main(from, cur), Credit: main(to, cur), Amount: dec(amount), Type: ledger.LineTransfer}}}
}

func mustBalance(t testing.TB, s *postgres.Store, biz string, a ledger.Account, wantAvail string) ledger.Balance {
	t.Helper()
	b, err := s.AccountBalance(context.Background(), biz, a)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Available().Equal(dec(wantAvail)) {
		t.Fatalf("%s available = %s, want %s", a, b.Available(), wantAvail)
	}
	return b
}

func TestRecordGuardsAndBalanceAfter(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	alice, bob := ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, alice, "USD", "10.00")

	lines, err := record(t, s, transfer(b.ID, alice, bob, "USD", "3.25"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		want := map[string]string{alice: "6.75", bob: "3.25"}[l.Account.Owner]
		if l.AvailableAfter == nil || !l.AvailableAfter.Equal(dec(want)) {
			t.Fatalf("%s balance_after = %v, want %s", l.Account.Owner, l.AvailableAfter, want)
		}
	}
	if _, err := record(t, s, transfer(b.ID, alice, bob, "USD", "6.76")); ledger.ErrorCode(err) != ledger.CodeInsufficientFunds {
		t.Fatalf("overdraft err = %v, want insufficient_funds", err)
	}
	if _, err := record(t, s, transfer(b.ID, bob, alice, "EUR", "1")); ledger.ErrorCode(err) != ledger.CodeInsufficientFunds {
		t.Fatalf("never-funded err = %v, want insufficient_funds", err)
	}
	mustBalance(t, s, b.ID, main(alice, "USD"), "6.75")
	mustBalance(t, s, b.ID, main(bob, "USD"), "3.25")
}

func TestHoldPostVoid(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	cust := ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, cust, "BTC", "1")
	settle := ledger.Account{Owner: b.ID, Purpose: ledger.SettlementPurpose("bitcoin"), Currency: "BTC"}
	fees := ledger.Account{Owner: b.ID, Purpose: ledger.PurposeFees, Currency: "BTC"}
	hold := func() string {
		e := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: b.ID, Kind: "payout", Phase: ledger.PhasePending,
			Postings: []ledger.Posting{
				{Debit: main(cust, "BTC"), Credit: settle, Amount: dec("0.3"), Type: ledger.LinePayout},
				{Debit: main(cust, "BTC"), Credit: fees, Amount: dec("0.0001"), Type: ledger.LinePayoutFee},
			}}
		if _, err := record(t, s, e); err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	h1 := hold()
	bal := mustBalance(t, s, b.ID, main(cust, "BTC"), "0.6999")
	if !bal.Held().Equal(dec("0.3001")) || !bal.Total().Equal(dec("1")) {
		t.Fatalf("held %s total %s", bal.Held(), bal.Total())
	}
	end := func(id string, post bool) error {
		return s.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
			var err error
			if post {
				_, err = tx.PostHold(ctx, b.ID, id, "")
			} else {
				_, err = tx.VoidHold(ctx, b.ID, id, ledger.LinePayoutReversal, "")
			}
			return err
		})
	}
	if err := end(h1, true); err != nil {
		t.Fatal(err)
	}
	if err := end(h1, false); ledger.ErrorCode(err) != ledger.CodeInvalidState {
		t.Fatalf("void after post: %v, want invalid_state", err)
	}
	bal = mustBalance(t, s, b.ID, main(cust, "BTC"), "0.6999")
	if !bal.Held().IsZero() || !bal.Total().Equal(dec("0.6999")) {
		t.Fatalf("after post: held %s total %s", bal.Held(), bal.Total())
	}
	h2 := hold()
	mustBalance(t, s, b.ID, main(cust, "BTC"), "0.3998")
	if err := end(h2, false); err != nil {
		t.Fatal(err)
	}
	mustBalance(t, s, b.ID, main(cust, "BTC"), "0.6999")
	if err := end(h2, true); ledger.ErrorCode(err) != ledger.CodeInvalidState {
		t.Fatalf("post after void: %v, want invalid_state", err)
	}
	fb, _ := s.AccountBalance(context.Background(), b.ID, fees)
	if !fb.Available().Equal(dec("0.0001")) || !fb.Pending().IsZero() {
		t.Fatalf("fees: available %s pending %s, want 0.0001 and 0", fb.Available(), fb.Pending())
	}
}

func TestEntriesAreImmutable(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	pgtest.Fund(t, b.ID, b.ID, "USD", "5")
	ctx := context.Background()
	for _, q := range []string{
		"UPDATE ledger_lines SET amount = 1000 WHERE business_id = $1",
		"DELETE FROM ledger_lines WHERE business_id = $1",
		"UPDATE ledger_entries SET kind = 'x' WHERE business_id = $1",
		"DELETE FROM ledger_entries WHERE business_id = $1",
	} {
		if _, err := s.DB().DB.ExecContext(ctx, q, b.ID); err == nil {
			t.Fatalf("%q succeeded, want refused by the database", q)
		}
	}
	mustBalance(t, s, b.ID, main(b.ID, "USD"), "5")
}
