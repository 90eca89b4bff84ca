package api

import (
	"context"
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tallyhq/tally/internal/postgres"
)

// Read combining for GET /v1/balances (issue 8), the read side of the group
// commit in combine.go. A balance read is one primary-key range scan, so what it
// costs is the statement around it: a round trip, two socket writes that wake the
// other process, PostgreSQL's per-statement work. A request's read becomes a job
// in its business's lane; the lane's reader takes what is waiting (up to
// readBatchMax) and reads each business's profiles in one statement
// (Store.ProfileBalancesMany). Under
// light load a batch is one read, so nothing waits for company; under load the
// statement is shared.
//
// A read joins a batch only after its request arrived, and the statement starts
// after that, so it sees every write committed before the request was sent, as a
// read of its own would.

// readBatchMax bounds the profiles of one statement.
const readBatchMax = 128

// readLanes is how many queues the reads are spread over, by business. Each lane
// has one reader, so a business has at most one balance statement in flight and
// its reads gather behind it: at 32 clients on 2 cores, one reader per business
// served 33,000–36,000 reads/s in batches of ~7, two 23,000, four 17,500, eight
// 16,500–19,000 (one statement per read: ~17,000). Other businesses' reads go on
// in the other lanes.
func readLanes() int { return 4 * max(2, runtime.GOMAXPROCS(0)) }

type balanceRead struct {
	business, owner string
	done            chan balanceReadResult // buffered: the reader never blocks on it
}

type balanceReadResult struct {
	balances []postgres.CurrencyBalance
	err      error
}

type readCombiner struct {
	s     *Server
	lanes []chan *balanceRead
	seed  maphash.Seed
	once  sync.Once
	// Counted for /metrics: reads ÷ batches is the mean batch size.
	batches, reads atomic.Uint64
}

func newReadCombiner(s *Server) *readCombiner {
	rc := &readCombiner{s: s, lanes: make([]chan *balanceRead, readLanes()), seed: maphash.MakeSeed()}
	for i := range rc.lanes {
		rc.lanes[i] = make(chan *balanceRead, readBatchMax)
	}
	return rc
}

// balances returns owner's main-account balances, read in a statement shared
// with the reads that arrived alongside it. The statement has the request
// timeout, so the wait ends.
func (rc *readCombiner) balances(business, owner string) ([]postgres.CurrencyBalance, error) {
	rc.once.Do(func() {
		for _, lane := range rc.lanes {
			go rc.work(lane)
		}
	})
	r := &balanceRead{business: business, owner: owner, done: make(chan balanceReadResult, 1)}
	rc.lanes[maphash.String(rc.seed, business)%uint64(len(rc.lanes))] <- r
	res := <-r.done
	return res.balances, res.err
}

func (rc *readCombiner) work(lane chan *balanceRead) {
	batch := make([]*balanceRead, 0, readBatchMax)
	for r := range lane {
		batch = append(batch[:0], r)
	gather:
		for len(batch) < readBatchMax {
			select {
			case r := <-lane:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		// A lane may carry several businesses: one statement each.
		slices.SortStableFunc(batch, func(a, b *balanceRead) int {
			switch {
			case a.business < b.business:
				return -1
			case a.business > b.business:
				return 1
			}
			return 0
		})
		for start := 0; start < len(batch); {
			end := start + 1
			for end < len(batch) && batch[end].business == batch[start].business {
				end++
			}
			rc.run(batch[start:end])
			start = end
		}
	}
}

// run reads one business's batch and answers every read.
func (rc *readCombiner) run(reads []*balanceRead) {
	defer answerOnPanic(rc.s.log, "read batch", reads, func(r *balanceRead, err error) {
		select {
		case r.done <- balanceReadResult{err: err}:
		default:
		}
	})
	rc.batches.Add(1)
	rc.reads.Add(uint64(len(reads)))
	owners := make([]string, 0, len(reads))
	for _, r := range reads {
		owners = append(owners, r.owner)
	}
	slices.Sort(owners)
	owners = slices.Compact(owners)
	ctx, cancel := context.WithTimeout(context.Background(), rc.s.cfg.RequestTimeout)
	defer cancel()
	got, err := rc.s.store.ProfileBalancesMany(ctx, reads[0].business, owners)
	for _, r := range reads {
		r.done <- balanceReadResult{balances: got[r.owner], err: err}
	}
}
