package api

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// syncBuffer is a bytes.Buffer safe for the server's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serverWithLog is testServer with a debug-level JSON logger writing to logs and
// extra environment (e.g. TALLY_REQUEST_TIMEOUT).
func serverWithLog(tb testing.TB, logs *syncBuffer, env map[string]string) *Server {
	tb.Helper()
	cfg, err := config.Load(func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
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
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return listen(tb, New(Options{Config: cfg, Store: pgtest.Store(tb), Logger: log, Spec: []byte("openapi: 3.1.0\n"), Version: "test"}))
}

// TestLogsCarryNoSecrets captures every log line of a run that issues and uses
// every kind of secret (secret keys, read-only keys, customer tokens, webhook
// secrets, rail keys), sends bad and foreign credentials, triggers errors, and
// puts secrets where careless code might log them (query strings, headers, JSON
// bodies). Then no secret, no secret prefix and no Authorization value may
// appear in the logs.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	srv := serverWithLog(t, logs, nil)
	c := newClient(t, srv, ledger.ModeSandbox)
	secrets := []string{c.key}

	var k struct{ Secret, Key string }
	r := c.do("POST", "/v1/api-keys", map[string]any{"mode": "read_only", "name": "logs"}).must(t, 201)
	var kv map[string]any
	r.Data(t, &kv)
	for _, v := range kv {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "sk_") {
			secrets = append(secrets, s)
		}
	}
	_ = k
	cust := c.createCustomer("logs@example.com")
	var tok struct{ Token string }
	c.do("POST", "/v1/customers/"+cust+"/tokens", map[string]any{"scopes": []string{"balances:read"}}).must(t, 201).Data(t, &tok)
	secrets = append(secrets, tok.Token)
	var wh struct{ Secret string }
	c.do("POST", "/v1/webhook-endpoints", map[string]any{"url": "http://127.0.0.1:9/logs"}).must(t, 201).Data(t, &wh)
	secrets = append(secrets, wh.Secret)
	_, rail, err := pgtest.Store(t).CreateRailKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rail)
	for _, s := range secrets {
		if s == "" {
			t.Fatalf("a secret was not issued: %q", secrets)
		}
	}

	// Use each credential, right and wrong, and put secrets in odd places.
	tc := &client{tb: t, srv: srv, key: tok.Token, business: c.business}
	tc.do("GET", "/v1/balances", nil).must(t, 200)
	tc.do("GET", "/v1/customers", nil).must(t, 403)
	rc := &client{tb: t, srv: srv, key: rail}
	rc.do("GET", "/v1/rails/payouts", nil).must(t, 200)
	rc.do("GET", "/v1/balances", nil).must(t, 403)
	for _, bad := range []string{c.key + "x", "sk_live_" + strings.Repeat("a", 40), tok.Token[:len(tok.Token)-3] + "abc", "rk_nope", "eyJhbGciOiJub25lIn0.e30."} {
		(&client{tb: t, srv: srv, key: bad}).do("GET", "/v1/balances", nil).must(t, 401)
	}
	c.do("GET", "/v1/customers?q="+c.key+"&cursor="+wh.Secret, nil)
	// Paths are logged (they carry ids, never secrets: no route takes a secret in its path).
	c.do("GET", "/v1/nope", nil, "X-Api-Key", rail, "Cookie", "session="+c.key).must(t, 404)
	c.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": "x@example.com", "first_name": "Log",
		"last_name": c.key, "note": wh.Secret + " " + tok.Token, "metadata": map[string]string{"k": rail}}).must(t, 201)
	c.do("POST", "/v1/transfers", `{"amount": "`+c.key+`"`).must(t, 400)
	c.do("GET", "/v1/balances", nil, HeaderProfileID, tok.Token).must(t, 404)
	c.do("POST", "/v1/api-keys", map[string]any{"mode": "read_only"}, "Idempotency-Key", c.key).must(t, 201)

	out := logs.String()
	if !strings.Contains(out, `"msg":"request"`) {
		t.Fatalf("no access log captured; the test would prove nothing:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("a secret (%s…) appears in the logs", s[:10])
		}
		// A JWT's signature part alone is a secret too.
		if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i > 20 && strings.Contains(out, s[i+1:]) {
			t.Errorf("a token signature appears in the logs")
		}
	}
	patterns := map[string]*regexp.Regexp{
		"secret key":       regexp.MustCompile(`sk_(test|live)_[A-Za-z0-9]{8,}`),
		"rail key":         regexp.MustCompile(`rk_[A-Za-z0-9]{8,}`),
		"webhook secret":   regexp.MustCompile(`whsec_[A-Za-z0-9]{8,}`),
		"JWT":              regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`),
		"Authorization":    regexp.MustCompile(`(?i)authorization|bearer`),
		"password or hash": regexp.MustCompile(`(?i)"(password|secret|token|hash)"\s*:`),
	}
	for name, re := range patterns {
		if m := re.FindString(out); m != "" {
			t.Errorf("logs contain %s material: %q", name, m)
		}
	}
}

// TestHeaderSizeLimit: a request whose headers exceed headerLimitBytes (16 KiB) is
// refused with 431 before any handler runs; a normal large header still passes.
func TestHeaderSizeLimit(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	c.do("GET", "/v1/balances", nil, "X-Padding", strings.Repeat("a", 4<<10)).must(t, 200)

	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.testURL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET /v1/balances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nX-Padding: %s\r\n\r\n",
		c.key, strings.Repeat("a", 64<<10))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Logf("server closed the connection while the oversized header was sent: %v", err)
	}
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	status := string(buf[:n])
	if !strings.HasPrefix(status, "HTTP/1.1 431") {
		t.Fatalf("oversized header: got %q, want HTTP/1.1 431", firstLine(status))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// TestJSONDepthLimit: bodies nesting deeper than jsonDepthMax are 400
// invalid_json before decoding; at the limit they are judged normally.
func TestJSONDepthLimit(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	nest := func(n int) string {
		return `{"metadata":` + strings.Repeat(`{"a":`, n-1) + `1` + strings.Repeat(`}`, n-1) + `}`
	}
	deep := `{"email":"d@example.com","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	for _, tt := range []struct {
		name     string
		body     string
		wantCode string
	}{
		{"deeper than the limit", nest(jsonDepthMax + 1), "invalid_json"},
		{"10000 levels", deep, "invalid_json"},
		{"at the limit: judged on content", nest(jsonDepthMax), "validation_failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.on(t).do("POST", "/v1/customers", tt.body).must(t, 400)
			if r.Code() != tt.wantCode {
				t.Fatalf("code = %s, want %s; %s", r.Code(), tt.wantCode, r.Raw)
			}
		})
	}
}

// TestRequestTimeoutAnswers503: a request whose database work is blocked (here a
// row lock held by another transaction) is cut at TALLY_REQUEST_TIMEOUT and
// answered 503 service_unavailable with Retry-After, not left hanging; once the
// lock is gone the same request succeeds. See docs/reliability.md.
func TestRequestTimeoutAnswers503(t *testing.T) {
	t.Parallel()
	srv := serverWithLog(t, &syncBuffer{}, map[string]string{"TALLY_REQUEST_TIMEOUT": "1s"})
	c := newClient(t, srv, ledger.ModeSandbox)
	cust := c.createCustomer("timeout@example.com")

	ctx := context.Background()
	tx, err := pgtest.DB(t).BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM customers WHERE business_id = ? AND id = ? FOR UPDATE`, c.business.ID, cust); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := c.do("PATCH", "/v1/customers/"+cust, map[string]any{"note": "blocked"}).must(t, 503)
	elapsed := time.Since(start)
	if r.Code() != "service_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("blocked request: code %s, Retry-After %q; %s", r.Code(), r.Header.Get("Retry-After"), r.Raw)
	}
	if elapsed > 3*time.Second {
		t.Fatalf("blocked request answered after %s; the request timeout is 1s", elapsed)
	}
	_ = tx.Rollback()
	c.do("PATCH", "/v1/customers/"+cust, map[string]any{"note": "free"}).must(t, 200)
}
