package api

import (
	"context"
	"runtime"
)

// A gate admits at most its capacity of holders at a time and queues the rest in
// arrival order: goroutines blocked sending on a Go channel are woken first in,
// first out. It stands in front of the read that costs PostgreSQL most per
// request, the customer search (GET /v1/customers), for its tail latency (issue
// 8's target (4), p99 < 20 ms at 32 clients).
//
// Without it, 32 concurrent searches were 32 PostgreSQL backends sharing 2
// cores: each search's latency was its own work stretched by everyone else's,
// and a backend the scheduler preempted waited out the others' time slices. The
// connection pool does not queue fairly either: database/sql hands a freed
// connection to a random waiter. Behind the gate a few searches run at full
// speed and the rest wait their turn, so a search's latency is its place in the
// queue, nearly the same for every request.
//
// One gate serves every business, as the database's cores did before it: it
// orders the work, it does not add to it. What one business can put in the queue
// is bounded by its rate limit, and a request leaves the queue when its request
// time runs out (503 with Retry-After). CSV exports and the dashboard's search do
// not pass it: an export holds its connection for many batches.
type gate chan struct{}

// searchConcurrency is how many searches run at once: enough to keep every core
// busy while others are on the wire between Tally and PostgreSQL.
func searchConcurrency() int { return 2 * runtime.GOMAXPROCS(0) }

func newGate(n int) gate { return make(gate, max(1, n)) }

// enter waits for a place or for ctx to end; a nil error must be paired with leave.
func (g gate) enter(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g gate) leave() { <-g }
