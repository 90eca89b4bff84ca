package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tallyhq/tally/internal/postgres"
)

// Delivery headers besides SignatureHeader.
const (
	DeliveryIDHeader = "X-Tally-Delivery-Id" // stable across the retries of one delivery
	EventIDHeader    = "X-Tally-Event-Id"    // the event's id: dedupe on it
	AttemptHeader    = "X-Tally-Attempt"     // 1 for the first attempt of a delivery
)

// Defaults of the Worker (docs/webhooks.md describes the schedule).
const (
	RequestTimeoutDefault = 10 * time.Second
	LeaseDefault          = 60 * time.Second // > RequestTimeoutDefault + time to record the result
	PollDefault           = 500 * time.Millisecond
	ConcurrencyDefault    = 8
	GiveUpAfterDefault    = 72 * time.Hour
	backoffBase           = 30 * time.Second
	backoffCap            = 6 * time.Hour
	responseReadBytesMax  = 64 << 10
	errorPauseMax         = 10 * time.Second
)

// Backoff is the default retry schedule: the wait after the n-th failed attempt is
// min(30 s × 2^(n−1), 6 h), scaled by a random factor in [0.8, 1.2) so endpoints
// that failed together do not all retry in the same instant.
func Backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 {
		if e := backoffBase << (attempt - 1); e < backoffCap {
			d = e
		}
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Options configure a Worker. Zero values take the defaults above.
type Options struct {
	Store        *postgres.Store
	Key          []byte // TALLY_WEBHOOK_KEY: opens the sealed signing secrets
	AllowPrivate bool   // TALLY_WEBHOOK_ALLOW_PRIVATE
	Logger       *slog.Logger
	Poll         time.Duration
	Concurrency  int
	Lease        time.Duration
	Timeout      time.Duration
	GiveUpAfter  time.Duration
	// Backoff returns the wait after the given failed attempt (1-based).
	Backoff func(attempt int) time.Duration
	// Businesses, when set, restricts the worker to these businesses.
	Businesses []string
	// Now is the clock used to sign (tests).
	Now func() time.Time
}

// Worker delivers due webhook deliveries. Any number of Workers, in one process or
// many, may run against one database: each claims disjoint rows (see
// postgres.Store.ClaimWebhookDeliveries), so an attempt is made by one worker only.
type Worker struct {
	o      Options
	public *http.Client // live businesses: public addresses only, checked at dial time
	open   *http.Client // sandbox businesses, or TALLY_WEBHOOK_ALLOW_PRIVATE
}

// NewWorker returns a Worker with o's defaults filled in.
func NewWorker(o Options) *Worker {
	if o.Poll <= 0 {
		o.Poll = PollDefault
	}
	if o.Concurrency <= 0 {
		o.Concurrency = ConcurrencyDefault
	}
	if o.Lease <= 0 {
		o.Lease = LeaseDefault
	}
	if o.Timeout <= 0 {
		o.Timeout = RequestTimeoutDefault
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = GiveUpAfterDefault
	}
	if o.Backoff == nil {
		o.Backoff = Backoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Worker{o: o, public: newClient(o.Timeout, true), open: newClient(o.Timeout, false)}
}

// newClient builds an HTTP client that never follows redirects (a 3xx is a failed
// attempt: following it would let an endpoint send our signed body anywhere), never
// uses an environment proxy (the dial check must see the real destination) and,
// with publicOnly, refuses non-public addresses at dial time.
func newClient(timeout time.Duration, publicOnly bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if publicOnly {
		d.Control = publicOnlyControl
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: timeout,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       60 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run delivers until ctx ends, then waits for the attempts in flight to be sent
// and recorded (each is bounded by the request timeout).
func (w *Worker) Run(ctx context.Context) {
	slots := make(chan struct{}, w.o.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	pause := w.o.Poll
	for ctx.Err() == nil {
		free := w.o.Concurrency - len(slots)
		var claimed []postgres.ClaimedDelivery
		if free > 0 {
			var err error
			claimed, err = w.o.Store.ClaimWebhookDeliveries(ctx, free, w.o.Lease, w.o.Businesses)
			switch {
			case err != nil && ctx.Err() == nil:
				// The database is away: back off up to errorPauseMax, log once per pause.
				w.o.Logger.Warn("claim webhook deliveries", "err", err.Error(), "retry_in", pause.String())
				pause = min(pause*2, errorPauseMax)
			case err == nil:
				pause = w.o.Poll
			}
		}
		for _, d := range claimed {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				w.Deliver(context.WithoutCancel(ctx), d)
			}()
		}
		if len(claimed) > 0 && len(claimed) == free {
			continue // there may be more due right now
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// Deliver makes the claimed attempt and records its result.
func (w *Worker) Deliver(ctx context.Context, d postgres.ClaimedDelivery) {
	r := w.attempt(ctx, d)
	r.NextAttemptAt = time.Now()
	if r.Status == "" {
		// Retry, unless the next attempt would fall after the give-up window.
		next := r.NextAttemptAt.Add(w.o.Backoff(d.Attempt))
		r.Status = postgres.DeliveryFailed
		if !next.After(d.CreatedAt.Add(w.o.GiveUpAfter)) {
			r.Status, r.NextAttemptAt = postgres.DeliveryPending, next
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	current, err := w.o.Store.RecordWebhookAttempt(rctx, d, r)
	if err != nil {
		// The lease will run out and another attempt will be made: at least once.
		w.o.Logger.Warn("record webhook attempt", "delivery_id", d.ID, "err", err.Error())
		return
	}
	if !current {
		w.o.Logger.Warn("webhook delivery lease lost", "delivery_id", d.ID, "attempt", d.Attempt)
	}
	w.o.Logger.Debug("webhook attempt", "delivery_id", d.ID, "event_id", d.Event.ID, "attempt", d.Attempt,
		"status_code", r.StatusCode, "outcome", r.Status)
}

// attempt sends one POST; Status is left empty for "retry unless given up".
func (w *Worker) attempt(ctx context.Context, d postgres.ClaimedDelivery) postgres.AttemptResult {
	if d.EndpointDeleted {
		return postgres.AttemptResult{Error: "endpoint deleted", Status: postgres.DeliveryFailed}
	}
	policy := PolicyFor(d.Mode, w.o.AllowPrivate)
	if err := checkScheme(d.URL, policy); err != nil {
		return postgres.AttemptResult{Error: err.Error()}
	}
	secret, err := Open(w.o.Key, d.Secret, SecretAAD(d.Business, d.EndpointID))
	if err != nil {
		return postgres.AttemptResult{Error: err.Error()}
	}
	body, err := Body(d.Event)
	if err != nil {
		return postgres.AttemptResult{Error: "encode event: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return postgres.AttemptResult{Error: "build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tally-Webhooks/1")
	req.Header.Set(SignatureHeader, Sign(secret, w.o.Now(), body))
	req.Header.Set(DeliveryIDHeader, d.ID)
	req.Header.Set(EventIDHeader, d.Event.ID)
	req.Header.Set(AttemptHeader, strconv.Itoa(d.Attempt))
	client := w.open
	if policy.PublicOnly {
		client = w.public
	}
	start := time.Now()
	res, err := client.Do(req)
	latency := time.Since(start)
	if err != nil {
		return postgres.AttemptResult{Latency: latency, Error: requestError(err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, responseReadBytesMax))
	res.Body.Close()
	r := postgres.AttemptResult{StatusCode: res.StatusCode, Latency: latency}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		r.Status = postgres.DeliveryDelivered
		return r
	}
	r.Error = "HTTP " + strconv.Itoa(res.StatusCode)
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		r.Error += " (redirects are not followed)"
	}
	return r
}

// checkScheme re-applies the scheme rule at delivery time.
func checkScheme(raw string, p Policy) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid url: %w", err)
	}
	if u.Scheme != "https" && (p.RequireHTTPS || u.Scheme != "http") {
		return fmt.Errorf("url scheme %q not allowed", u.Scheme)
	}
	return nil
}

// requestError describes a failed request without the URL (it is logged per attempt
// already) and names refused private addresses plainly.
func requestError(err error) string {
	if errors.Is(err, ErrPrivateAddress) {
		return "refused: destination is not a public address"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timeout"
		}
		return ue.Err.Error()
	}
	return err.Error()
}
