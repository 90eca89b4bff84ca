package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	revoked, revokedSecret, err := pgtest.Store(t).CreateAPIKey(context.Background(), c.business.ID, ledger.KeyFull, "old")
	if err != nil {
		t.Fatal(err)
	}
	if r := (&client{tb: t, srv: srv, key: revokedSecret}).do("GET", "/v1/business", nil); r.Status != 200 {
		t.Fatalf("fresh key: status = %d, want 200", r.Status)
	}
	// Revoked through the server's own store, as the API and dashboard do: its key
	// cache is emptied, so the very next request is refused (a revocation from
	// another process takes up to postgres.CredentialTTL: TestAuthenticateCachesValidKeys).
	if err := srv.store.RevokeAPIKey(context.Background(), c.business.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		header string
	}{
		{"missing", ""},
		{"not bearer", "Basic " + c.key},
		{"wrong", "Bearer sk_test_" + strings.Repeat("x", 43)},
		{"malformed", "Bearer nonsense"},
		{"revoked", "Bearer " + revokedSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&client{tb: t, srv: srv}).do("GET", "/v1/business", nil, "Authorization", tt.header)
			_ = r
			r.must(t, 401)
			if r.Code() != "unauthenticated" || r.Body.Error.Name != "unauthorized" {
				t.Fatalf("error = %s, want unauthenticated/unauthorized", r.Raw)
			}
			if id := r.Header.Get("X-Request-Id"); !strings.HasPrefix(id, "req_") || r.Body.Error.RequestID != id {
				t.Fatalf("request id header %q body %q", id, r.Body.Error.RequestID)
			}
		})
	}
	r := c.do("GET", "/v1/business", nil).must(t, 200)
	var b struct{ ID, Mode string }
	r.Data(t, &b)
	if b.ID != c.business.ID || b.Mode != "sandbox" {
		t.Fatalf("business = %+v, want %s sandbox", b, c.business.ID)
	}
}

func TestReadOnlyKeyCannotWrite(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	_, secret, err := pgtest.Store(t).CreateAPIKey(context.Background(), c.business.ID, ledger.KeyReadOnly, "ro")
	if err != nil {
		t.Fatal(err)
	}
	ro := &client{tb: t, srv: srv, key: secret}
	ro.do("GET", "/v1/business", nil).must(t, 200)
	r := ro.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": "a@b.co", "first_name": "A", "last_name": "B"}).must(t, 403)
	if r.Code() != "forbidden" {
		t.Fatalf("code = %q, want forbidden", r.Code())
	}
}

// TestProfileContext checks API.md §2 through a route that resolves the header.
func TestProfileContext(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	a := newClient(t, srv, ledger.ModeSandbox)
	b := newClient(t, srv, ledger.ModeSandbox)
	own := a.createCustomer("own@example.com")
	foreign := b.createCustomer("foreign@example.com")

	tests := []struct {
		name     string
		header   string
		wantCode string
		wantID   string
	}{
		{"absent is the business", "", "", a.business.ID},
		{"own business id", a.business.ID, "", a.business.ID},
		{"own customer", own, "", own},
		{"other tenant's customer", foreign, "profile_not_found", ""},
		{"other business id", b.business.ID, "profile_not_found", ""},
		{"malformed", "CUS_nope", "profile_not_found", ""},
		{"garbage", "'; DROP TABLE customers; --", "profile_not_found", ""},
		{"well-formed unknown", ledger.NewID(ledger.PrefixCustomer), "profile_not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.on(t).do("GET", "/v1/profile", nil, HeaderProfileID, tt.header)
			if tt.wantCode != "" {
				r.must(t, 404)
				if r.Code() != tt.wantCode {
					t.Fatalf("code = %q, want %q", r.Code(), tt.wantCode)
				}
				return
			}
			r.must(t, 200)
			var p struct {
				ProfileID string `json:"profile_id"`
			}
			r.Data(t, &p)
			if p.ProfileID != tt.wantID {
				t.Fatalf("profile_id = %q, want %q", p.ProfileID, tt.wantID)
			}
		})
	}
	// The two 404s must be indistinguishable apart from the id echoed.
	r1 := a.do("GET", "/v1/profile", nil, HeaderProfileID, foreign)
	r2 := a.do("GET", "/v1/profile", nil, HeaderProfileID, ledger.NewID(ledger.PrefixCustomer))
	if r1.Status != r2.Status || r1.Code() != r2.Code() || r1.Body.Error.Name != r2.Body.Error.Name {
		t.Fatalf("foreign %s vs unknown %s", r1.Raw, r2.Raw)
	}
	// Another tenant's customer is not found by id either.
	a.do("GET", "/v1/customers/"+foreign, nil).must(t, 404)
}

func TestInputHygiene(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	valid := `{"type":"individual","email":"a@b.co","first_name":"A","last_name":"B"}`
	tests := []struct {
		name       string
		body       string
		ctype      string
		wantStatus int
		wantCode   string
		wantParam  string
	}{
		{"no content type", valid, "", 415, "unsupported_media_type", ""},
		{"text content type", valid, "text/plain", 415, "unsupported_media_type", ""},
		{"malformed", `{"type":`, "application/json", 400, "invalid_json", ""},
		{"not an object", `[1,2]`, "application/json", 400, "invalid_json", ""},
		{"two objects", valid + valid, "application/json", 400, "invalid_json", ""},
		{"invalid utf-8", "{\"type\":\"individual\",\"email\":\"\xff@b.co\"}", "application/json", 400, "invalid_json", ""},
		{"unknown field", `{"type":"individual","emial":"a@b.co"}`, "application/json", 400, "unknown_field", "emial"},
		{"wrong type", `{"type":7}`, "application/json", 400, "validation_failed", "type"},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "application/json", 400, "invalid_json", ""},
		{"charset allowed", valid, "application/json; charset=utf-8", 201, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.on(t).do("POST", "/v1/customers", tt.body, "Content-Type", tt.ctype).must(t, tt.wantStatus)
			if r.Code() != tt.wantCode {
				t.Fatalf("code = %q, want %q (%s)", r.Code(), tt.wantCode, r.Raw)
			}
			if tt.wantParam != "" && r.Body.Error.Param != tt.wantParam {
				t.Fatalf("param = %q, want %q", r.Body.Error.Param, tt.wantParam)
			}
			if !strings.HasPrefix(r.Header.Get("X-Request-Id"), "req_") {
				t.Fatalf("no X-Request-Id on %d", r.Status)
			}
		})
	}
	// Over 1 MiB: sent by hand, headers only, the way a careful client announces a
	// large body; the server answers 413 from Content-Length without reading it (a
	// client still writing the body may instead see the connection reset).
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.testURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/customers HTTP/1.1\r\nHost: tally\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n{", c.key, 2<<20)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 413 || !strings.Contains(string(raw), `"code":"payload_too_large"`) || !strings.HasPrefix(res.Header.Get("X-Request-Id"), "req_") {
		t.Fatalf("oversized body: %d %s", res.StatusCode, raw)
	}

	r := c.do("GET", "/v1/no-such-route", nil).must(t, 404)
	if r.Code() != "not_found" || !strings.HasPrefix(r.Header.Get("X-Request-Id"), "req_") {
		t.Fatalf("unknown route: %s", r.Raw)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	anon := &client{tb: t, srv: srv}
	anon.do("GET", "/healthz", nil).must(t, 200)
	anon.do("GET", "/readyz", nil).must(t, 200)
	anon.do("GET", "/openapi.yaml", nil).must(t, 200)
	m := anon.do("GET", "/metrics", nil).must(t, 200)
	if !strings.Contains(string(m.Raw), `tally_http_requests_total{method="GET",route="/healthz",status="200"} 1`) {
		t.Fatalf("metrics lack the healthz request:\n%s", m.Raw)
	}
	// Series keys own their bytes: requests with other methods, which reuse the
	// connection's buffers, must not corrupt the GET series (it made /metrics 500).
	for _, method := range []string{"POST", "DELETE", "PATCH", "PUT"} {
		anon.do(method, "/v1/business", nil)
	}
	m = anon.do("GET", "/metrics", nil).must(t, 200)
	if !strings.Contains(string(m.Raw), `tally_http_requests_total{method="GET",route="/healthz",status="200"} 1`) ||
		!strings.Contains(string(m.Raw), `method="DELETE"`) {
		t.Fatalf("metrics after other methods:\n%s", m.Raw)
	}

	// A server whose database is gone is alive but not ready.
	db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	down := listen(t, New(Options{Config: srv.cfg, Store: postgres.New(db), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}))
	dc := &client{tb: t, srv: down}
	start := time.Now()
	dc.do("GET", "/readyz", nil).must(t, 503)
	if time.Since(start) > 3*time.Second {
		t.Fatalf("readiness took %s with the database down", time.Since(start))
	}
	dc.do("GET", "/healthz", nil).must(t, 200)
}
