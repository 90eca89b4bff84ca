package api

import (
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/ledger"
)

// Bounds of the in-process rate limiter.
const (
	rateLimitShardCount       = 16
	rateLimitBucketsPerShard  = 1 << 14 // 262,144 credentials in all before forced eviction
	rateLimitSweepInterval    = time.Minute
	rateLimitRetryAfterMaxSec = 3600
)

// rateLimiter is a token bucket per credential (API key id or token customer id):
// each holds at most burst tokens and refills at rate tokens per second; a request
// takes one. It lives in this process only, so N replicas allow N times the limit
// (docs/credentials.md). Memory is bounded: a bucket that has refilled to full is
// the same as no bucket, so sweeps drop those without changing any answer, and a
// shard that is still full drops arbitrary buckets (granting them a fresh burst)
// rather than growing.
type rateLimiter struct {
	rate   float64 // tokens per second
	burst  float64
	now    func() time.Time
	seed   maphash.Seed
	shards [rateLimitShardCount]rateShard
}

type rateShard struct {
	mu        sync.Mutex
	buckets   map[string]*rateBucket
	lastSweep time.Time
}

type rateBucket struct {
	tokens float64
	last   time.Time
}

// rateDecision is the outcome of one take, with what the headers report.
type rateDecision struct {
	allowed    bool
	limit      int
	remaining  int
	reset      time.Duration // until the bucket is full again
	retryAfter time.Duration // until one token is available; zero when allowed
}

func newRateLimiter(rate float64, burst int, now func() time.Time) *rateLimiter {
	if rate <= 0 || burst < 1 {
		panic("rate limiter needs a positive rate and burst")
	}
	l := &rateLimiter{rate: rate, burst: float64(burst), now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*rateBucket{}
	}
	return l
}

// take spends one token of key's bucket if it has one.
func (l *rateLimiter) take(key string) rateDecision {
	sh := &l.shards[maphash.String(l.seed, key)%rateLimitShardCount]
	now := l.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[key]
	if b == nil {
		l.makeRoom(sh, now)
		b = &rateBucket{tokens: l.burst, last: now}
		sh.buckets[key] = b
	} else if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		b.last = now
	}
	d := rateDecision{limit: int(l.burst)}
	if b.tokens >= 1 {
		b.tokens--
		d.allowed = true
	} else {
		d.retryAfter = l.duration(1 - b.tokens)
	}
	d.remaining = int(math.Floor(b.tokens))
	d.reset = l.duration(l.burst - b.tokens)
	return d
}

// duration is how long refilling n tokens takes.
func (l *rateLimiter) duration(n float64) time.Duration {
	return time.Duration(n / l.rate * float64(time.Second))
}

// makeRoom sweeps refilled buckets once a minute, and whenever the shard is full.
func (l *rateLimiter) makeRoom(sh *rateShard, now time.Time) {
	if len(sh.buckets) < rateLimitBucketsPerShard && now.Sub(sh.lastSweep) < rateLimitSweepInterval {
		return
	}
	sh.lastSweep = now
	full := l.duration(l.burst)
	for k, b := range sh.buckets {
		if now.Sub(b.last) >= full {
			delete(sh.buckets, k)
		}
	}
	for k := range sh.buckets {
		if len(sh.buckets) < rateLimitBucketsPerShard {
			break
		}
		delete(sh.buckets, k)
	}
}

// ceilSeconds renders a duration as whole seconds, rounded up.
func ceilSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return min(max(s, 0), rateLimitRetryAfterMaxSec)
}

// limiter returns the server's limiter, built from its config on first use.
func (s *Server) limiter() *rateLimiter {
	s.creds.limiterOnce.Do(func() {
		s.creds.limiter = newRateLimiter(s.cfg.RateLimitRPS, s.cfg.RateLimitBurst, time.Now)
	})
	return s.creds.limiter
}

// rateLimit spends one request of the credential's bucket and sets the
// X-RateLimit-* headers (limit = burst; remaining = whole requests left now;
// reset = seconds until the bucket is full again). Over the limit → 429
// rate_limited with Retry-After in whole seconds, rounded up.
func (s *Server) rateLimit(c *fiber.Ctx, p *principal) error {
	d := s.limiter().take(p.rateKey())
	c.Set("X-RateLimit-Limit", strconv.Itoa(d.limit))
	c.Set("X-RateLimit-Remaining", strconv.Itoa(d.remaining))
	c.Set("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(d.reset)))
	if d.allowed {
		return nil
	}
	retry := max(ceilSeconds(d.retryAfter), 1)
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retry))
	return ledger.Errorf(ledger.CodeRateLimited, "rate limit exceeded: %d requests burst, %s per second; retry in %d s",
		d.limit, strconv.FormatFloat(s.limiter().rate, 'f', -1, 64), retry)
}
