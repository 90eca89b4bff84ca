package api

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/ledger"
)

type apiKeyJSON struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Mode       string  `json:"mode"`
	Hint       string  `json:"hint"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
	RevokedAt  *string `json:"revoked_at"`
	SecretKey  *string `json:"secret_key"`
}

// createKey creates an API key through the API and returns it with its secret.
func (c *client) createKey(mode, name string) apiKeyJSON {
	c.tb.Helper()
	var k apiKeyJSON
	c.do("POST", "/v1/api-keys", map[string]any{"mode": mode, "name": name}).must(c.tb, 201).Data(c.tb, &k)
	if k.SecretKey == nil || !strings.HasPrefix(*k.SecretKey, "sk_test_") || !strings.HasSuffix(*k.SecretKey, k.Hint) {
		c.tb.Fatalf("created key %+v", k)
	}
	return k
}

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	full := c.createKey("full", "backend")
	ro := c.createKey("read_only", "reporting")
	if full.Mode != "full" || ro.Mode != "read_only" || full.Name != "backend" {
		t.Fatalf("keys %+v %+v", full, ro)
	}
	fc, rc := c.asToken(*full.SecretKey), c.asToken(*ro.SecretKey)
	fc.do("GET", "/v1/business", nil).must(t, 200)
	fc.createCustomer("by-new-key@example.com")

	// Read-only keys read, including the key list, and change nothing.
	rc.do("GET", "/v1/api-keys", nil).must(t, 200)
	for _, req := range []struct{ method, path string }{{"POST", "/v1/api-keys"}, {"DELETE", "/v1/api-keys/" + full.ID}} {
		var body any
		if req.method == "POST" {
			body = map[string]any{"mode": "full"}
		}
		if r := rc.do(req.method, req.path, body).must(t, 403); r.Code() != "forbidden" {
			t.Fatalf("%s %s by read-only key: %s", req.method, req.path, r.Raw)
		}
	}

	// The list shows every key, newest first, never a secret; last_used_at moves.
	r := c.do("GET", "/v1/api-keys", nil).must(t, 200)
	if strings.Contains(string(r.Raw), "secret") || strings.Contains(string(r.Raw), *full.SecretKey) {
		t.Fatalf("list leaks a secret: %s", r.Raw)
	}
	var list []apiKeyJSON
	r.Data(t, &list)
	if len(list) != 3 || list[0].ID != ro.ID || list[1].ID != full.ID || r.Body.Pagination == nil {
		t.Fatalf("list = %s", r.Raw)
	}
	if list[1].LastUsedAt == nil || list[1].RevokedAt != nil {
		t.Fatalf("used key = %+v, want last_used_at set", list[1])
	}

	// Revocation takes effect on the very next request, and a retried DELETE is fine.
	c.do("DELETE", "/v1/api-keys/"+full.ID, nil).must(t, 204)
	if r := fc.do("GET", "/v1/business", nil).must(t, 401); r.Code() != "unauthenticated" {
		t.Fatalf("revoked key: %s", r.Raw)
	}
	c.do("DELETE", "/v1/api-keys/"+full.ID, nil).must(t, 204)
	var after []apiKeyJSON
	c.do("GET", "/v1/api-keys", nil).must(t, 200).Data(t, &after)
	if after[1].ID != full.ID || after[1].RevokedAt == nil {
		t.Fatalf("revoked key listed as %+v", after[1])
	}

	// A key may revoke itself; its own next request is refused.
	self := c.createKey("full", "short-lived")
	sc := c.asToken(*self.SecretKey)
	sc.do("DELETE", "/v1/api-keys/"+self.ID, nil).must(t, 204)
	sc.do("GET", "/v1/business", nil).must(t, 401)
	c.do("GET", "/v1/business", nil).must(t, 200)
}

func TestAPIKeyTenancyAndValidation(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	a := newClient(t, srv, ledger.ModeSandbox)
	b := newClient(t, srv, ledger.ModeSandbox)
	foreign := b.createKey("full", "theirs")

	// Another business's key answers exactly like one that never existed, and stays valid.
	r1 := a.do("DELETE", "/v1/api-keys/"+foreign.ID, nil).must(t, 404)
	r2 := a.do("DELETE", "/v1/api-keys/"+ledger.NewID(ledger.PrefixKey), nil).must(t, 404)
	if r1.Code() != "not_found" || r1.Code() != r2.Code() || r1.Body.Error.Name != r2.Body.Error.Name {
		t.Fatalf("foreign %s vs unknown %s", r1.Raw, r2.Raw)
	}
	a.do("DELETE", "/v1/api-keys/nonsense", nil).must(t, 404)
	b.asToken(*foreign.SecretKey).do("GET", "/v1/business", nil).must(t, 200)
	var list []apiKeyJSON
	a.do("GET", "/v1/api-keys", nil).must(t, 200).Data(t, &list)
	for _, k := range list {
		if k.ID == foreign.ID {
			t.Fatalf("business a lists b's key")
		}
	}

	tests := []struct {
		name      string
		body      any
		wantCode  string
		wantParam string
	}{
		{"no mode", map[string]any{"name": "x"}, "validation_failed", "mode"},
		{"bad mode", map[string]any{"mode": "admin"}, "validation_failed", "mode"},
		{"long name", map[string]any{"mode": "full", "name": strings.Repeat("n", apiKeyNameLenMax+1)}, "validation_failed", "name"},
		{"control character", map[string]any{"mode": "full", "name": "a\x00b"}, "validation_failed", "name"},
		{"unknown field", map[string]any{"mode": "full", "scopes": []string{}}, "unknown_field", "scopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.on(t).do("POST", "/v1/api-keys", tt.body).must(t, 400)
			if r.Code() != tt.wantCode || r.Body.Error.Param != tt.wantParam {
				t.Fatalf("error = %s, want %s on %s", r.Raw, tt.wantCode, tt.wantParam)
			}
		})
	}
}

func TestAPIKeyPaginationAndReplay(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	for i := range 4 {
		c.createKey("read_only", fmt.Sprintf("key %d", i))
	}
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := c.do("GET", "/v1/api-keys?limit=2&cursor="+cursor, nil).must(t, 200)
		var page []apiKeyJSON
		r.Data(t, &page)
		for _, k := range page {
			ids = append(ids, k.ID)
		}
		if !r.Body.Pagination.HasMore {
			break
		}
		cursor = *r.Body.Pagination.NextCursor
	}
	if len(ids) != 5 { // the business's first key and four more
		t.Fatalf("paged ids = %v, want 5", ids)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] >= ids[i-1] {
			t.Fatalf("ids not newest first: %v", ids)
		}
	}
	if r := c.do("GET", "/v1/api-keys?limit=101", nil).must(t, 400); r.Code() != "validation_failed" {
		t.Fatalf("limit 101: %s", r.Raw)
	}

	// A replay returns the same key without its secret, and creates nothing.
	body := map[string]any{"mode": "full", "name": "ci"}
	a := c.do("POST", "/v1/api-keys", body, "Idempotency-Key", "key-1").must(t, 201)
	b := c.do("POST", "/v1/api-keys", body, "Idempotency-Key", "key-1").must(t, 201)
	var first, replay apiKeyJSON
	a.Data(t, &first)
	b.Data(t, &replay)
	if b.Header.Get("Idempotent-Replayed") != "true" || replay.ID != first.ID || first.SecretKey == nil || replay.SecretKey != nil {
		t.Fatalf("first %s, replay %s", a.Raw, b.Raw)
	}
	var all []apiKeyJSON
	c.do("GET", "/v1/api-keys?limit=100", nil).must(t, 200).Data(t, &all)
	if len(all) != 6 {
		t.Fatalf("%d keys after a replayed create, want 6", len(all))
	}
}

// TestRateLimitBurstAndRefill runs a server with a burst of 3 and 1 request per
// second: the fourth quick request is refused with Retry-After 1, a second
// credential has its own bucket, and after the wait the bucket has refilled.
func TestRateLimitBurstAndRefill(t *testing.T) {
	t.Parallel()
	srv := testServerWith(t, func(cfg *config.Config) { cfg.RateLimitRPS, cfg.RateLimitBurst = 1, 3 })
	c := newClient(t, srv, ledger.ModeSandbox)
	for i := range 3 {
		r := c.do("GET", "/v1/business", nil).must(t, 200)
		if r.Header.Get("X-RateLimit-Limit") != "3" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) || r.Header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("request %d headers: %v", i, r.Header)
		}
	}
	r := c.do("GET", "/v1/business", nil).must(t, 429)
	if r.Code() != "rate_limited" || r.Body.Error.Name != "rate_limited" || r.Header.Get("Retry-After") != "1" || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429: headers %v body %s", r.Header, r.Raw)
	}
	// Another credential has its own bucket.
	second := newClient(t, srv, ledger.ModeSandbox)
	second.do("GET", "/v1/business", nil).must(t, 200)

	time.Sleep(2100 * time.Millisecond) // two tokens back at 1 per second
	c.do("GET", "/v1/business", nil).must(t, 200)
	c.do("GET", "/v1/business", nil).must(t, 200)
	c.do("GET", "/v1/business", nil).must(t, 429)

	// Unauthenticated requests carry no limit headers (there is no credential to count).
	anon := (&client{tb: t, srv: srv}).do("GET", "/v1/business", nil).must(t, 401)
	if anon.Header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("401 carries rate limit headers")
	}
}

// TestRateLimitTokensShareTheCustomerBucket: minting more tokens buys no more requests.
func TestRateLimitTokensShareTheCustomerBucket(t *testing.T) {
	t.Parallel()
	srv := testServerWith(t, func(cfg *config.Config) { cfg.RateLimitRPS, cfg.RateLimitBurst = 0.01, 3 })
	c := newClient(t, srv, ledger.ModeSandbox)
	cust := c.createCustomer("limited@example.com")
	t1 := c.mintToken(cust, scopeBalancesRead)
	t2 := c.mintToken(cust, scopeBalancesRead)
	c.asToken(t1).do("GET", "/v1/profile", nil).must(t, 200)
	c.asToken(t2).do("GET", "/v1/profile", nil).must(t, 200)
	c.asToken(t1).do("GET", "/v1/profile", nil).must(t, 200)
	r := c.asToken(t2).do("GET", "/v1/profile", nil).must(t, 429)
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 99 || ra > 100 {
		t.Fatalf("Retry-After = %q, want 100", r.Header.Get("Retry-After"))
	}
}

// TestRateLimitBucket checks the arithmetic on a fake clock.
func TestRateLimitBucket(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := newRateLimiter(0.25, 2, func() time.Time { return now })
	tests := []struct {
		advance       time.Duration
		wantAllowed   bool
		wantRemaining int
		wantRetry     int // Retry-After seconds when refused
		wantReset     int
	}{
		{0, true, 1, 0, 4},
		{0, true, 0, 0, 8},
		{0, false, 0, 4, 8},
		{time.Second, false, 0, 3, 7},
		{2500 * time.Millisecond, false, 0, 1, 5}, // 0.875 tokens: 0.5 s to go, rounded up
		{500 * time.Millisecond, true, 0, 0, 8},   // one token, spent
		{time.Hour, true, 1, 0, 4},                // refilled to the burst, no more
	}
	for i, tt := range tests {
		now = now.Add(tt.advance)
		d := l.take("key:a")
		if d.allowed != tt.wantAllowed || d.remaining != tt.wantRemaining || ceilSeconds(d.reset) != tt.wantReset ||
			(!d.allowed && ceilSeconds(d.retryAfter) != tt.wantRetry) {
			t.Fatalf("step %d: %+v (retry %d s, reset %d s), want allowed %v remaining %d retry %d reset %d", i, d,
				ceilSeconds(d.retryAfter), ceilSeconds(d.reset), tt.wantAllowed, tt.wantRemaining, tt.wantRetry, tt.wantReset)
		}
	}
	if d := l.take("key:b"); !d.allowed || d.remaining != 1 {
		t.Fatalf("a second key shares the first one's bucket: %+v", d)
	}
}

// TestRateLimitEviction: idle buckets are dropped by the sweep, and a shard never
// grows past its bound.
func TestRateLimitEviction(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := newRateLimiter(1, 5, func() time.Time { return now })
	count := func() int {
		n := 0
		for i := range l.shards {
			n += len(l.shards[i].buckets)
		}
		return n
	}
	for i := range 1000 {
		l.take(fmt.Sprintf("key:%d", i))
	}
	if count() != 1000 {
		t.Fatalf("buckets = %d, want 1000", count())
	}
	now = now.Add(rateLimitSweepInterval + time.Second) // every bucket refilled and idle
	for i := range rateLimitShardCount * 8 {
		l.take(fmt.Sprintf("fresh:%d", i))
	}
	if n := count(); n > rateLimitShardCount*8 {
		t.Fatalf("buckets = %d after the sweep, want at most %d", n, rateLimitShardCount*8)
	}
	sh := &l.shards[0]
	sh.mu.Lock()
	for i := range rateLimitBucketsPerShard + 10 {
		sh.buckets[fmt.Sprintf("busy:%d", i)] = &rateBucket{tokens: 0, last: now}
	}
	l.makeRoom(sh, now)
	if len(sh.buckets) >= rateLimitBucketsPerShard {
		sh.mu.Unlock()
		t.Fatalf("shard holds %d buckets, bound %d", len(sh.buckets), rateLimitBucketsPerShard)
	}
	sh.mu.Unlock()
}
