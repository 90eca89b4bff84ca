package postgres

import (
	"sync"
	"time"
)

// CredentialTTL is how long a secret key, once found valid in the database, is
// trusted without asking it again. A key revoked through this process (API,
// dashboard) stops working at once: RevokeAPIKey empties the cache. A key revoked
// by another process (the operator CLI, another replica) stops working within
// CredentialTTL.
const CredentialTTL = time.Second

// ProfileTTL is the same bound for the customer X-BU-PROFILE-ID names
// (Store.ProfileCustomer): a change made through this process is seen at once
// (the transaction that updates a customer forgets it on commit), one made by
// another replica within ProfileTTL. While Store.WatchProfiles listens, a change
// made anywhere is forgotten as soon as it commits and ProfileTTLWatched bounds
// the rest (profilewatch.go).
const (
	ProfileTTL        = time.Second
	ProfileTTLWatched = 30 * time.Second
)

// lookupCacheMax bounds each cache; when full it starts over. Only what exists
// is cached, so unknown secrets or ids cannot grow it.
const lookupCacheMax = 10_000

// lookupCache remembers recent successful lookups for a TTL, so a request skips
// a round trip when its key or profile was seen lately (issue 8's key-lookup
// cache). Invalidation bumps a generation, so a lookup that raced it cannot
// bring back what it forgot.
type lookupCache[K comparable, V any] struct {
	mu  sync.Mutex
	ttl time.Duration
	gen uint64 // bumped by every invalidation
	m   map[K]cached[V]
}

type cached[V any] struct {
	v       V
	expires time.Time
}

func newLookupCache[K comparable, V any](ttl time.Duration) *lookupCache[K, V] {
	return &lookupCache[K, V]{ttl: ttl, m: map[K]cached[V]{}}
}

// get returns a cached value and, for a later put, the generation the caller's
// database lookup must be checked against.
func (c *lookupCache[K, V]) get(k K, now time.Time) (V, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if ok && now.Before(e.expires) {
		return e.v, true, c.gen
	}
	var zero V
	return zero, false, c.gen
}

// put caches v unless an invalidation happened since get returned gen.
func (c *lookupCache[K, V]) put(k K, v V, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= lookupCacheMax {
		clear(c.m)
	}
	c.m[k] = cached[V]{v: v, expires: now.Add(c.ttl)}
}

// setTTL empties the cache and caches for ttl from now on.
func (c *lookupCache[K, V]) setTTL(ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
	c.ttl = ttl
}

// forget drops keys (none: everything).
func (c *lookupCache[K, V]) forget(keys ...K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(keys) == 0 {
		clear(c.m)
	}
	for _, k := range keys {
		delete(c.m, k)
	}
}
