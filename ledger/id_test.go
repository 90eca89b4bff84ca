package ledger

import (
	"strings"
	"sync"
	"testing"
)

// TestIDsSortByCreation: ids of one process, from NewID and from EntryIDOnShard
// (which reserves blocks of 32) in any mix and from many goroutines, are unique,
// well formed, and each goroutine's come out in ascending order.
func TestIDsSortByCreation(t *testing.T) {
	const workers, each = 8, 2000
	out := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var id string
				if (i+w)%3 == 0 {
					id = EntryIDOnShard(int16(i))
				} else {
					id = NewID(PrefixEntry)
				}
				out[w] = append(out[w], id)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for w, ids := range out {
		for i, id := range ids {
			if !ValidID(id, PrefixEntry) || seen[id] {
				t.Fatalf("worker %d id %d: %q malformed or repeated", w, i, id)
			}
			seen[id] = true
			if i > 0 && strings.Compare(ids[i-1], id) >= 0 {
				t.Fatalf("worker %d: %s came after %s", w, id, ids[i-1])
			}
		}
	}
}

// TestIDBlockStartsAligned: a reserved block starts where the last 5 bits are
// zero, after every id made before it, so its 32 ids share all but the last
// character; the next id is past the block.
func TestIDBlockStartsAligned(t *testing.T) {
	for range 100 {
		prev := NewID(PrefixEntry) // leaves the counter at any value
		head := newIDBlock(PrefixEntry)
		if first := head + string(crockford[0]); strings.Compare(prev, first) >= 0 {
			t.Fatalf("block %s… starts at or before the id %s made before it", head, prev)
		}
		next := NewID(PrefixEntry)
		if len(head) != len(PrefixEntry)+25 {
			t.Fatalf("block head %q: want prefix and 25 characters", head)
		}
		if last := head + string(crockford[31]); strings.Compare(next, last) <= 0 {
			t.Fatalf("NewID %s after block %s… is inside it", next, head)
		}
	}
}
