package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// testServerWith builds a Server like testServer, with its config changed by edit.
// Tests that need their own limits or keys use it instead of setting environment
// variables, since tests run in parallel.
func testServerWith(tb testing.TB, edit func(*config.Config)) *Server {
	tb.Helper()
	cfg, err := config.Load(func(k string) (string, bool) {
		switch k {
		case "DATABASE_URL":
			return pgtest.URL(tb), true
		case "TALLY_WORKERS":
			return "false", true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		tb.Fatal(err)
	}
	edit(&cfg)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return listen(tb, New(Options{Config: cfg, Store: pgtest.Store(tb), Logger: log, Spec: []byte("openapi: 3.1.0\n"), Version: "test"}))
}

// asToken returns a client that sends token instead of the business's key.
func (c *client) asToken(token string) *client {
	cc := *c
	cc.key = token
	return &cc
}

// mintToken asks the API for a token of customer with scopes.
func (c *client) mintToken(customer string, scopes ...string) string {
	c.tb.Helper()
	r := c.do("POST", "/v1/customers/"+customer+"/tokens", map[string]any{"scopes": scopes}).must(c.tb, 201)
	var tok struct{ Token string }
	r.Data(c.tb, &tok)
	return tok.Token
}

// setCustomerStatus changes a customer's status behind the API's back, as another
// request of the business would.
func setCustomerStatus(tb testing.TB, business, customer string, status ledger.CustomerStatus) {
	tb.Helper()
	_, err := pgtest.DB(tb).ExecContext(context.Background(),
		"UPDATE customers SET status = ? WHERE business_id = ? AND id = ?", string(status), business, customer)
	if err != nil {
		tb.Fatal(err)
	}
}

// forge signs claims with key and method, for tokens the API would never mint.
func forge(tb testing.TB, method jwt.SigningMethod, kid string, key any, claims jwt.Claims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func validClaims(business, customer string, now time.Time) *tokenClaims {
	return &tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: tokenIssuer, Subject: customer, Audience: jwt.ClaimStrings{tokenAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)), NotBefore: jwt.NewNumericDate(now),
			IssuedAt: jwt.NewNumericDate(now), ID: ledger.NewID(tokenIDPrefix),
		},
		Business: business,
		Scopes:   []string{scopeBalancesRead},
	}
}

// routeRegistered reports whether another part of the API has built the route yet.
func routeRegistered(srv *Server, method, path string) bool {
	for _, r := range srv.App().GetRoutes(true) {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// concretePath fills a route template's parameters with plausible values.
func concretePath(tmpl string) string {
	segs := strings.Split(tmpl, "/")
	for i, s := range segs {
		switch s {
		case ":currency":
			segs[i] = "USD"
		case ":id":
			segs[i] = ledger.NewID(ledger.PrefixPayout)
		}
	}
	return strings.Join(segs, "/")
}

// TestTokenScopeMatrix drives every scope against every route of the token table
// and against routes tokens may never call. Routes other engineers have not built
// yet answer 404 once the scope check lets them through, so "allowed" means
// neither 401 nor 403, and "refused" means exactly 403 forbidden.
func TestTokenScopeMatrix(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	cust := c.createCustomer("matrix@example.com")

	type route struct{ method, path, need string }
	var allowed []route
	for k, need := range tokenRoutes {
		method, tmpl, _ := strings.Cut(k, " ")
		allowed = append(allowed, route{method, concretePath(tmpl), need})
	}
	sort.Slice(allowed, func(i, j int) bool { return allowed[i].method+allowed[i].path < allowed[j].method+allowed[j].path })
	refused := []route{
		{"GET", "/v1/business", ""},
		{"GET", "/v1/customers", ""},
		{"POST", "/v1/customers", ""},
		{"GET", "/v1/customers/" + cust, ""},
		{"PATCH", "/v1/customers/" + cust, ""},
		{"DELETE", "/v1/customers/" + cust, ""},
		{"GET", "/v1/customers/export.csv", ""},
		{"POST", "/v1/customers/" + cust + "/tokens", ""},
		{"GET", "/v1/customers/" + cust + "/wallets", ""},
		{"POST", "/v1/customers/" + cust + "/wallets", ""},
		{"DELETE", "/v1/customers/" + cust + "/wallets/" + ledger.NewID(ledger.PrefixWallet), ""},
		{"GET", "/v1/customers/" + cust + "/audit-log", ""},
		{"GET", "/v1/api-keys", ""},
		{"POST", "/v1/api-keys", ""},
		{"DELETE", "/v1/api-keys/" + ledger.NewID(ledger.PrefixKey), ""},
		{"GET", "/v1/webhook-endpoints", ""},
		{"POST", "/v1/webhook-endpoints", ""},
		{"DELETE", "/v1/webhook-endpoints/" + ledger.NewID(ledger.PrefixWebhook), ""},
		{"GET", "/v1/events", ""},
		{"GET", "/v1/events/" + ledger.NewID(ledger.PrefixEvent), ""},
		{"POST", "/v1/events/" + ledger.NewID(ledger.PrefixEvent) + "/redeliver", ""},
		{"POST", "/v1/sandbox/deposits", ""},
		{"POST", "/v1/quotes", ""},
		{"POST", "/v1/conversions", ""},
		{"GET", "/v1/conversions", ""},
		{"GET", "/v1/deposits", ""},
		{"GET", "/v1/deposits/" + ledger.NewID(ledger.PrefixDeposit), ""},
		{"GET", "/v1/transactions/" + ledger.NewID(ledger.PrefixLine), ""},
		{"GET", "/v1/currencies", ""},
		{"GET", "/v1/no-such-route", ""},
		{"PUT", "/v1/balances", ""},
		{"DELETE", "/v1/payouts/" + ledger.NewID(ledger.PrefixPayout), ""},
		{"GET", "/v1/payouts/" + ledger.NewID(ledger.PrefixPayout) + "/cancel", ""},
	}
	tokens := map[string]string{"all": c.mintToken(cust, tokenScopes...)}
	for _, sc := range tokenScopes {
		tokens[sc] = c.mintToken(cust, sc)
	}
	for name, tok := range tokens {
		tc := c.asToken(tok)
		for _, rt := range allowed {
			want := name == "all" || rt.need == "" || rt.need == name
			t.Run(name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				var body any
				if rt.method == "POST" || rt.method == "PATCH" {
					body = map[string]any{}
				}
				r := tc.on(t).do(rt.method, rt.path, body)
				if want && (r.Status == 401 || r.Status == 403) {
					t.Fatalf("allowed route refused: %d %s", r.Status, r.Raw)
				}
				if !want && (r.Status != 403 || r.Code() != "forbidden") {
					t.Fatalf("status = %d %s, want 403 forbidden", r.Status, r.Raw)
				}
			})
		}
		for _, rt := range refused {
			t.Run(name+" refused "+rt.method+" "+rt.path, func(t *testing.T) {
				var body any
				if rt.method == "POST" || rt.method == "PATCH" || rt.method == "PUT" {
					body = map[string]any{}
				}
				r := tc.on(t).do(rt.method, rt.path, body)
				if r.Status != 403 || r.Code() != "forbidden" {
					t.Fatalf("status = %d %s, want 403 forbidden", r.Status, r.Raw)
				}
			})
		}
	}

	// Spelling variants Fiber routes to the same handler get the same answer.
	bal := c.asToken(tokens[scopeBalancesRead])
	for _, p := range []string{"/v1/balances/", "/V1/Balances", "/v1/BALANCES/usd"} {
		if r := bal.do("GET", p, nil); r.Status == 401 || r.Status == 403 {
			t.Fatalf("GET %s with balances:read: %d %s", p, r.Status, r.Raw)
		}
	}
	for _, p := range []string{"/V1/BUSINESS", "/v1/business/", "/v1/Customers/" + cust} {
		if r := bal.do("GET", p, nil); r.Status != 403 {
			t.Fatalf("GET %s with a token: %d %s, want 403", p, r.Status, r.Raw)
		}
	}
	if r := bal.do("HEAD", "/v1/profile", nil); r.Status != 200 {
		t.Fatalf("HEAD /v1/profile: %d", r.Status)
	}
	if r := bal.do("HEAD", "/v1/business", nil); r.Status != 403 {
		t.Fatalf("HEAD /v1/business: %d, want 403", r.Status)
	}
}

// TestScopeRouteIndexMatchesFiber checks the scope check's route prediction against
// Fiber's own router: an app with the server's routes, in the same order, answers
// each path with the route it dispatched to.
func TestScopeRouteIndexMatchesFiber(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	cfg := srv.App().Config()
	ref := fiber.New(fiber.Config{CaseSensitive: cfg.CaseSensitive, StrictRouting: cfg.StrictRouting, DisableStartupMessage: true})
	var paths []string
	registered := map[string]bool{}
	for _, r := range srv.App().GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/v1") || r.Method == "HEAD" {
			continue
		}
		ref.Add(r.Method, r.Path, func(c *fiber.Ctx) error { return c.SendString(c.Route().Path) })
		registered[r.Method+" "+r.Path] = true
		paths = append(paths, r.Method+" "+concretePath(r.Path))
	}
	for k := range tokenRoutes {
		method, tmpl, _ := strings.Cut(k, " ")
		paths = append(paths, method+" "+concretePath(tmpl))
	}
	paths = append(paths, "GET /v1/transactions/export.csv", "GET /V1/BALANCES", "GET /v1/balances/",
		"GET /v1//balances", "POST /v1/payouts/%2F/cancel", "POST /v1/payouts//cancel", "GET /v1/payouts/a.b",
		"POST /v1/payouts/x/cancel/", "GET /v1/customers/export.csv", "GET /v1/api-keys")
	if len(registered) < 4 {
		t.Fatalf("only %d /v1 routes registered", len(registered))
	}
	for _, mp := range paths {
		method, path, _ := strings.Cut(mp, " ")
		res, err := ref.Test(httptest.NewRequest(method, path, nil))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		got := srv.routeTemplate(method, path)
		if res.StatusCode == 200 && got != string(body) {
			t.Errorf("%s %s: predicted %q, Fiber routed to %q", method, path, got, body)
		}
		if res.StatusCode != 200 && registered[method+" "+got] {
			t.Errorf("%s %s: predicted registered route %q, Fiber matched none (%d)", method, path, got, res.StatusCode)
		}
	}
}

func TestTokenProfileHeader(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	other := newClient(t, srv, ledger.ModeSandbox)
	own := c.createCustomer("own@example.com")
	sibling := c.createCustomer("sibling@example.com")
	foreign := other.createCustomer("foreign@example.com")
	tc := c.asToken(c.mintToken(own, scopeBalancesRead))

	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"absent acts as the customer", "", 200},
		{"own id", own, 200},
		{"sibling customer", sibling, 403},
		{"the business", c.business.ID, 403},
		{"another tenant's customer", foreign, 403},
		{"garbage", "nope", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tc.on(t).do("GET", "/v1/profile", nil, HeaderProfileID, tt.header).must(t, tt.want)
			if tt.want == 403 {
				if r.Code() != "forbidden" {
					t.Fatalf("code = %q, want forbidden", r.Code())
				}
				return
			}
			var p struct {
				ProfileID string `json:"profile_id"`
				Type      string `json:"type"`
			}
			r.Data(t, &p)
			if p.ProfileID != own || p.Type != "customer" {
				t.Fatalf("profile = %+v, want customer %s", p, own)
			}
		})
	}
	// An allowed money route with another profile is refused before routing, too.
	tc.do("GET", "/v1/balances", nil, HeaderProfileID, sibling).must(t, 403)
}

// TestTokenCustomerLoadedFresh checks that a suspension shows on the very next
// request of a live token (the money handlers refuse it with profile_inactive).
func TestTokenCustomerLoadedFresh(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	cust := c.createCustomer("fresh@example.com")
	tc := c.asToken(c.mintToken(cust, scopePayoutsWrite))
	status := func() string {
		var p struct{ Status string }
		tc.do("GET", "/v1/profile", nil).must(t, 200).Data(t, &p)
		return p.Status
	}
	if s := status(); s != "active" {
		t.Fatalf("status = %s, want active", s)
	}
	setCustomerStatus(t, c.business.ID, cust, ledger.CustomerSuspended)
	if s := status(); s != "suspended" {
		t.Fatalf("status = %s, want suspended", s)
	}
	// Money out stops at once for the live token (once the payout routes exist).
	if routeRegistered(srv, "POST", "/v1/payouts") {
		r := tc.do("POST", "/v1/payouts", map[string]any{"currency": "USDT", "amount": "1", "network": "ethereum",
			"address": "0x" + strings.Repeat("ab", 20), "beneficiary": map[string]any{"name": "Ada Lovelace"}}).must(t, 403)
		if r.Code() != "profile_inactive" {
			t.Fatalf("payout by a suspended customer's token: %s", r.Raw)
		}
	}
	setCustomerStatus(t, c.business.ID, cust, ledger.CustomerClosed)
	if s := status(); s != "closed" {
		t.Fatalf("status = %s, want closed", s)
	}
	// A closed customer gets no new token.
	r := c.do("POST", "/v1/customers/"+cust+"/tokens", map[string]any{"scopes": []string{scopeBalancesRead}}).must(t, 409)
	if r.Code() != "invalid_state" {
		t.Fatalf("code = %q, want invalid_state", r.Code())
	}
}

func TestTokenRejected(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	other := newClient(t, srv, ledger.ModeSandbox)
	cust := c.createCustomer("rejected@example.com")
	foreign := other.createCustomer("foreign@example.com")
	key := srv.cfg.TokenKeys[len(srv.cfg.TokenKeys)-1]
	now := time.Now()
	hs := func(edit func(*tokenClaims)) string {
		cl := validClaims(c.business.ID, cust, now)
		edit(cl)
		return forge(t, jwt.SigningMethodHS256, key.ID, key.Key, cl)
	}
	good := hs(func(*tokenClaims) {})
	c.asToken(good).do("GET", "/v1/profile", nil).must(t, 200)

	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(payload), cust, foreign, 1)
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"` + key.ID + `"}`))
	claimsJSON, _ := json.Marshal(validClaims(c.business.ID, cust, now))

	tests := []struct{ name, token string }{
		{"expired", hs(func(cl *tokenClaims) {
			cl.IssuedAt, cl.NotBefore = jwt.NewNumericDate(now.Add(-time.Hour)), jwt.NewNumericDate(now.Add(-time.Hour))
			cl.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
		})},
		{"not yet valid", hs(func(cl *tokenClaims) { cl.NotBefore = jwt.NewNumericDate(now.Add(5 * time.Minute)) })},
		{"issued in the future", hs(func(cl *tokenClaims) { cl.IssuedAt = jwt.NewNumericDate(now.Add(5 * time.Minute)) })},
		{"no exp", hs(func(cl *tokenClaims) { cl.ExpiresAt = nil })},
		{"lifetime over the maximum", hs(func(cl *tokenClaims) { cl.ExpiresAt = jwt.NewNumericDate(now.Add(48 * time.Hour)) })},
		{"wrong audience", hs(func(cl *tokenClaims) { cl.Audience = jwt.ClaimStrings{"someone-else"} })},
		{"no audience", hs(func(cl *tokenClaims) { cl.Audience = nil })},
		{"wrong issuer", hs(func(cl *tokenClaims) { cl.Issuer = "evil" })},
		{"unknown scope", hs(func(cl *tokenClaims) { cl.Scopes = []string{"admin"} })},
		{"no scopes", hs(func(cl *tokenClaims) { cl.Scopes = nil })},
		{"customer of another business", hs(func(cl *tokenClaims) { cl.Subject = foreign })},
		{"unknown customer", hs(func(cl *tokenClaims) { cl.Subject = ledger.NewID(ledger.PrefixCustomer) })},
		{"unknown business", hs(func(cl *tokenClaims) { cl.Business = ledger.NewID(ledger.PrefixBusiness) })},
		{"alg none", noneHeader + "." + base64.RawURLEncoding.EncodeToString(claimsJSON) + "."},
		{"alg none via library", forge(t, jwt.SigningMethodNone, key.ID, jwt.UnsafeAllowNoneSignatureType, validClaims(c.business.ID, cust, now))},
		{"HS512", forge(t, jwt.SigningMethodHS512, key.ID, key.Key, validClaims(c.business.ID, cust, now))},
		{"wrong key", forge(t, jwt.SigningMethodHS256, key.ID, []byte(strings.Repeat("k", 32)), validClaims(c.business.ID, cust, now))},
		{"unknown kid", forge(t, jwt.SigningMethodHS256, "retired", key.Key, validClaims(c.business.ID, cust, now))},
		{"no kid", forge(t, jwt.SigningMethodHS256, "", key.Key, validClaims(c.business.ID, cust, now))},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{"truncated", parts[0] + "." + parts[1] + "."},
		{"three dots of garbage", "a.b.c"},
		{"oversized", parts[0] + "." + strings.Repeat("A", tokenLenMax) + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.on(t).asToken(tt.token).do("GET", "/v1/profile", nil).must(t, 401)
			if r.Code() != "unauthenticated" {
				t.Fatalf("code = %q, want unauthenticated", r.Code())
			}
		})
	}
}

// TestTokenKeyRotation: the newest key signs, every configured key verifies, and a
// key removed from the configuration stops verifying at once.
func TestTokenKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey := config.TokenKey{ID: "k2025", Key: []byte(strings.Repeat("o", 32))}
	newKey := config.TokenKey{ID: "k2026", Key: []byte(strings.Repeat("n", 32))}
	before := testServerWith(t, func(cfg *config.Config) { cfg.TokenKeys = []config.TokenKey{oldKey} })
	during := testServerWith(t, func(cfg *config.Config) { cfg.TokenKeys = []config.TokenKey{oldKey, newKey} })
	after := testServerWith(t, func(cfg *config.Config) { cfg.TokenKeys = []config.TokenKey{newKey} })

	c := newClient(t, before, ledger.ModeSandbox)
	cust := c.createCustomer("rotation@example.com")
	oldToken := c.mintToken(cust, scopeBalancesRead)
	newToken := (&client{tb: t, srv: during, key: c.key, business: c.business}).mintToken(cust, scopeBalancesRead)

	kid := func(raw string) string {
		tok, _, err := jwt.NewParser().ParseUnverified(raw, &tokenClaims{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Header["kid"].(string)
	}
	if kid(oldToken) != oldKey.ID || kid(newToken) != newKey.ID {
		t.Fatalf("kids = %s, %s; want %s, %s", kid(oldToken), kid(newToken), oldKey.ID, newKey.ID)
	}
	tests := []struct {
		name  string
		srv   *Server
		token string
		want  int
	}{
		{"old token, old key only", before, oldToken, 200},
		{"old token, both keys", during, oldToken, 200},
		{"new token, both keys", during, newToken, 200},
		{"new token, new key only", after, newToken, 200},
		{"old token, old key removed", after, oldToken, 401},
		{"new token, before the new key", before, newToken, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := (&client{tb: t, srv: tt.srv, key: tt.token}).do("GET", "/v1/profile", nil).must(t, tt.want)
			if tt.want == 401 && r.Code() != "unauthenticated" {
				t.Fatalf("code = %q, want unauthenticated", r.Code())
			}
		})
	}
}

func TestTokenCreate(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	other := newClient(t, srv, ledger.ModeSandbox)
	cust := c.createCustomer("create@example.com")
	foreign := other.createCustomer("foreign@example.com")
	path := "/v1/customers/" + cust + "/tokens"

	start := time.Now().Truncate(time.Second)
	r := c.do("POST", path, map[string]any{"scopes": []string{scopePayoutsWrite, scopeBalancesRead}}).must(t, 201)
	var got struct {
		ID         string   `json:"id"`
		Token      *string  `json:"token"`
		ExpiresAt  string   `json:"expires_at"`
		Scopes     []string `json:"scopes"`
		CustomerID string   `json:"customer_id"`
	}
	r.Data(t, &got)
	exp, err := time.Parse(time.RFC3339, got.ExpiresAt)
	if err != nil || got.Token == nil || got.CustomerID != cust {
		t.Fatalf("token response %s", r.Raw)
	}
	if d := exp.Sub(start); d < tokenTTLDefault || d > tokenTTLDefault+5*time.Second {
		t.Fatalf("expires in %s, want %s", d, tokenTTLDefault)
	}
	if strings.Join(got.Scopes, ",") != scopeBalancesRead+","+scopePayoutsWrite {
		t.Fatalf("scopes = %v", got.Scopes)
	}
	claims, err := parseToken(srv.cfg.TokenKeys, *got.Token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != cust || claims.Business != c.business.ID || claims.ID != got.ID || claims.ExpiresAt.Unix() != exp.Unix() {
		t.Fatalf("claims = %+v", claims)
	}

	tests := []struct {
		name      string
		body      any
		wantCode  string
		wantParam string
	}{
		{"no scopes", map[string]any{}, "validation_failed", "scopes"},
		{"empty scopes", map[string]any{"scopes": []string{}}, "validation_failed", "scopes"},
		{"unknown scope", map[string]any{"scopes": []string{"customers:write"}}, "validation_failed", "scopes"},
		{"duplicate scope", map[string]any{"scopes": []string{scopeBalancesRead, scopeBalancesRead}}, "validation_failed", "scopes"},
		{"ttl too short", map[string]any{"scopes": []string{scopeBalancesRead}, "ttl_seconds": 59}, "validation_failed", "ttl_seconds"},
		{"ttl too long", map[string]any{"scopes": []string{scopeBalancesRead}, "ttl_seconds": 3601}, "validation_failed", "ttl_seconds"},
		{"ttl not an integer", map[string]any{"scopes": []string{scopeBalancesRead}, "ttl_seconds": 90.5}, "validation_failed", "ttl_seconds"},
		{"unknown field", map[string]any{"scopes": []string{scopeBalancesRead}, "ttl": 60}, "unknown_field", "ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.on(t).do("POST", path, tt.body).must(t, 400)
			if r.Code() != tt.wantCode || r.Body.Error.Param != tt.wantParam {
				t.Fatalf("error = %s, want %s on %s", r.Raw, tt.wantCode, tt.wantParam)
			}
		})
	}

	var bounds struct {
		ExpiresAt string `json:"expires_at"`
	}
	c.do("POST", path, map[string]any{"scopes": []string{scopeBalancesRead}, "ttl_seconds": 60}).must(t, 201).Data(t, &bounds)
	c.do("POST", path, map[string]any{"scopes": []string{scopeBalancesRead}, "ttl_seconds": 3600}).must(t, 201)

	// Another business's customer answers exactly like one that never existed.
	body := map[string]any{"scopes": []string{scopeBalancesRead}}
	r1 := c.do("POST", "/v1/customers/"+foreign+"/tokens", body).must(t, 404)
	r2 := c.do("POST", "/v1/customers/"+ledger.NewID(ledger.PrefixCustomer)+"/tokens", body).must(t, 404)
	if r1.Code() != r2.Code() || r1.Body.Error.Name != r2.Body.Error.Name {
		t.Fatalf("foreign %s vs unknown %s", r1.Raw, r2.Raw)
	}

	// A replay answers the same token id, without the token: secrets never rest in
	// the idempotency store.
	a := c.do("POST", path, body, "Idempotency-Key", "tok-1").must(t, 201)
	b := c.do("POST", path, body, "Idempotency-Key", "tok-1").must(t, 201)
	var first, replay struct {
		ID    string  `json:"id"`
		Token *string `json:"token"`
	}
	a.Data(t, &first)
	b.Data(t, &replay)
	if b.Header.Get("Idempotent-Replayed") != "true" || replay.ID != first.ID || first.Token == nil || replay.Token != nil {
		t.Fatalf("first %s, replay %s", a.Raw, b.Raw)
	}

	// Only secret keys mint tokens; read-only keys cannot either.
	tc := c.asToken(*got.Token)
	tc.do("POST", path, body).must(t, 403)
	_, roSecret, err := pgtest.Store(t).CreateAPIKey(context.Background(), c.business.ID, ledger.KeyReadOnly, "ro")
	if err != nil {
		t.Fatal(err)
	}
	c.asToken(roSecret).do("POST", path, body).must(t, 403)
}
