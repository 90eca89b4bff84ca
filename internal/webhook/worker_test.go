package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// receipt is one request a test receiver got.
type receipt struct {
	DeliveryID string
	EventID    string
	Attempt    int
	Signature  string
	Body       []byte
}

// receiver is a real HTTP server on 127.0.0.1 that records every request and
// answers with status(n), n being the 1-based count of requests for that event.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []receipt
	perEvent map[string]int
	notify   chan struct{}
}

func newReceiver(tb testing.TB, status func(eventID string, n int) int) *receiver {
	tb.Helper()
	r := &receiver{perEvent: map[string]int{}, notify: make(chan struct{}, 1000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		attempt, _ := strconv.Atoi(req.Header.Get(AttemptHeader))
		rc := receipt{DeliveryID: req.Header.Get(DeliveryIDHeader), EventID: req.Header.Get(EventIDHeader),
			Attempt: attempt, Signature: req.Header.Get(SignatureHeader), Body: body}
		r.mu.Lock()
		r.got = append(r.got, rc)
		r.perEvent[rc.EventID]++
		n := r.perEvent[rc.EventID]
		r.mu.Unlock()
		code := 200
		if status != nil {
			code = status(rc.EventID, n)
		}
		w.WriteHeader(code)
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}))
	tb.Cleanup(r.Close)
	return r
}

func (r *receiver) receipts() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.got...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fixture is one business with one endpoint pointing at a receiver.
type fixture struct {
	store    *postgres.Store
	business ledger.Business
	endpoint string
	secret   string
}

func newFixture(tb testing.TB, mode ledger.Mode, url string, events ...string) *fixture {
	tb.Helper()
	b, _ := pgtest.Business(tb, mode)
	f := &fixture{store: pgtest.Store(tb), business: b}
	f.endpoint, f.secret = f.addEndpoint(tb, url, events...)
	return f
}

func (f *fixture) addEndpoint(tb testing.TB, url string, events ...string) (string, string) {
	tb.Helper()
	id, secret := ledger.NewID(ledger.PrefixWebhook), NewSecret()
	sealed, err := Seal(testKey, secret, SecretAAD(f.business.ID, id))
	if err != nil {
		tb.Fatal(err)
	}
	err = f.store.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
		return tx.CreateWebhookEndpoint(ctx, postgres.WebhookEndpoint{Business: f.business.ID, ID: id, URL: url,
			Events: events, Secret: sealed, CreatedAt: time.Now().UTC()})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return id, secret
}

// emit commits one event the way every feature does: tx.Event in a transaction.
func (f *fixture) emit(tb testing.TB, typ string) string {
	tb.Helper()
	// A real customer per event, so the event names a profile of its business
	// (tally verify's invariant 6 holds on the database the tests leave behind).
	typ0, email, first, last := "individual", "hook@example.com", "Web", "Hook"
	cust, err := ledger.NewCustomer(f.business.ID, ledger.CustomerPatch{Type: &typ0, Email: &email, FirstName: &first, LastName: &last}, time.Now().UTC())
	if err != nil {
		tb.Fatal(err)
	}
	profile := cust.ID
	err = f.store.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
		if err := tx.CreateCustomer(ctx, cust); err != nil {
			return err
		}
		return tx.Event(ctx, f.business.ID, typ, profile, map[string]any{"id": profile, "object": "test", "n": 1})
	})
	if err != nil {
		tb.Fatal(err)
	}
	evs, err := f.store.FindEvents(context.Background(), f.business.ID, postgres.EventFilter{Profile: profile}, ledger.Page{Limit: 1})
	if err != nil || len(evs) != 1 {
		tb.Fatalf("find event: %v (%d)", err, len(evs))
	}
	return evs[0].ID
}

// startWorker runs a fast worker for f's business until the test ends.
func (f *fixture) startWorker(tb testing.TB, o Options) {
	tb.Helper()
	o.Store, o.Key, o.Businesses = f.store, testKey, []string{f.business.ID}
	if o.Poll == 0 {
		o.Poll = 25 * time.Millisecond
	}
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return 0 }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { NewWorker(o).Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
}

func (f *fixture) attempts(tb testing.TB, event string) []postgres.WebhookAttempt {
	tb.Helper()
	at, err := f.store.FindWebhookAttempts(context.Background(), f.business.ID, event, ledger.Page{Limit: 100})
	if err != nil {
		tb.Fatal(err)
	}
	return at
}

func TestWorkerDeliversEveryEventTypeSigned(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	f := newFixture(t, ledger.ModeSandbox, rcv.URL+"/hook")
	ids := map[string]string{}
	for _, typ := range EventTypes {
		ids[f.emit(t, typ)] = typ
	}
	f.startWorker(t, Options{})
	waitFor(t, "every event type", 10*time.Second, func() bool { return len(rcv.receipts()) >= len(EventTypes) })
	for _, rc := range rcv.receipts() {
		if err := Verify(f.secret, rc.Signature, rc.Body, 0, time.Now()); err != nil {
			t.Fatalf("Verify(%s) = %v", rc.EventID, err)
		}
		var ev Event
		if err := json.Unmarshal(rc.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ID != rc.EventID || ids[ev.ID] != ev.Type || ev.BusinessID != f.business.ID || ev.ProfileID == "" ||
			string(ev.Data) == "" || ev.CreatedAt == "" || rc.Attempt != 1 {
			t.Fatalf("receipt %+v body %s", rc, rc.Body)
		}
		var raw map[string]json.RawMessage
		_ = json.Unmarshal(rc.Body, &raw)
		if len(raw) != 6 {
			t.Fatalf("body has %d fields, want exactly id, type, created_at, business_id, profile_id, data: %s", len(raw), rc.Body)
		}
		delete(ids, ev.ID)
	}
	if len(ids) != 0 {
		t.Fatalf("not delivered: %v", ids)
	}
}

func TestWorkerRetriesUntil2xxWithTheSameEventID(t *testing.T) {
	t.Parallel()
	const failures = 3
	rcv := newReceiver(t, func(_ string, n int) int {
		if n <= failures {
			return 500
		}
		return 204
	})
	f := newFixture(t, ledger.ModeSandbox, rcv.URL)
	ev := f.emit(t, "payout.completed")
	f.startWorker(t, Options{})
	waitFor(t, "delivery after failures", 10*time.Second, func() bool { return len(f.attempts(t, ev)) == failures+1 })
	got := rcv.receipts()
	if len(got) != failures+1 {
		t.Fatalf("receipts = %d, want %d", len(got), failures+1)
	}
	for i, rc := range got {
		if rc.EventID != ev || rc.DeliveryID != got[0].DeliveryID || rc.Attempt != i+1 || string(rc.Body) != string(got[0].Body) {
			t.Fatalf("receipt %d = %+v, want event %s delivery %s attempt %d, same body", i, rc, ev, got[0].DeliveryID, i+1)
		}
		if err := Verify(f.secret, rc.Signature, rc.Body, 0, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	at := f.attempts(t, ev) // newest first
	for i, a := range at {
		want := 500
		if i == 0 {
			want = 204
		}
		if a.StatusCode == nil || *a.StatusCode != want || a.Attempt != len(at)-i {
			t.Fatalf("attempt %d: %+v, want status %d", i, a, want)
		}
	}
}

func TestWorkerGivesUpAfterTheWindow(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, func(string, int) int { return 503 })
	f := newFixture(t, ledger.ModeSandbox, rcv.URL)
	ev := f.emit(t, "deposit.completed")
	f.startWorker(t, Options{GiveUpAfter: time.Millisecond, Backoff: func(int) time.Duration { return time.Second }})
	waitFor(t, "one attempt", 10*time.Second, func() bool { return len(f.attempts(t, ev)) == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := len(rcv.receipts()); n != 1 {
		t.Fatalf("receipts = %d after giving up, want 1", n)
	}
	var status string
	if err := f.store.DB().NewRaw("SELECT status FROM webhook_deliveries WHERE business_id = ? AND event_id = ?", f.business.ID, ev).Scan(context.Background(), &status); err != nil {
		t.Fatal(err)
	}
	if status != "failed" {
		t.Fatalf("status = %s, want failed", status)
	}
}

// TestTwoWorkersDeliverEachAttemptOnce runs two workers with several goroutines each
// against one database and a receiver that fails every first attempt, then checks
// that no (delivery, attempt) pair reached the receiver twice and every event was
// delivered.
func TestTwoWorkersDeliverEachAttemptOnce(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, func(_ string, n int) int {
		if n == 1 {
			return 500
		}
		return 200
	})
	f := newFixture(t, ledger.ModeSandbox, rcv.URL)
	const events = 60
	for range events {
		f.emit(t, "transfer.completed")
	}
	f.startWorker(t, Options{Concurrency: 4, Poll: 5 * time.Millisecond})
	f.startWorker(t, Options{Concurrency: 4, Poll: 5 * time.Millisecond})
	waitFor(t, "all events delivered", 20*time.Second, func() bool {
		var n int
		_ = f.store.DB().NewRaw("SELECT count(*) FROM webhook_deliveries WHERE business_id = ? AND status = 'delivered'", f.business.ID).Scan(context.Background(), &n)
		return n == events
	})
	seen := map[string]bool{}
	for _, rc := range rcv.receipts() {
		k := fmt.Sprintf("%s#%d", rc.DeliveryID, rc.Attempt)
		if seen[k] {
			t.Fatalf("attempt %s delivered twice", k)
		}
		seen[k] = true
	}
	if len(seen) != 2*events {
		t.Fatalf("receipts = %d, want %d (one failed and one good attempt per event)", len(seen), 2*events)
	}
}

func TestWorkerDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target := newReceiver(t, nil)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	f := newFixture(t, ledger.ModeSandbox, redirect.URL)
	ev := f.emit(t, "customer.updated")
	f.startWorker(t, Options{Backoff: func(int) time.Duration { return time.Hour }})
	waitFor(t, "one attempt", 10*time.Second, func() bool { return len(f.attempts(t, ev)) == 1 })
	if n := len(target.receipts()); n != 0 {
		t.Fatalf("redirect target got %d requests", n)
	}
	if a := f.attempts(t, ev)[0]; a.StatusCode == nil || *a.StatusCode != 307 {
		t.Fatalf("attempt = %+v, want status 307", a)
	}
}

// TestLiveEndpointOnLoopbackRefusedAtDial stores a loopback URL for a live business
// directly (as if DNS had changed since registration) and checks that the dial-time
// check refuses it.
func TestLiveEndpointOnLoopbackRefusedAtDial(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	f := newFixture(t, ledger.ModeLive, "https"+rcv.URL[len("http"):])
	ev := f.emit(t, "customer.created")
	f.startWorker(t, Options{Backoff: func(int) time.Duration { return time.Hour }})
	waitFor(t, "one attempt", 10*time.Second, func() bool { return len(f.attempts(t, ev)) == 1 })
	a := f.attempts(t, ev)[0]
	if a.StatusCode != nil || a.Error == nil || *a.Error != "refused: destination is not a public address" {
		t.Fatalf("attempt = %+v, want refused", a)
	}
	if len(rcv.receipts()) != 0 {
		t.Fatal("loopback receiver was called for a live business")
	}
}

// TestClaimLease checks the queue's fencing directly: a claimed delivery is not
// claimable again until its lease ends, then it is claimed as the next attempt,
// and the first claimer can no longer change it.
func TestClaimLease(t *testing.T) {
	t.Parallel()
	f := newFixture(t, ledger.ModeSandbox, "http://127.0.0.1:9/unused")
	f.emit(t, "customer.created")
	ctx := context.Background()
	only := []string{f.business.ID}
	first, err := f.store.ClaimWebhookDeliveries(ctx, 10, 300*time.Millisecond, only)
	if err != nil || len(first) != 1 || first[0].Attempt != 1 {
		t.Fatalf("first claim = %+v, %v", first, err)
	}
	if again, _ := f.store.ClaimWebhookDeliveries(ctx, 10, time.Second, only); len(again) != 0 {
		t.Fatalf("claimed during the lease: %+v", again)
	}
	time.Sleep(400 * time.Millisecond)
	second, err := f.store.ClaimWebhookDeliveries(ctx, 10, time.Minute, only)
	if err != nil || len(second) != 1 || second[0].Attempt != 2 || second[0].ID != first[0].ID {
		t.Fatalf("second claim = %+v, %v", second, err)
	}
	current, err := f.store.RecordWebhookAttempt(ctx, first[0], postgres.AttemptResult{StatusCode: 200, Status: postgres.DeliveryDelivered, NextAttemptAt: time.Now()})
	if err != nil || current {
		t.Fatalf("stale claim recorded: current=%v err=%v", current, err)
	}
	current, err = f.store.RecordWebhookAttempt(ctx, second[0], postgres.AttemptResult{StatusCode: 200, Status: postgres.DeliveryDelivered, NextAttemptAt: time.Now()})
	if err != nil || !current {
		t.Fatalf("current claim: current=%v err=%v", current, err)
	}
}

func TestEndpointFilterAndDelete(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, nil)
	f := newFixture(t, ledger.ModeSandbox, rcv.URL+"/payouts", "payout.failed")
	all, _ := f.addEndpoint(t, rcv.URL+"/all")
	f.emit(t, "payout.failed")
	f.emit(t, "customer.created")
	var n int
	if err := f.store.DB().NewRaw("SELECT count(*) FROM webhook_deliveries WHERE business_id = ?", f.business.ID).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("deliveries = %d, want 3 (filtered endpoint 1, catch-all 2)", n)
	}
	err := f.store.InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
		return tx.DeleteWebhookEndpoint(ctx, f.business.ID, all)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.startWorker(t, Options{})
	waitFor(t, "the filtered delivery", 10*time.Second, func() bool { return len(rcv.receipts()) == 1 })
	time.Sleep(200 * time.Millisecond)
	if got := rcv.receipts(); len(got) != 1 {
		t.Fatalf("receipts = %d, want 1 (deleted endpoint gets nothing)", len(got))
	}
}
