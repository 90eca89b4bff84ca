package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// testServer builds a Server on the test database, with workers off.
func testServer(tb testing.TB) *Server {
	tb.Helper()
	cfg, err := config.Load(func(k string) (string, bool) {
		if k == "DATABASE_URL" {
			return pgtest.URL(tb), true
		}
		if k == "TALLY_WORKERS" {
			return "false", true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return listen(tb, New(Options{Config: cfg, Store: pgtest.Store(tb), Logger: log, Spec: []byte("openapi: 3.1.0\n"), Version: "test"}))
}

// listen serves srv on a loopback port for the test's lifetime, so requests take
// the real network path (body limits, headers) an integrator's would.
func listen(tb testing.TB, srv *Server) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.App().Listener(ln) }()
	srv.testURL = "http://" + ln.Addr().String()
	tb.Cleanup(func() { _ = srv.Shutdown(5 * time.Second) })
	return srv
}

var httpClient = &http.Client{Timeout: 60 * time.Second}

// on returns a copy of c that reports failures to tb (use inside subtests).
func (c *client) on(tb testing.TB) *client {
	cc := *c
	cc.tb = tb
	return &cc
}

// client calls a test server as one business.
type client struct {
	tb       testing.TB
	srv      *Server
	key      string
	business ledger.Business
}

func newClient(tb testing.TB, srv *Server, mode ledger.Mode) *client {
	tb.Helper()
	b, key := pgtest.Business(tb, mode)
	return &client{tb: tb, srv: srv, key: key, business: b}
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   struct {
		Status     string          `json:"status"`
		Message    string          `json:"message"`
		Data       json.RawMessage `json:"data"`
		Pagination *struct {
			Limit      int     `json:"limit"`
			HasMore    bool    `json:"has_more"`
			NextCursor *string `json:"next_cursor"`
		} `json:"pagination"`
		Error *struct {
			Name      string            `json:"name"`
			Code      string            `json:"code"`
			Message   string            `json:"message"`
			Param     string            `json:"param"`
			Fields    map[string]string `json:"fields"`
			RequestID string            `json:"request_id"`
		} `json:"error"`
	}
}

// Code returns error.code, or "" for a success.
func (r *response) Code() string {
	if r.Body.Error == nil {
		return ""
	}
	return r.Body.Error.Code
}

// Data decodes data into v.
func (r *response) Data(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body.Data, v); err != nil {
		tb.Fatalf("decode data %s: %v", r.Raw, err)
	}
}

// do sends one request. body may be nil, a string (sent as is) or a value (JSON).
// headers alternate name, value.
func (c *client) do(method, path string, body any, headers ...string) *response {
	c.tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.tb.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.srv.testURL+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := httpClient.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out := &response{Status: res.StatusCode, Header: res.Header}
	out.Raw, _ = io.ReadAll(res.Body)
	if len(out.Raw) > 0 && out.Raw[0] == '{' {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			c.tb.Fatalf("%s %s: decode %q: %v", method, path, out.Raw, err)
		}
	}
	return out
}

// must asserts the status and returns the response.
func (r *response) must(tb testing.TB, status int) *response {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Raw)
	}
	return r
}

// createCustomer creates an individual customer and returns its id.
func (c *client) createCustomer(email string) string {
	c.tb.Helper()
	r := c.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": email, "first_name": "Ada", "last_name": "Lovelace"}).must(c.tb, 201)
	var cu struct{ ID string }
	r.Data(c.tb, &cu)
	return cu.ID
}
