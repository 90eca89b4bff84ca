package dashboard_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/api"
	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/dashboard"
	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// testEnv is the API with the dashboard mounted, served on a loopback port.
type testEnv struct {
	srv *api.Server
	url string
}

func newEnv(tb testing.TB) *testEnv {
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
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	store := pgtest.Store(tb)
	srv := api.New(api.Options{Config: cfg, Store: store, Logger: log, Spec: []byte("openapi: 3.1.0\n"), Version: "test"})
	dashboard.New(dashboard.Options{Store: store, Domain: srv, Logger: log, RequestTimeout: cfg.RequestTimeout,
		Key: dashboard.DeriveKey("", cfg.TokenKeys[len(cfg.TokenKeys)-1].Key)}).Register(srv.App())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.App().Listener(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown(5 * time.Second) })
	return &testEnv{srv: srv, url: "http://" + ln.Addr().String()}
}

// tenant is one business with a secret key and dashboard users.
type tenant struct {
	business ledger.Business
	key      string
}

func newTenant(tb testing.TB) *tenant {
	tb.Helper()
	b, key := pgtest.Business(tb, ledger.ModeSandbox)
	return &tenant{business: b, key: key}
}

// mustCreateUser adds a dashboard user with a unique email and returns email and password.
func (tn *tenant) mustCreateUser(tb testing.TB, role dashboard.Role) (string, string) {
	tb.Helper()
	email := strings.ToLower(ledger.NewID("u")) + "@example.com"
	u, pw, err := dashboard.CreateUser(context.Background(), pgtest.Store(tb), tn.business.ID, email, role, "")
	if err != nil {
		tb.Fatalf("create user: %v", err)
	}
	if !strings.HasPrefix(u.ID, dashboard.PrefixUser) || len(pw) < 20 {
		tb.Fatalf("user %+v password %q", u, pw)
	}
	return email, pw
}

// apiCall calls the JSON API with the tenant's secret key.
func (e *testEnv) apiCall(tb testing.TB, tn *tenant, method, path, body string, headers ...string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tn.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(raw)
}

var idRe = regexp.MustCompile(`"id":"([A-Z]+_[0-9A-Z]+)"`)

// mustCreateCustomer creates an individual customer through the API and returns its id.
func (e *testEnv) mustCreateCustomer(tb testing.TB, tn *tenant, email, first, last string) string {
	tb.Helper()
	st, body := e.apiCall(tb, tn, "POST", "/v1/customers",
		`{"type":"individual","email":"`+email+`","first_name":"`+first+`","last_name":"`+last+`"}`)
	if st != 201 {
		tb.Fatalf("create customer: %d %s", st, body)
	}
	return idRe.FindStringSubmatch(body)[1]
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	tb  testing.TB
	e   *testEnv
	c   *http.Client
	res *http.Response
}

func (e *testEnv) newBrowser(tb testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tb: tb, e: e, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.tb.Helper()
	res, err := b.c.Get(b.e.url + path)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	b.res = res
	return res.StatusCode, string(raw)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.tb.Helper()
	res, err := b.c.PostForm(b.e.url+path, form)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	b.res = res
	return res.StatusCode, string(raw)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.tb.Helper()
	st, body := b.get(path)
	m := csrfRe.FindStringSubmatch(body)
	if st != 200 || m == nil {
		b.tb.Fatalf("GET %s: %d, no csrf token in %.300s", path, st, body)
	}
	return m[1]
}

// login signs in and fails the test unless it succeeds.
func (b *browser) login(email, password string) {
	b.tb.Helper()
	tok := b.csrf("/dashboard/login")
	st, body := b.post("/dashboard/login", url.Values{"csrf": {tok}, "email": {email}, "password": {password}})
	if st != 303 || b.res.Header.Get("Location") != "/dashboard" {
		b.tb.Fatalf("login: %d %s %.300s", st, b.res.Header.Get("Location"), body)
	}
}
