package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tallyhq/tally/internal/pgtest"
)

// binary builds cmd/tally once per test process.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func tallyBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "tally-crashtest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tally")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/tally")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/tally: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// crashDatabase returns the URL of a database of its own (tally_crashtest, next to
// the test database), created on first use. The servers these tests start run
// the sandbox rail and the webhook worker, which act on every business of their
// database; on the shared test database they would advance other tests' payouts
// and deliver other tests' webhooks.
func crashDatabase(t testing.TB) string {
	t.Helper()
	base := pgtest.URL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const name = "tally_crashtest"
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+name)
		var pg *pgconn.PgError
		if err != nil && !(errors.As(err, &pg) && (pg.Code == "42P04" || pg.Code == "23505")) {
			t.Fatalf("create database %s: %v", name, err)
		}
	}
	u.Path = "/" + name
	return u.String()
}

// server is one `tally serve` process; restart reuses its address and env.
type server struct {
	t       testing.TB
	bin     string
	addr    string
	env     []string
	log     *os.File
	cmd     *exec.Cmd
	exited  chan struct{}
	started int
}

func startServer(t testing.TB, dbURL string, extraEnv ...string) *server {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, bin: tallyBinary(t), addr: freeAddr(t), log: logf}
	s.env = append(os.Environ(), "DATABASE_URL="+dbURL, "TALLY_ADDR="+s.addr, "TALLY_WORKERS=true",
		"TALLY_LOG_LEVEL=warn", "TALLY_RATE_LIMIT_RPS=100000", "TALLY_RATE_LIMIT_BURST=100000", "TALLY_SHUTDOWN_GRACE=1s")
	s.env = append(s.env, extraEnv...)
	s.start()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("server log (tail):\n%s", b)
		}
	})
	return s
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Env = s.env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.started++
	exited := make(chan struct{})
	s.exited = exited
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.t.Fatalf("tally serve exited during start (start #%d); see log %s", s.started, s.log.Name())
		default:
		}
		res, err := http.Get(s.url() + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("tally serve not ready after 60s")
}

// kill sends SIGKILL: no graceful shutdown, no deferred cleanup.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// tally runs the binary as an operator command and returns its stdout.
func tally(t testing.TB, dbURL string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(tallyBinary(t), args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("tally %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out, nil
}

type sandboxBusiness struct {
	ID        string `json:"id"`
	SecretKey string `json:"secret_key"`
}

func createSandboxBusiness(t testing.TB, dbURL, name string) sandboxBusiness {
	t.Helper()
	out, err := tally(t, dbURL, "businesses", "create", "--name", name, "--sandbox")
	if err != nil {
		t.Fatal(err)
	}
	var b sandboxBusiness
	if err := json.Unmarshal(out, &b); err != nil || b.SecretKey == "" {
		t.Fatalf("businesses create printed %q: %v", out, err)
	}
	return b
}

// apiResult is one HTTP exchange; err is set when no response arrived.
type apiResult struct {
	status int
	code   string
	data   json.RawMessage
	raw    []byte
	err    error
	// replayed is Idempotent-Replayed: true (the answer of an earlier attempt).
	replayed bool
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func call(ctx context.Context, base, key, method, path string, body any, headers ...string) apiResult {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return apiResult{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return apiResult{err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return apiResult{err: err} // the server died mid-body: no complete response
	}
	out := apiResult{status: res.StatusCode, raw: raw, replayed: res.Header.Get("Idempotent-Replayed") == "true"}
	var env struct {
		Data  json.RawMessage `json:"data"`
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil {
		out.data = env.Data
		if env.Error != nil {
			out.code = env.Error.Code
		}
	}
	return out
}

// mustCall fails the test unless the call answers want.
func mustCall(t testing.TB, base, key string, want int, method, path string, body any, headers ...string) apiResult {
	t.Helper()
	r := call(context.Background(), base, key, method, path, body, headers...)
	if r.err != nil || r.status != want {
		t.Fatalf("%s %s: status %d err %v, want %d; body %s", method, path, r.status, r.err, want, r.raw)
	}
	return r
}
