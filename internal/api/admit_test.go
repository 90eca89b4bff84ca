package api

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tallyhq/tally/ledger"
)

// TestGateBoundsHolders: however many goroutines enter, at most the gate's
// capacity hold it at once, and every one of them gets through.
func TestGateBoundsHolders(t *testing.T) {
	const capacity, goroutines = 3, 64
	g := newGate(capacity)
	var inside, most, done atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			if err := g.enter(context.Background()); err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			g.leave()
			done.Add(1)
		})
	}
	wg.Wait()
	if most.Load() > capacity {
		t.Fatalf("%d holders at once, capacity %d", most.Load(), capacity)
	}
	if most.Load() < 2 {
		t.Fatalf("at most %d holder at once: the gate admitted no concurrency", most.Load())
	}
	if done.Load() != goroutines {
		t.Fatalf("%d of %d got through", done.Load(), goroutines)
	}
}

// TestGateFirstInFirstOut: waiters are admitted in the order they arrived, which
// is what keeps the tail latency close to the median.
func TestGateFirstInFirstOut(t *testing.T) {
	g := newGate(1)
	if err := g.enter(context.Background()); err != nil {
		t.Fatal(err)
	}
	const waiters = 20
	order := make(chan int, waiters)
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Go(func() {
			if err := g.enter(context.Background()); err != nil {
				t.Error(err)
				return
			}
			order <- i
			g.leave()
		})
		waitBlocked(t, i+1) // the next waiter queues only after this one does
	}
	g.leave()
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("waiter %d admitted in place %d", got, want)
		}
		want++
	}
	if want != waiters {
		t.Fatalf("%d of %d waiters admitted", want, waiters)
	}
}

// TestGateGivesUpWithTheRequest: a waiter whose request times out leaves the
// queue with the context's error and takes no place with it.
func TestGateGivesUpWithTheRequest(t *testing.T) {
	g := newGate(1)
	if err := g.enter(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.enter(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("enter on a full gate past the deadline = %v, want DeadlineExceeded", err)
	}
	g.leave()
	if err := g.enter(context.Background()); err != nil { // the place is free again
		t.Fatal(err)
	}
	g.leave()
	if len(g) != 0 {
		t.Fatalf("%d places held after every holder left", len(g))
	}
}

// waitBlocked waits until n goroutines are parked waiting in gate.enter, read from
// the goroutine dump (a channel does not say who waits on it).
func waitBlocked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		dump := string(buf[:runtime.Stack(buf, true)])
		parked := 0
		for _, g := range strings.Split(dump, "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, "api.gate.enter") {
				parked++
			}
		}
		if parked >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines waiting in gate.enter, want %d", parked, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSearchGateFullAnswers503: a customer list that waits out its request time
// behind the search gate is answered 503 service_unavailable with Retry-After,
// and the same list goes through once the gate has room.
func TestSearchGateFullAnswers503(t *testing.T) {
	t.Parallel()
	srv := serverWithLog(t, &syncBuffer{}, map[string]string{"TALLY_REQUEST_TIMEOUT": "300ms"})
	c := newClient(t, srv, ledger.ModeSandbox)
	c.createCustomer("gate@example.com")
	for range cap(srv.searches) { // every place taken, as by long searches
		if err := srv.searches.enter(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	r := c.do("GET", "/v1/customers?q=gate", nil).must(t, 503)
	if r.Code() != "service_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("list behind a full gate: code %s, Retry-After %q; %s", r.Code(), r.Header.Get("Retry-After"), r.Raw)
	}
	for range cap(srv.searches) {
		srv.searches.leave()
	}
	var got []struct {
		Email string `json:"email"`
	}
	c.do("GET", "/v1/customers?q=gate", nil).must(t, 200).Data(t, &got)
	if len(got) != 1 || got[0].Email != "gate@example.com" {
		t.Fatalf("list after the gate emptied = %+v", got)
	}
}
