package crashtest

// Database outage (issue 9). Goal: when PostgreSQL goes away mid-load the API
// answers 503 quickly instead of hanging, readiness goes red, nothing is
// half-written, and when the database returns the same server process recovers.
// Method: this test owns a private embedded cluster (devdb on a temp root), so it
// can stop it without disturbing other tests. It starts `tally serve` against it
// with TALLY_REQUEST_TIMEOUT=2s, drives transfers and payouts with
// Idempotency-Keys, stops PostgreSQL (pg_ctl stop -m fast: running transactions
// roll back), asserts every request during the outage answers within
// outageAnswerMax with 503 (or a success that committed before), checks /readyz,
// starts PostgreSQL again, and then retries every 503 / unanswered request with
// its key: each ends with exactly one effect or none, and `tally verify` is clean.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/devdb"
)

// outageAnswerMax bounds how long any request may take while the database is down.
const outageAnswerMax = 5 * time.Second

func TestDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops its own PostgreSQL cluster")
	}
	root := t.TempDir()
	cluster, err := devdb.Find(root)
	if err != nil {
		t.Skipf("no embedded PostgreSQL for the outage test: %v", err)
	}
	dbURL, err := cluster.Start("tally_outage")
	if err != nil {
		t.Fatalf("the outage test needs its own embedded cluster (devdb.Find(%s) → %s), and it did not start: %v", root, cluster.Dir, err)
	}
	t.Cleanup(func() {
		_ = cluster.Stop()
		if strings.HasPrefix(cluster.Dir, os.TempDir()) || strings.HasPrefix(cluster.Dir, root) {
			_ = os.RemoveAll(cluster.Dir)
		}
		_ = os.Remove(filepath.Join(root, ".data", "postgres"))
	})

	srv := startServer(t, dbURL, "TALLY_REQUEST_TIMEOUT=2s")
	biz := createSandboxBusiness(t, dbURL, "outage")
	key := biz.SecretKey
	var customers []string
	for i := 0; i < 3; i++ {
		var c struct{ ID string }
		r := mustCall(t, srv.url(), key, 201, "POST", "/v1/customers", map[string]any{"type": "individual",
			"email": fmt.Sprintf("outage%d@example.com", i), "first_name": "Out", "last_name": "Age"})
		_ = json.Unmarshal(r.data, &c)
		var a struct{ Address string }
		r = mustCall(t, srv.url(), key, 201, "POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "ethereum"},
			headerProfile, c.ID)
		_ = json.Unmarshal(r.data, &a)
		mustCall(t, srv.url(), key, 201, "POST", "/v1/sandbox/deposits", map[string]any{"currency": "USDT", "network": "ethereum",
			"amount": "1000", "to_address": a.Address}, headerProfile, c.ID)
		customers = append(customers, c.ID)
	}
	profiles := append([]string{biz.ID}, customers...)

	type timed struct {
		op      *crashOp
		elapsed time.Duration
		down    bool // sent while the database was down
	}
	var (
		mu      sync.Mutex
		results []timed
		ops     []*crashOp
		down    bool
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w)))
			for i := 0; ctx.Err() == nil; i++ {
				from := customers[r.Intn(len(customers))]
				o := &crashOp{key: fmt.Sprintf("outage-%d-%d-%d", time.Now().UnixNano(), w, i), profile: from}
				if i%3 == 2 {
					o.kind, o.body = "payout", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "5",
						"address": fmt.Sprintf("0x%040x", r.Int63()), "reference": o.key}
				} else {
					to := profiles[r.Intn(len(profiles))]
					for to == from {
						to = profiles[r.Intn(len(profiles))]
					}
					o.kind, o.body = "transfer", map[string]any{"currency": "USDT", "amount": "1", "to_profile_id": to, "description": o.key}
				}
				mu.Lock()
				wasDown := down
				mu.Unlock()
				start := time.Now()
				o.first = o.send(context.Background(), srv.url(), key)
				o.final = o.first
				mu.Lock()
				results = append(results, timed{o, time.Since(start), wasDown})
				ops = append(ops, o)
				mu.Unlock()
				if o.first.status == 503 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}(w)
	}

	time.Sleep(time.Second)
	stopStart := time.Now()
	if err := cluster.Stop(); err != nil {
		cancel()
		wg.Wait()
		t.Fatalf("stop the test cluster: %v", err)
	}
	mu.Lock()
	down = true
	mu.Unlock()
	t.Logf("PostgreSQL stopped in %s", time.Since(stopStart).Round(time.Millisecond))

	// Readiness goes red, quickly.
	readyStart := time.Now()
	res, err := (&http.Client{Timeout: outageAnswerMax}).Get(srv.url() + "/readyz")
	if err != nil {
		t.Errorf("/readyz during the outage: %v", err)
	} else {
		res.Body.Close()
		if res.StatusCode != 503 {
			t.Errorf("/readyz during the outage = %d, want 503", res.StatusCode)
		}
	}
	if d := time.Since(readyStart); d > outageAnswerMax {
		t.Errorf("/readyz took %s during the outage", d)
	}
	// The liveness probe stays green: restarting the process would not help.
	if res, err := http.Get(srv.url() + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Errorf("/healthz during the outage: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	time.Sleep(3 * time.Second) // load keeps running against the dead database
	if err := restartCluster(cluster); err != nil {
		cancel()
		wg.Wait()
		t.Fatalf("restart the test cluster: %v", err)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	recoverStart := time.Now()
	for {
		res, err := http.Get(srv.url() + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Since(recoverStart) > 30*time.Second {
			t.Fatal("/readyz did not recover within 30s of PostgreSQL's restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("ready again %s after PostgreSQL restarted", time.Since(recoverStart).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond) // some load after recovery
	cancel()
	wg.Wait()

	var during, unavailable, slow int
	for _, r := range results {
		st := r.op.first.status
		if r.elapsed > outageAnswerMax {
			slow++
			t.Errorf("%s %s took %s (status %d): requests must not hang while the database is down", r.op.kind, r.op.key, r.elapsed, st)
		}
		if r.op.first.err != nil {
			t.Errorf("%s %s got no response: %v", r.op.kind, r.op.key, r.op.first.err)
			continue
		}
		if r.down {
			during++
		}
		switch {
		case st == 503:
			unavailable++
			if r.op.first.code != "service_unavailable" {
				t.Errorf("503 with code %q, want service_unavailable: %s", r.op.first.code, r.op.first.raw)
			}
		case st >= 500:
			t.Errorf("%s %s answered %d during the outage, want 503: %s", r.op.kind, r.op.key, st, r.op.first.raw)
		}
	}
	if unavailable == 0 {
		t.Fatalf("no request saw the outage (%d sent while down); the test did not test anything", during)
	}
	t.Logf("%d requests, %d sent while down, %d answered 503, none slower than %s", len(results), during, unavailable, outageAnswerMax)

	// Nothing half-written: every 503 is retried with its key and ends with
	// exactly one effect (or none when refused), like after a crash.
	retryUnanswered(t, srv, key, ops)
	transfers := listByKey(t, srv.url(), key, profiles, "transfers", "description")
	payouts := listByKey(t, srv.url(), key, customers, "payouts", "reference")
	for _, o := range ops {
		effects := transfers[o.key]
		if o.kind == "payout" {
			effects = payouts[o.key]
		}
		switch st := o.final.status; {
		case st == 200 || st == 201:
			var got struct{ ID string }
			_ = json.Unmarshal(o.final.data, &got)
			if len(effects) != 1 || effects[0] != got.ID {
				t.Errorf("%s %s answered %d with %s, effects %v", o.kind, o.key, st, got.ID, effects)
			}
		case st >= 400 && st < 500:
			if len(effects) != 0 {
				t.Errorf("%s %s refused (%d) but took effect: %v", o.kind, o.key, st, effects)
			}
		default:
			t.Errorf("%s %s: final status %d err %v", o.kind, o.key, st, o.final.err)
		}
	}
	waitPayoutsSettled(t, srv.url(), key, customers)
	if out, err := tally(t, dbURL, "verify", "--business", biz.ID); err != nil {
		t.Fatalf("verify after the outage: %v\n%s", err, out)
	}
	if srv.started != 1 {
		t.Fatalf("the server was restarted %d times; it must recover by itself", srv.started-1)
	}
}

// restartCluster starts the stopped cluster again; a fast stop leaves nothing to
// recover, so this takes a second or two.
func restartCluster(c *devdb.Cluster) error {
	var err error
	for i := 0; i < 3; i++ {
		if _, err = c.Start(); err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return errors.Join(errors.New("devdb start"), err)
}
