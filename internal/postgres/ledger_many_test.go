package postgres_test

import (
	"context"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// randomEntries makes n entries of business biz among the given customers:
// deposits, transfers, conversions, fee payments and payout holds, amounts large enough that
// many transfers overdraw, and now and then an invalid one.
func randomEntries(seed int64, n int, biz string, customers []string) []ledger.Entry {
	rng := rand.New(rand.NewSource(seed))
	profiles := append([]string{biz}, customers...)
	curs := []string{"USD", "ETH"}
	amt := func() decimal.Decimal { return decimal.New(int64(rng.Intn(5000)+1), -2) }
	out := make([]ledger.Entry, 0, n)
	for len(out) < n {
		cur := curs[rng.Intn(2)]
		p, q := profiles[rng.Intn(len(profiles))], profiles[rng.Intn(len(profiles))]
		e := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: biz, Kind: "test", Phase: ledger.PhasePosted}
		switch rng.Intn(9) {
		case 0, 1:
			e.Postings = []ledger.Posting{{Debit: ledger.BusinessAccount(biz, ledger.SettlementPurpose("x"), cur), Credit: main(p, cur), Amount: amt(), Type: ledger.LineDeposit}}
		case 2, 3, 4:
			if p == q {
				continue
			}
			e.Postings = []ledger.Posting{{Debit: main(p, cur), Credit: main(q, cur), Amount: amt(), Type: ledger.LineTransfer}}
		case 5:
			other := curs[1-indexOf(curs, cur)]
			e.Postings = []ledger.Posting{{Debit: main(p, cur), Credit: ledger.BusinessAccount(biz, ledger.PurposeFX, cur), Amount: amt(), Type: ledger.LineConversion},
				{Debit: ledger.BusinessAccount(biz, ledger.PurposeFX, other), Credit: main(p, other), Amount: amt(), Type: ledger.LineConversion}}
		case 6: // two postings from one account: available_after of each line differs
			e.Postings = []ledger.Posting{{Debit: main(p, cur), Credit: ledger.BusinessAccount(biz, ledger.PurposeFees, cur), Amount: amt(), Type: ledger.LinePayoutFee},
				{Debit: main(p, cur), Credit: main(q, cur), Amount: amt(), Type: ledger.LineTransfer}}
			if p == q {
				continue
			}
		case 8: // a payout's hold: amount and fee pending, the fee on a hot account
			e.Phase = ledger.PhasePending
			e.Postings = []ledger.Posting{{Debit: main(p, cur), Credit: ledger.BusinessAccount(biz, ledger.SettlementPurpose("x"), cur), Amount: amt(), Type: ledger.LinePayout},
				{Debit: main(p, cur), Credit: ledger.BusinessAccount(biz, ledger.PurposeFees, cur), Amount: amt(), Type: ledger.LinePayoutFee}}
		case 7: // invalid: a zero amount
			e.Postings = []ledger.Posting{{Debit: main(p, cur), Credit: main(q, cur), Amount: decimal.Zero, Type: ledger.LineTransfer}}
		}
		out = append(out, e)
	}
	return out
}

// TestRecordManyAgreesWithRecord books the same random entries in two businesses:
// one by one with Record in one, in batches of random size with RecordMany in the
// other. Every entry gets the same verdict, every line the same available_after,
// every account the same balance, and both ledgers verify.
func TestRecordManyAgreesWithRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	one, _ := pgtest.Business(t, ledger.ModeSandbox)
	many, _ := pgtest.Business(t, ledger.ModeSandbox)
	customers := []string{ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer)}
	const n = 300
	e1 := randomEntries(11, n, one.ID, customers)
	e2 := randomEntries(11, n, many.ID, customers)

	lines1, errs1 := make([][]postgres.Line, n), make([]error, n)
	for i, e := range e1 {
		lines1[i], errs1[i] = record(t, s, e)
	}
	lines2, errs2 := make([][]postgres.Line, n), make([]error, n)
	rng := rand.New(rand.NewSource(5))
	for i, batch := 0, 0; i < n; batch++ {
		j := min(n, i+1+rng.Intn(40))
		fn := func(ctx context.Context, tx *postgres.Tx) error {
			ls, errs, err := tx.RecordMany(ctx, e2[i:j])
			copy(lines2[i:j], ls)
			copy(errs2[i:j], errs)
			return err
		}
		// Every other batch pipelines its write (sent at commit), as the API's combiner does.
		var err error
		if batch%2 == 0 {
			err = s.InTx(ctx, fn)
		} else {
			err = s.InTxAs(ctx, many.ID, func(ctx context.Context, tx *postgres.Tx) error {
				tx.PipelineWrites()
				return fn(ctx, tx)
			})
		}
		if err != nil {
			t.Fatalf("batch %d..%d: %v", i, j, err)
		}
		i = j
	}
	refused := 0
	for i := range e1 {
		if ledger.ErrorCode(errs1[i]) != ledger.ErrorCode(errs2[i]) || (errs1[i] == nil) != (errs2[i] == nil) {
			t.Fatalf("entry %d: Record %v, RecordMany %v", i, errs1[i], errs2[i])
		}
		if errs1[i] != nil {
			refused++
			continue
		}
		if len(lines1[i]) != len(lines2[i]) {
			t.Fatalf("entry %d: %d lines vs %d", i, len(lines1[i]), len(lines2[i]))
		}
		for k := range lines1[i] {
			a, b := lines1[i][k].AvailableAfter, lines2[i][k].AvailableAfter
			if (a == nil) != (b == nil) || (a != nil && !a.Equal(*b)) {
				t.Fatalf("entry %d line %d: available_after %v vs %v", i, k, a, b)
			}
		}
	}
	if refused < n/10 || refused > n*9/10 {
		t.Fatalf("%d of %d entries refused: the test should exercise both verdicts", refused, n)
	}
	for _, cur := range []string{"USD", "ETH"} {
		for k, p := range append([]string{""}, customers...) {
			p1, p2 := p, p
			if k == 0 {
				p1, p2 = one.ID, many.ID
			}
			for _, purpose := range []ledger.Purpose{ledger.PurposeMain, ledger.PurposeFees, ledger.PurposeFX, ledger.SettlementPurpose("x")} {
				if k != 0 && purpose != ledger.PurposeMain {
					continue
				}
				b1, err := s.AccountBalance(ctx, one.ID, ledger.Account{Owner: p1, Purpose: purpose, Currency: cur})
				if err != nil {
					t.Fatal(err)
				}
				b2, err := s.AccountBalance(ctx, many.ID, ledger.Account{Owner: p2, Purpose: purpose, Currency: cur})
				if err != nil {
					t.Fatal(err)
				}
				if !b1.DebitsPosted.Equal(b2.DebitsPosted) || !b1.CreditsPosted.Equal(b2.CreditsPosted) ||
					!b1.DebitsPending.Equal(b2.DebitsPending) || !b1.CreditsPending.Equal(b2.CreditsPending) {
					t.Fatalf("%s %s %s: Record %+v, RecordMany %+v", p, purpose, cur, b1, b2)
				}
			}
		}
	}
	mustVerify(t, s, one.ID)
	mustVerify(t, s, many.ID)
}

// TestRecordManyConcurrent races batches of transfers (RecordMany) against single
// transfers (Record) over five accounts: nothing fails but overdrafts, no
// account goes below zero, the money is all still there, and the ledger verifies.
func TestRecordManyConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	accounts := make([]string, 5)
	for i := range accounts {
		accounts[i] = ledger.NewID(ledger.PrefixCustomer)
		pgtest.Fund(t, b.ID, accounts[i], "USD", "100")
	}
	random := func(rng *rand.Rand) ledger.Entry {
		i := rng.Intn(len(accounts))
		j := (i + 1 + rng.Intn(len(accounts)-1)) % len(accounts)
		return transfer(b.ID, accounts[i], accounts[j], "USD", decimal.New(int64(rng.Intn(4000)+1), -2).String())
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for round := 0; round < 15; round++ {
				if w%2 == 0 {
					if _, err := record(t, s, random(rng)); err != nil && ledger.ErrorCode(err) != ledger.CodeInsufficientFunds {
						t.Errorf("Record: %v", err)
					}
					continue
				}
				es := make([]ledger.Entry, 1+rng.Intn(20))
				for k := range es {
					es[k] = random(rng)
				}
				err := s.InTxAs(ctx, b.ID, func(ctx context.Context, tx *postgres.Tx) error {
					if round%2 == 0 {
						tx.PipelineWrites()
					}
					_, errs, err := tx.RecordMany(ctx, es)
					for _, e := range errs {
						if e != nil && ledger.ErrorCode(e) != ledger.CodeInsufficientFunds {
							t.Errorf("RecordMany item: %v", e)
						}
					}
					return err
				})
				if err != nil {
					t.Errorf("RecordMany: %v", err)
				}
			}
		}(w)
	}
	wg.Wait()
	sum := decimal.Zero
	for _, a := range accounts {
		bal, err := s.AccountBalance(ctx, b.ID, main(a, "USD"))
		if err != nil {
			t.Fatal(err)
		}
		if bal.Available().IsNegative() {
			t.Fatalf("%s overdrawn: %s", a, bal.Available())
		}
		sum = sum.Add(bal.Available())
	}
	if !sum.Equal(dec("500")) {
		t.Fatalf("customers hold %s in all, want 500", sum)
	}
	mustVerify(t, s, b.ID)
}

// TestPipelinedWritesFailTogether: with PipelineWrites, the ledger write and the
// transfer rows wait for commit and go in one round trip. A failure there (two
// transfer rows with one id) fails the transaction as a whole: no balance
// moved, no entry written; and the connection goes back to the pool usable.
func TestPipelinedWritesFailTogether(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	from, to := ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, from, "USD", "100")
	book := func(pipeline bool, ids ...string) (saveErr, err error) {
		err = s.InTxAs(ctx, b.ID, func(ctx context.Context, tx *postgres.Tx) error {
			if pipeline {
				tx.PipelineWrites()
			}
			var trs []ledger.Transfer
			var es []ledger.Entry
			for _, id := range ids {
				tr := ledger.Transfer{ID: id, Business: b.ID, FromProfileID: from, ToProfileID: to, Status: "completed",
					Currency: "USD", Amount: decimal.RequireFromString("10"), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
				e := postgres.TransferEntry(tr)
				tr.EntryID = e.ID
				trs, es = append(trs, tr), append(es, e)
			}
			_, errs, err := tx.RecordMany(ctx, es)
			if err != nil {
				return err
			}
			for _, e := range errs {
				if e != nil {
					return e
				}
			}
			saveErr = tx.SaveTransfers(ctx, trs)
			return saveErr
		})
		return saveErr, err
	}
	balance := func() decimal.Decimal {
		bal, err := s.AccountBalance(ctx, b.ID, main(from, "USD"))
		if err != nil {
			t.Fatal(err)
		}
		return bal.Available()
	}
	dup := ledger.NewID(ledger.PrefixTransfer)

	// Without the pipeline, the duplicate fails SaveTransfers itself.
	if saveErr, err := book(false, dup, dup); saveErr == nil || err == nil {
		t.Fatalf("unpipelined duplicate: SaveTransfers %v, transaction %v; want both to fail", saveErr, err)
	}
	// With it, SaveTransfers only queues; the failure comes at commit and undoes the ledger write too.
	for range 5 { // more attempts than the pool has idle connections, to reuse the one that failed
		saveErr, err := book(true, dup, dup)
		if saveErr != nil {
			t.Fatalf("pipelined SaveTransfers ran at once: %v", saveErr)
		}
		if err == nil || !strings.Contains(err.Error(), "transfers_pkey") {
			t.Fatalf("pipelined duplicate: %v; want the primary key violation", err)
		}
	}
	if got := balance(); !got.Equal(decimal.RequireFromString("100")) {
		t.Fatalf("after failed transactions the sender has %s, want 100", got)
	}
	for range 5 {
		if _, err := book(true, ledger.NewID(ledger.PrefixTransfer), ledger.NewID(ledger.PrefixTransfer)); err != nil {
			t.Fatalf("pipelined transfers after a failure: %v", err)
		}
	}
	if got := balance(); !got.Equal(decimal.RequireFromString("0")) {
		t.Fatalf("after ten transfers of 10 the sender has %s, want 0", got)
	}
	mustVerify(t, s, b.ID)
}
