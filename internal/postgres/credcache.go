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

// credentialCacheMax bounds the cache; when full it starts over. Only valid keys
// are cached, so unknown secrets cannot grow it.
const credentialCacheMax = 10_000

// credentialCache remembers valid keys by the SHA-256 of their secret, so a
// request skips the key lookup (one round trip) when its key was seen within
// CredentialTTL (issue 8's key-lookup cache).
type credentialCache struct {
	mu  sync.Mutex
	gen uint64 // bumped by every invalidation
	m   map[[32]byte]cachedCredential
}

type cachedCredential struct {
	cred    Credential
	expires time.Time
}

func newCredentialCache() *credentialCache {
	return &credentialCache{m: map[[32]byte]cachedCredential{}}
}

// get returns a cached credential and, for a later put, the generation the
// caller's database lookup must be checked against.
func (c *credentialCache) get(hash [32]byte, now time.Time) (Credential, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if ok && now.Before(e.expires) {
		return e.cred, true, c.gen
	}
	return Credential{}, false, c.gen
}

// put caches cred unless an invalidation happened since get returned gen: a
// lookup that raced a revocation must not bring the revoked key back.
func (c *credentialCache) put(hash [32]byte, cred Credential, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= credentialCacheMax {
		clear(c.m)
	}
	c.m[hash] = cachedCredential{cred: cred, expires: now.Add(CredentialTTL)}
}

// invalidate forgets every cached key (revocations are rare).
func (c *credentialCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}
