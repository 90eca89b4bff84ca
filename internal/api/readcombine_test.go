package api

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// Concurrent GET /v1/balances of two businesses' customers: whatever batches the
// read combiner makes, each request gets its own profile's balances and never
// another's or another business's.
func TestBalanceReadsUnderConcurrencyKeepToTheirProfile(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	type who struct {
		c       *client
		profile string // "" = the business's own account
		want    string
	}
	var all []who
	for b := range 2 {
		c := newClient(t, srv, ledger.ModeLive)
		for i := range 6 {
			cust := c.createCustomer(fmt.Sprintf("reader%d-%d@example.com", b, i))
			amount := fmt.Sprintf("%d%d.%02d", b+1, i, i+1)
			pgtest.Fund(t, c.business.ID, cust, "USD", amount)
			all = append(all, who{c, cust, amount})
		}
		own := fmt.Sprintf("9%d.00", b)
		pgtest.Fund(t, c.business.ID, c.business.ID, "USD", own)
		all = append(all, who{c, "", own})
	}
	before := srv.reads.reads.Load()
	const goroutines, each = 16, 30
	var wg sync.WaitGroup
	errs := make(chan string, goroutines*each)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				w := all[rand.IntN(len(all))]
				var bs []balanceView
				r := w.c.do("GET", "/v1/balances", nil, HeaderProfileID, w.profile)
				if r.Status != 200 {
					errs <- fmt.Sprintf("%s: status %d %s", w.profile, r.Status, r.Raw)
					continue
				}
				r.Data(t, &bs)
				if len(bs) != 1 || bs[0].Currency != "USD" || bs[0].Available != w.want {
					errs <- fmt.Sprintf("%s of %s: balances %+v, want USD %s", w.profile, w.c.business.ID, bs, w.want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := srv.reads.reads.Load() - before; got != goroutines*each {
		t.Fatalf("the read combiner carried %d reads, want %d", got, goroutines*each)
	}
}

// Reads queued together are read in one statement per business, and each gets
// its own profile's balances.
func TestReadCombinerBatchesByBusiness(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	a, b := newClient(t, srv, ledger.ModeLive), newClient(t, srv, ledger.ModeLive)
	ca, cb := a.createCustomer("a@example.com"), b.createCustomer("b@example.com")
	pgtest.Fund(t, a.business.ID, ca, "USD", "1.25")
	pgtest.Fund(t, b.business.ID, cb, "USD", "2.50")
	pgtest.Fund(t, b.business.ID, cb, "EUR", "3.75")

	rc := newReadCombiner(srv)
	lane := rc.lanes[0]
	type q struct {
		business, owner string
		want            map[string]string // currency → available
	}
	qs := []q{
		{a.business.ID, ca, map[string]string{"USD": "1.25"}},
		{b.business.ID, cb, map[string]string{"USD": "2.5", "EUR": "3.75"}},
		{a.business.ID, ca, map[string]string{"USD": "1.25"}},
		{a.business.ID, cb, map[string]string{}}, // b's customer read as a: nothing
		{b.business.ID, ca, map[string]string{}}, // and the other way round
		{b.business.ID, "cus_missing", map[string]string{}},
	}
	reads := make([]*balanceRead, len(qs))
	for i, x := range qs {
		reads[i] = &balanceRead{business: x.business, owner: x.owner, done: make(chan balanceReadResult, 1)}
		lane <- reads[i] // queued before the reader starts: one batch
	}
	go rc.work(lane)
	for i, r := range reads {
		res := <-r.done
		if res.err != nil {
			t.Fatalf("read %d: %v", i, res.err)
		}
		got := map[string]string{}
		for _, bal := range res.balances {
			got[bal.Currency] = bal.Available().String()
		}
		if fmt.Sprint(got) != fmt.Sprint(qs[i].want) {
			t.Errorf("read %d (%s as %s): %v, want %v", i, qs[i].owner, qs[i].business, got, qs[i].want)
		}
	}
	if n, m := rc.batches.Load(), rc.reads.Load(); n != 2 || m != uint64(len(qs)) {
		t.Fatalf("batches %d carrying %d reads, want 2 (one per business) carrying %d", n, m, len(qs))
	}
}

// A batch runner that panics answers every job with the panic as the error (one
// job already answered keeps its answer) and logs it, instead of leaving the
// requests waiting.
func TestAnswerOnPanicAnswersEveryJob(t *testing.T) {
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	jobs := []*balanceRead{{done: make(chan balanceReadResult, 1)}, {done: make(chan balanceReadResult, 1)}, {done: make(chan balanceReadResult, 1)}}
	jobs[1].done <- balanceReadResult{balances: []postgres.CurrencyBalance{{Currency: "USD"}}}
	func() {
		defer answerOnPanic(log, "read batch", jobs, func(r *balanceRead, err error) {
			select {
			case r.done <- balanceReadResult{err: err}:
			default:
			}
		})
		panic("boom")
	}()
	for i, j := range jobs {
		res := <-j.done
		if i == 1 {
			if res.err != nil || len(res.balances) != 1 {
				t.Errorf("job 1 lost its answer: %+v", res)
			}
			continue
		}
		if res.err == nil || !strings.Contains(res.err.Error(), "read batch: boom") {
			t.Errorf("job %d: err %v, want the panic", i, res.err)
		}
	}
	if !strings.Contains(logged.String(), "read batch panicked") || !strings.Contains(logged.String(), "boom") {
		t.Errorf("log %q does not report the panic", logged.String())
	}
}
