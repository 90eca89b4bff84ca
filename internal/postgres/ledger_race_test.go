package postgres_test

import (
	"context"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

func mustVerify(t *testing.T, s *postgres.Store, business string) {
	t.Helper()
	_, violations, err := s.Verify(context.Background(), business, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("invariant %s: %s", v.Invariant, v.Detail)
	}
}

// TestConcurrentDebits races 200 one-unit debits against a balance of 100:
// exactly 100 may succeed and the balance ends at zero, never below.
func TestConcurrentDebits(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	src, dst := ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, src, "USD", "100")
	var ok, refused, other atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := record(t, s, transfer(b.ID, src, dst, "USD", "1"))
			switch ledger.ErrorCode(err) {
			case "":
				ok.Add(1)
			case ledger.CodeInsufficientFunds:
				refused.Add(1)
			default:
				if err == nil {
					ok.Add(1)
				} else {
					other.Add(1)
					t.Errorf("unexpected: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 || refused.Load() != 100 || other.Load() != 0 {
		t.Fatalf("ok %d refused %d other %d, want 100/100/0", ok.Load(), refused.Load(), other.Load())
	}
	mustBalance(t, s, b.ID, main(src, "USD"), "0")
	mustBalance(t, s, b.ID, main(dst, "USD"), "100")
	mustVerify(t, s, b.ID)
}

// TestHoldEndsExactlyOnce races 100 posts and voids of one hold: one wins.
func TestHoldEndsExactlyOnce(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	cust := ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, cust, "GBP", "50")
	hold := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: b.ID, Kind: "payout", Phase: ledger.PhasePending,
		Postings: []ledger.Posting{{Debit: main(cust, "GBP"), Credit: ledger.BusinessAccount(b.ID, ledger.SettlementPurpose("bank"), "GBP"),
			Amount: dec("20"), Type: ledger.LinePayout}}}
	if _, err := record(t, s, hold); err != nil {
		t.Fatal(err)
	}
	var wins, posts atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(post bool) {
			defer wg.Done()
			err := s.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
				var err error
				if post {
					_, err = tx.PostHold(ctx, b.ID, hold.ID, "")
				} else {
					_, err = tx.VoidHold(ctx, b.ID, hold.ID, ledger.LinePayoutReversal, "")
				}
				return err
			})
			switch ledger.ErrorCode(err) {
			case ledger.CodeInvalidState:
			default:
				if err != nil {
					t.Errorf("unexpected: %v", err)
					return
				}
				wins.Add(1)
				if post {
					posts.Add(1)
				}
			}
		}(i%2 == 0)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("winners = %d, want 1", wins.Load())
	}
	want := "30"
	if posts.Load() == 0 {
		want = "50"
	}
	bal := mustBalance(t, s, b.ID, main(cust, "GBP"), want)
	if !bal.Held().IsZero() {
		t.Fatalf("held %s after the hold ended", bal.Held())
	}
	mustVerify(t, s, b.ID)
}

// TestHotFeeAccountLosesNothing credits one fee account from 32 goroutines.
func TestHotFeeAccountLosesNothing(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	fees := ledger.BusinessAccount(b.ID, ledger.PurposeFees, "USDT")
	const workers, each = 32, 10
	payers := make([]string, workers)
	for i := range payers {
		payers[i] = ledger.NewID(ledger.PrefixCustomer)
		pgtest.Fund(t, b.ID, payers[i], "USDT", "100")
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(payer string) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: b.ID, Kind: "payout", Phase: ledger.PhasePosted,
					Postings: []ledger.Posting{{Debit: main(payer, "USDT"), Credit: fees, Amount: dec("0.000001"), Type: ledger.LinePayoutFee}}}
				if _, err := record(t, s, e); err != nil {
					t.Errorf("fee credit: %v", err)
				}
			}
		}(payers[w])
	}
	wg.Wait()
	got, err := s.AccountBalance(context.Background(), b.ID, fees)
	if err != nil {
		t.Fatal(err)
	}
	if want := dec("0.00032"); !got.Available().Equal(want) {
		t.Fatalf("fee account = %s, want %s", got.Available(), want)
	}
	var shards int
	if err := s.DB().DB.QueryRow(`SELECT count(*) FROM ledger_balances WHERE business_id = $1 AND purpose = 'fees'`, b.ID).Scan(&shards); err != nil {
		t.Fatal(err)
	}
	if shards < 2 {
		t.Fatalf("fee account used %d shard rows; the hot account is not spread", shards)
	}
	mustVerify(t, s, b.ID)
}

// TestStoreAgreesWithModel drives random operations through PostgreSQL and the
// pure ledger.Apply side by side; after every step the stored balances equal the
// model's, and refused operations change nothing in either.
func TestStoreAgreesWithModel(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	rng := rand.New(rand.NewSource(7))
	profiles := []string{b.ID, ledger.NewID(ledger.PrefixCustomer), ledger.NewID(ledger.PrefixCustomer)}
	curs := []string{"USD", "ETH"}
	model := map[ledger.Account]ledger.Balance{}
	var holds []ledger.Entry
	ended := map[string]bool{}
	amt := func() decimal.Decimal { return decimal.New(int64(rng.Intn(3000)+1), -2) }
	for step := 0; step < 250; step++ {
		cur := curs[rng.Intn(2)]
		p, q := profiles[rng.Intn(3)], profiles[rng.Intn(3)]
		e := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: b.ID, Kind: "test", Phase: ledger.PhasePosted}
		op := rng.Intn(6)
		switch op {
		case 0:
			e.Postings = []ledger.Posting{{Debit: ledger.BusinessAccount(b.ID, ledger.SettlementPurpose("x"), cur), Credit: main(p, cur), Amount: amt(), Type: ledger.LineDeposit}}
		case 1:
			e.Phase = ledger.PhasePending
			e.Postings = []ledger.Posting{{Debit: main(p, cur), Credit: ledger.BusinessAccount(b.ID, ledger.SettlementPurpose("x"), cur), Amount: amt(), Type: ledger.LinePayout},
				{Debit: main(p, cur), Credit: ledger.BusinessAccount(b.ID, ledger.PurposeFees, cur), Amount: amt(), Type: ledger.LinePayoutFee}}
		case 2, 3:
			if len(holds) == 0 {
				continue
			}
			h := holds[rng.Intn(len(holds))]
			if ended[h.ID] {
				continue
			}
			e.Phase, e.PendingID, e.Postings = ledger.PhasePostPending, h.ID, h.Postings
			if op == 3 {
				e.Phase = ledger.PhaseVoidPending
			}
		case 4:
			if p == q {
				continue
			}
			e.Postings = []ledger.Posting{{Debit: main(p, cur), Credit: main(q, cur), Amount: amt(), Type: ledger.LineTransfer}}
		case 5:
			other := curs[1-indexOf(curs, cur)]
			e.Postings = []ledger.Posting{{Debit: main(p, cur), Credit: ledger.BusinessAccount(b.ID, ledger.PurposeFX, cur), Amount: amt(), Type: ledger.LineConversion},
				{Debit: ledger.BusinessAccount(b.ID, ledger.PurposeFX, other), Credit: main(p, other), Amount: amt(), Type: ledger.LineConversion}}
		}
		next, modelErr := ledger.Apply(model, e)
		var storeErr error
		if e.PendingID != "" {
			storeErr = s.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
				var err error
				if e.Phase == ledger.PhasePostPending {
					_, err = tx.PostHold(ctx, b.ID, e.PendingID, "")
				} else {
					_, err = tx.VoidHold(ctx, b.ID, e.PendingID, ledger.LinePayoutReversal, "")
				}
				return err
			})
		} else {
			_, storeErr = record(t, s, e)
		}
		if ledger.ErrorCode(modelErr) != ledger.ErrorCode(storeErr) && !(modelErr == nil && storeErr == nil) {
			t.Fatalf("step %d (op %d): model %v, store %v", step, op, modelErr, storeErr)
		}
		if modelErr == nil {
			model = next
			if e.Phase == ledger.PhasePending {
				holds = append(holds, e)
			}
			if e.PendingID != "" {
				ended[e.PendingID] = true
			}
		}
		for a, want := range model {
			got, err := s.AccountBalance(context.Background(), b.ID, a)
			if err != nil {
				t.Fatal(err)
			}
			if !got.DebitsPosted.Equal(want.DebitsPosted) || !got.CreditsPosted.Equal(want.CreditsPosted) ||
				!got.DebitsPending.Equal(want.DebitsPending) || !got.CreditsPending.Equal(want.CreditsPending) {
				t.Fatalf("step %d: %s stored %+v, model %+v", step, a, got, want)
			}
		}
	}
	mustVerify(t, s, b.ID)
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// TestVerifyCatchesCorruption corrupts a stored balance behind the ledger's back
// (the application never updates balances without lines) and checks that Verify
// names the violation; then it restores the row so the shared database stays clean.
func TestVerifyCatchesCorruption(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	cust := ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, cust, "KES", "10")
	mustVerify(t, s, b.ID)
	db := s.DB().DB
	if _, err := db.Exec(`UPDATE ledger_balances SET credits_posted = credits_posted + 1 WHERE business_id = $1 AND owner_id = $2`, b.ID, cust); err != nil {
		t.Fatal(err)
	}
	_, violations, err := s.Verify(context.Background(), b.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, v := range violations {
		names[v.Invariant] = true
	}
	if !names["2 stored balances equal the sum of their lines"] || !names["3 per business and currency all accounts sum to zero"] {
		t.Fatalf("violations = %+v, want invariants 2 and 3", violations)
	}
	if _, err := db.Exec(`UPDATE ledger_balances SET credits_posted = credits_posted - 1 WHERE business_id = $1 AND owner_id = $2`, b.ID, cust); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, s, b.ID)
}
