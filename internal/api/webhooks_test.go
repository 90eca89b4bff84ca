package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/webhook"
	"github.com/tallyhq/tally/ledger"
)

// hookReceiver is a real HTTP receiver on 127.0.0.1 that records deliveries.
type hookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []hookReceipt
}

type hookReceipt struct {
	EventID, DeliveryID, Signature string
	Body                           []byte
}

func newHookReceiver(tb testing.TB) *hookReceiver {
	tb.Helper()
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, hookReceipt{req.Header.Get(webhook.EventIDHeader), req.Header.Get(webhook.DeliveryIDHeader),
			req.Header.Get(webhook.SignatureHeader), body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	tb.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) receipts() []hookReceipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookReceipt(nil), r.got...)
}

func waitUntil(tb testing.TB, what string, timeout time.Duration, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(25 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// startHookWorker runs a fast delivery worker restricted to businesses.
func startHookWorker(tb testing.TB, srv *Server, businesses ...string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := webhook.NewWorker(webhook.Options{Store: pgtest.Store(tb), Key: srv.cfg.WebhookKey, Poll: 25 * time.Millisecond,
		Backoff: func(int) time.Duration { return 0 }, Businesses: businesses})
	go func() { w.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
}

type endpointOut struct {
	ID, URL, Secret, Object string
	Events                  []string
	CreatedAt               string `json:"created_at"`
}

func (c *client) createEndpoint(url string, events ...string) endpointOut {
	c.tb.Helper()
	if events == nil {
		events = []string{}
	}
	r := c.do("POST", "/v1/webhook-endpoints", map[string]any{"url": url, "events": events}).must(c.tb, 201)
	var e endpointOut
	r.Data(c.tb, &e)
	return e
}

func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)

	e := c.createEndpoint("http://127.0.0.1:9/hook", "customer.created", "payout.failed", "customer.created")
	if !strings.HasPrefix(e.ID, "WHK_") || !strings.HasPrefix(e.Secret, "whsec_") || e.Object != "webhook_endpoint" ||
		strings.Join(e.Events, ",") != "customer.created,payout.failed" {
		t.Fatalf("endpoint = %+v", e)
	}
	got := c.do("GET", "/v1/webhook-endpoints/"+e.ID, nil).must(t, 200)
	if strings.Contains(string(got.Raw), e.Secret) || strings.Contains(string(got.Raw), `"secret"`) {
		t.Fatalf("GET shows the secret: %s", got.Raw)
	}

	// A replay of the create returns the same endpoint and its secret, although the
	// idempotency record does not hold it.
	body := map[string]any{"url": "http://localhost:9/other", "events": []string{}}
	r1 := c.do("POST", "/v1/webhook-endpoints", body, "Idempotency-Key", "create-hook-1").must(t, 201)
	r2 := c.do("POST", "/v1/webhook-endpoints", body, "Idempotency-Key", "create-hook-1").must(t, 201)
	var e1, e2 endpointOut
	r1.Data(t, &e1)
	r2.Data(t, &e2)
	if e1.ID != e2.ID || e1.Secret == "" || e1.Secret != e2.Secret || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: first %+v second %+v (%v)", e1, e2, r2.Header)
	}
	var leaked int
	if err := pgtest.DB(t).NewRaw("SELECT count(*) FROM idempotency_keys WHERE business_id = ? AND position(? in convert_from(response, 'UTF8')) > 0",
		c.business.ID, e1.Secret).Scan(context.Background(), &leaked); err != nil || leaked != 0 {
		t.Fatalf("idempotency record holds the secret: %d, %v", leaked, err)
	}

	// Listing pages newest first.
	l1 := c.do("GET", "/v1/webhook-endpoints?limit=1", nil).must(t, 200)
	var page []endpointOut
	l1.Data(t, &page)
	if len(page) != 1 || page[0].ID != e1.ID || !l1.Body.Pagination.HasMore || page[0].Secret != "" {
		t.Fatalf("page 1 = %s", l1.Raw)
	}
	l2 := c.do("GET", "/v1/webhook-endpoints?limit=1&cursor="+*l1.Body.Pagination.NextCursor, nil).must(t, 200)
	l2.Data(t, &page)
	if len(page) != 1 || page[0].ID != e.ID || l2.Body.Pagination.HasMore {
		t.Fatalf("page 2 = %s", l2.Raw)
	}
	c.do("GET", "/v1/webhook-endpoints?limit=0", nil).must(t, 400)

	c.do("DELETE", "/v1/webhook-endpoints/"+e.ID, nil).must(t, 204)
	c.do("GET", "/v1/webhook-endpoints/"+e.ID, nil).must(t, 404)
	c.do("DELETE", "/v1/webhook-endpoints/"+e.ID, nil).must(t, 404)

	live := newClient(t, srv, ledger.ModeLive)
	tests := []struct {
		name      string
		c         *client
		body      string
		wantCode  string
		wantParam string
	}{
		{"missing url", c, `{"events":[]}`, "validation_failed", "url"},
		{"ftp", c, `{"url":"ftp://example.com/x"}`, "validation_failed", "url"},
		{"not a url", c, `{"url":"hello"}`, "validation_failed", "url"},
		{"too long", c, `{"url":"https://example.com/` + strings.Repeat("a", 2048) + `"}`, "validation_failed", "url"},
		{"unknown event", c, `{"url":"https://example.com/x","events":["customer.deleted"]}`, "validation_failed", "events"},
		{"typo field", c, `{"url":"https://example.com/x","event":[]}`, "unknown_field", "event"},
		{"live needs https", live, `{"url":"http://93.184.215.14/x"}`, "validation_failed", "url"},
		{"live refuses loopback", live, `{"url":"https://127.0.0.1/x"}`, "validation_failed", "url"},
		{"live refuses private", live, `{"url":"https://192.168.1.10/x"}`, "validation_failed", "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.on(t).do("POST", "/v1/webhook-endpoints", tt.body).must(t, 400)
			if r.Code() != tt.wantCode || r.Body.Error.Param != tt.wantParam {
				t.Fatalf("error = %s, want %s on %s", r.Raw, tt.wantCode, tt.wantParam)
			}
		})
	}
	live.createEndpoint("https://93.184.215.14/hook") // a public address is fine
}

// TestWebhookAndEventTenantIsolation checks that another business's endpoint and
// event ids answer exactly like ids that never existed.
func TestWebhookAndEventTenantIsolation(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	a := newClient(t, srv, ledger.ModeSandbox)
	b := newClient(t, srv, ledger.ModeSandbox)
	ep := a.createEndpoint("http://127.0.0.1:9/a")
	a.createCustomer("iso@example.com")
	r := a.do("GET", "/v1/events?type=customer.created", nil).must(t, 200)
	var evs []webhook.Event
	r.Data(t, &evs)
	if len(evs) != 1 {
		t.Fatalf("events = %s", r.Raw)
	}
	ev := evs[0].ID
	unknownEp, unknownEv := ledger.NewID(ledger.PrefixWebhook), ledger.NewID(ledger.PrefixEvent)
	for _, tc := range []struct{ method, foreign, unknown string }{
		{"GET", "/v1/webhook-endpoints/" + ep.ID, "/v1/webhook-endpoints/" + unknownEp},
		{"DELETE", "/v1/webhook-endpoints/" + ep.ID, "/v1/webhook-endpoints/" + unknownEp},
		{"GET", "/v1/events/" + ev, "/v1/events/" + unknownEv},
		{"POST", "/v1/events/" + ev + "/redeliver", "/v1/events/" + unknownEv + "/redeliver"},
		{"GET", "/v1/events/" + ev + "/deliveries", "/v1/events/" + unknownEv + "/deliveries"},
	} {
		f := b.do(tc.method, tc.foreign, nil).must(t, 404)
		u := b.do(tc.method, tc.unknown, nil).must(t, 404)
		fm := strings.ReplaceAll(f.Body.Error.Message, ep.ID, "ID")
		fm = strings.ReplaceAll(fm, ev, "ID")
		um := strings.ReplaceAll(strings.ReplaceAll(u.Body.Error.Message, unknownEp, "ID"), unknownEv, "ID")
		if f.Code() != "not_found" || f.Code() != u.Code() || fm != um || f.Body.Error.Name != u.Body.Error.Name {
			t.Fatalf("%s %s: foreign %s vs unknown %s", tc.method, tc.foreign, f.Raw, u.Raw)
		}
	}
	var list []webhook.Event
	b.do("GET", "/v1/events", nil).must(t, 200).Data(t, &list)
	if len(list) != 0 {
		t.Fatalf("business b sees %d events of a", len(list))
	}
	a.do("GET", "/v1/webhook-endpoints/"+ep.ID, nil).must(t, 200) // b's DELETE did nothing

	// A customer token, whatever its scopes, reaches neither endpoints nor events.
	cust := a.createCustomer("token@example.com")
	tok := a.asToken(a.mintToken(cust, "balances:read", "transactions:read", "payouts:write", "transfers:write", "deposit_addresses:write"))
	for _, path := range []string{"/v1/webhook-endpoints", "/v1/webhook-endpoints/" + ep.ID, "/v1/events", "/v1/events/" + ev} {
		if r := tok.do("GET", path, nil).must(t, 403); r.Code() != "forbidden" {
			t.Fatalf("token GET %s: %s", path, r.Raw)
		}
	}
	tok.do("POST", "/v1/webhook-endpoints", map[string]any{"url": "http://127.0.0.1:9/x"}).must(t, 403)
}

// TestEventsFollowTheProfileContext checks the documented choice: the main profile
// sees every event of the business, a customer scope only that customer's.
func TestEventsFollowTheProfileContext(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	c1 := c.createCustomer("one@example.com")
	c2 := c.createCustomer("two@example.com")
	var all, mine []webhook.Event
	c.do("GET", "/v1/events", nil).must(t, 200).Data(t, &all)
	if len(all) != 2 || all[0].ProfileID != c2 || all[1].ProfileID != c1 || all[0].Type != "customer.created" {
		t.Fatalf("main profile events = %+v", all)
	}
	var data struct{ ID, Email string }
	if err := json.Unmarshal(all[0].Data, &data); err != nil || data.ID != c2 || data.Email != "two@example.com" {
		t.Fatalf("event data = %s", all[0].Data)
	}
	c.do("GET", "/v1/events", nil, HeaderProfileID, c1).must(t, 200).Data(t, &mine)
	if len(mine) != 1 || mine[0].ProfileID != c1 {
		t.Fatalf("customer events = %+v", mine)
	}
	c.do("GET", "/v1/events/"+all[0].ID, nil, HeaderProfileID, c1).must(t, 404)
	c.do("GET", "/v1/events/"+all[1].ID, nil, HeaderProfileID, c1).must(t, 200)
	c.do("GET", "/v1/events/"+all[0].ID, nil, HeaderProfileID, c.business.ID).must(t, 200)
	var none []webhook.Event
	c.do("GET", "/v1/events?type=payout.failed", nil).must(t, 200).Data(t, &none)
	if len(none) != 0 {
		t.Fatalf("type filter: %+v", none)
	}
	if r := c.do("GET", "/v1/events?type=nope", nil).must(t, 400); r.Body.Error.Param != "type" {
		t.Fatalf("bad type: %s", r.Raw)
	}
	p1 := c.do("GET", "/v1/events?limit=1", nil).must(t, 200)
	var page []webhook.Event
	p1.Data(t, &page)
	p2 := c.do("GET", "/v1/events?limit=1&cursor="+*p1.Body.Pagination.NextCursor, nil).must(t, 200)
	var page2 []webhook.Event
	p2.Data(t, &page2)
	if len(page) != 1 || len(page2) != 1 || page[0].ID != all[0].ID || page2[0].ID != all[1].ID || p2.Body.Pagination.HasMore {
		t.Fatalf("pages %s / %s", p1.Raw, p2.Raw)
	}
}

// TestWebhookDeliveryAndRedelivery drives the whole path through the API: a
// customer is created, its customer.created event reaches a real receiver signed
// with the secret shown at creation, a redelivery sends the same event id again,
// and both attempts are listed.
func TestWebhookDeliveryAndRedelivery(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	rcv := newHookReceiver(t)
	ep := c.createEndpoint(rcv.URL+"/hook", "customer.created")
	cust := c.createCustomer("hook@example.com")
	var evs []webhook.Event
	c.do("GET", "/v1/events", nil).must(t, 200).Data(t, &evs)
	if len(evs) != 1 {
		t.Fatalf("events = %+v", evs)
	}
	ev := evs[0]
	startHookWorker(t, srv, c.business.ID)
	waitUntil(t, "first delivery", 10*time.Second, func() bool { return len(rcv.receipts()) == 1 })

	first := rcv.receipts()[0]
	if err := webhook.Verify(ep.Secret, first.Signature, first.Body, 0, time.Now()); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	var got webhook.Event
	if err := json.Unmarshal(first.Body, &got); err != nil {
		t.Fatal(err)
	}
	apiEvent, _ := json.Marshal(ev)
	if first.EventID != ev.ID || got.ID != ev.ID || got.ProfileID != cust || string(first.Body) != string(apiEvent) {
		t.Fatalf("delivered %s, want the API's event %s", first.Body, apiEvent)
	}

	r := c.do("POST", "/v1/events/"+ev.ID+"/redeliver", nil).must(t, 202)
	var red []struct {
		ID, Status string
		EventID    string `json:"event_id"`
		EndpointID string `json:"endpoint_id"`
	}
	r.Data(t, &red)
	if len(red) != 1 || red[0].EventID != ev.ID || red[0].EndpointID != ep.ID || red[0].Status != "pending" {
		t.Fatalf("redeliver = %s", r.Raw)
	}
	waitUntil(t, "redelivery", 10*time.Second, func() bool { return len(rcv.receipts()) == 2 })
	second := rcv.receipts()[1]
	if second.EventID != ev.ID || string(second.Body) != string(first.Body) || second.DeliveryID == first.DeliveryID ||
		second.DeliveryID != red[0].ID {
		t.Fatalf("redelivery %+v vs first %+v", second, first)
	}
	if err := webhook.Verify(ep.Secret, second.Signature, second.Body, 0, time.Now()); err != nil {
		t.Fatal(err)
	}

	var attempts []struct {
		Attempt    int
		StatusCode *int   `json:"status_code"`
		DeliveryID string `json:"delivery_id"`
		EventID    string `json:"event_id"`
	}
	waitUntil(t, "attempts recorded", 5*time.Second, func() bool {
		c.do("GET", "/v1/events/"+ev.ID+"/deliveries", nil).must(t, 200).Data(t, &attempts)
		return len(attempts) == 2
	})
	for _, a := range attempts {
		if a.EventID != ev.ID || a.Attempt != 1 || a.StatusCode == nil || *a.StatusCode != 200 {
			t.Fatalf("attempts = %+v", attempts)
		}
	}
	if attempts[0].DeliveryID != second.DeliveryID {
		t.Fatalf("attempts not newest first: %+v", attempts)
	}
}

// TestWebhookDeliveredAfterCrash is the crash-safety check with the real binary: an
// event is committed by a server whose workers are off (as if it died before
// delivering), the server is killed with SIGKILL, and a fresh server with workers
// on delivers the event. Not parallel: its server's worker serves every business.
func TestWebhookDeliveredAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tally")
	build := exec.Command("go", "build", "-o", bin, "github.com/tallyhq/tally/cmd/tally")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dbURL := pgtest.URL(t)
	rcv := newHookReceiver(t)
	b, key := pgtest.Business(t, ledger.ModeSandbox)

	addr := freeAddr(t)
	first := startTally(t, bin, dbURL, addr, false)
	base := "http://" + addr
	c := &client{tb: t, srv: &Server{testURL: base}, key: key, business: b}
	ep := c.createEndpoint(rcv.URL + "/crash")
	cust := c.createCustomer("crash@example.com")
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	if n := len(rcv.receipts()); n != 0 {
		t.Fatalf("delivered %d before the restart with workers off", n)
	}

	startTally(t, bin, dbURL, addr, true)
	// The restarted worker serves every business of the shared test database, so
	// under a loaded machine the delivery may queue behind other tests' deliveries:
	// a generous bound, and on failure the delivery rows, to tell a slow delivery
	// from a lost one (this failed once in a loaded -race run of the package).
	for deadline := time.Now().Add(45 * time.Second); len(rcv.receipts()) == 0; time.Sleep(25 * time.Millisecond) {
		if time.Now().After(deadline) {
			var rows []string
			_ = pgtest.DB(t).NewRaw(`SELECT status || ' attempts=' || attempts || ' next=' || next_attempt_at || ' err=' || coalesce(last_error, '')
				FROM webhook_deliveries WHERE business_id = ?`, b.ID).Scan(context.Background(), &rows)
			var due int
			_ = pgtest.DB(t).NewRaw(`SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()`).
				Scan(context.Background(), &due)
			t.Fatalf("no delivery 45 s after the restart; this business's deliveries: %v; pending and due in the database: %d", rows, due)
		}
	}
	got := rcv.receipts()[0]
	var ev webhook.Event
	if err := json.Unmarshal(got.Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "customer.created" || ev.ProfileID != cust || ev.BusinessID != b.ID || got.EventID != ev.ID {
		t.Fatalf("delivered %s", got.Body)
	}
	if err := webhook.Verify(ep.Secret, got.Signature, got.Body, 0, time.Now()); err != nil {
		t.Fatalf("Verify = %v", err)
	}
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// tallyProcess is a running `tally serve`; exited closes when it ends.
type tallyProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startTally runs `tally serve` on addr and waits until it is ready; the process is
// stopped (SIGTERM) when the test ends unless the test killed it.
func startTally(tb testing.TB, bin, dbURL, addr string, workers bool) tallyProcess {
	tb.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "TALLY_ADDR="+addr,
		fmt.Sprintf("TALLY_WORKERS=%t", workers), "TALLY_LOG_LEVEL=warn", "TALLY_SHUTDOWN_GRACE=2s")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	waitUntil(tb, "tally serve ready", 20*time.Second, func() bool {
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	return tallyProcess{cmd: cmd, exited: exited}
}
