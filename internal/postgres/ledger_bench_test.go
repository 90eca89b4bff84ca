package postgres_test

import (
	"context"
	"fmt"
	"math/rand"
	"sync/atomic"
	"testing"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// benchAccounts is how many funded customers the benchmarks spread over.
const benchAccounts = 1000

// benchParallelism × GOMAXPROCS goroutines run at once (32 on a 2-core machine).
func benchParallelism() int {
	p := 32 / testingProcs()
	if p < 1 {
		p = 1
	}
	return p
}

func fundedAccounts(b *testing.B, currency string) (ledger.Business, []string) {
	b.Helper()
	biz, _ := pgtest.Business(b, ledger.ModeLive)
	s := pgtest.Store(b)
	ids := make([]string, benchAccounts)
	// One entry funds a batch of accounts, so setup stays fast.
	for start := 0; start < benchAccounts; start += 16 {
		e := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: biz.ID, Kind: "adjustment", Phase: ledger.PhasePosted}
		for i := start; i < start+16 && i < benchAccounts; i++ {
			ids[i] = ledger.NewID(ledger.PrefixCustomer)
			e.Postings = append(e.Postings, ledger.Posting{Debit: ledger.BusinessAccount(biz.ID, ledger.SettlementPurpose("bench"), currency),
				Credit: main(ids[i], currency), Amount: dec("1000000"), Type: ledger.LineAdjustment})
		}
		if _, err := record(b, s, e); err != nil {
			b.Fatal(err)
		}
	}
	return biz, ids
}

// BenchmarkTransfers: transfers between random pairs of 1,000 accounts, each one
// database transaction, 32 at a time. The uncontended anchor.
func BenchmarkTransfers(b *testing.B) {
	biz, ids := fundedAccounts(b, "USD")
	s := pgtest.Store(b)
	var seed atomic.Int64
	b.SetParallelism(benchParallelism())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewSource(seed.Add(1)))
		for pb.Next() {
			i, j := rng.Intn(benchAccounts), rng.Intn(benchAccounts)
			if i == j {
				j = (j + 1) % benchAccounts
			}
			if _, err := record(b, s, transfer(biz.ID, ids[i], ids[j], "USD", "0.01")); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}

// BenchmarkPayoutsHotFee: payouts from random accounts, every one crediting the
// business's ONE fee account (and its one settlement account), 32 at a time. The
// hot-account strategy (sharded balance rows) must keep this near the anchor.
func BenchmarkPayoutsHotFee(b *testing.B) {
	biz, ids := fundedAccounts(b, "USDT")
	s := pgtest.Store(b)
	settle := ledger.BusinessAccount(biz.ID, ledger.SettlementPurpose("tron"), "USDT")
	fees := ledger.BusinessAccount(biz.ID, ledger.PurposeFees, "USDT")
	var seed atomic.Int64
	b.SetParallelism(benchParallelism())
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewSource(seed.Add(1)))
		for pb.Next() {
			payer := ids[rng.Intn(benchAccounts)]
			e := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: biz.ID, Kind: "payout", Phase: ledger.PhasePosted,
				Postings: []ledger.Posting{
					{Debit: main(payer, "USDT"), Credit: settle, Amount: dec("0.01"), Type: ledger.LinePayout},
					{Debit: main(payer, "USDT"), Credit: fees, Amount: dec("0.000001"), Type: ledger.LinePayoutFee},
				}}
			if _, err := record(b, s, e); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payouts/s")
	b.StopTimer()
	_, violations, err := s.Verify(context.Background(), biz.ID, nil)
	if err != nil || len(violations) > 0 {
		b.Fatalf("verify after benchmark: %v %v", err, violations)
	}
}

// BenchmarkBalanceReads: GET /v1/balances' query for random funded customers, 32
// at a time. "bare" runs it straight on the pool as the login role (which owns the
// tables and bypasses RLS): the anchor. "confined" is Store.ProfileBalances, which
// confines the connection to the business first (Store.AsBusiness). The ratio is
// what row-level security on reads costs.
func BenchmarkBalanceReads(b *testing.B) {
	biz, ids := fundedAccounts(b, "USD")
	s := pgtest.Store(b)
	ctx := context.Background()
	run := func(b *testing.B, read func(owner string) error) {
		b.SetParallelism(benchParallelism())
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewSource(rand.Int63()))
			for pb.Next() {
				if err := read(ids[rng.Intn(len(ids))]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("bare", func(b *testing.B) {
		run(b, func(owner string) error {
			rows, err := s.DB().DB.QueryContext(ctx, `SELECT currency, debits_posted, credits_posted, debits_pending, credits_pending
				FROM ledger_balances WHERE business_id = $1 AND owner_id = $2 AND purpose = 'main' ORDER BY currency`, biz.ID, owner)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if n != 1 {
				return fmt.Errorf("%d balances", n)
			}
			return rows.Err()
		})
	})
	b.Run("confined", func(b *testing.B) {
		run(b, func(owner string) error {
			bs, err := s.ProfileBalances(ctx, biz.ID, owner)
			if err == nil && len(bs) != 1 {
				err = fmt.Errorf("%d balances", len(bs))
			}
			return err
		})
	})
}

// BenchmarkRecordMany: the ledger's part of POST /v1/transfers/batch, one batch of
// 1,000 transfers per operation from one account to 500 others (the shape of
// bench/wrk/tally.lua's batch load), each batch one database transaction. Its
// allocations per operation are the server's own work per batch, which moves
// less with the machine than its time does.
func BenchmarkRecordMany(b *testing.B) {
	biz, ids := fundedAccounts(b, "USD")
	s := pgtest.Store(b)
	ctx := context.Background()
	const size = 1000
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		es := make([]ledger.Entry, size)
		for i := range es {
			es[i] = transfer(biz.ID, ids[0], ids[1+i%500], "USD", "0.01")
		}
		err := s.InTx(ctx, func(ctx context.Context, tx *postgres.Tx) error {
			_, errs, err := tx.RecordMany(ctx, es)
			for i, e := range errs {
				if e != nil {
					return fmt.Errorf("entry %d: %w", i, e)
				}
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "transfers/s")
}
