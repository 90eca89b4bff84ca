package crashtest

// Crash safety (issue 9). Goal: a SIGKILL at any moment loses nothing and
// doubles nothing. Method: build the binary, start `tally serve` with the sandbox
// rail running, fund customers through sandbox deposits, then per cycle drive
// concurrent transfers and payouts (each with its own Idempotency-Key, the key
// also written into the transfer's description / payout's reference), SIGKILL the
// server at a random moment, restart it, and resend every request that got no
// response with the same key. At the end: every request answered 2xx exists and
// is complete; every request refused had no effect; every key has at most one
// effect (exactly one when it succeeded); payouts settle; `tally verify` is clean.
// TALLY_SOAK_CYCLES sets the number of kill cycles (default 2; `make soak` 20).

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

const headerProfile = "X-BU-PROFILE-ID"

type crashOp struct {
	key, kind, profile string
	body               map[string]any
	first, final       apiResult
	retries            int
}

func (o *crashOp) path() string {
	if o.kind == "deposit" {
		return "/v1/sandbox/deposits"
	}
	return "/v1/" + o.kind + "s"
}

func (o *crashOp) send(ctx context.Context, base, secret string) apiResult {
	return call(ctx, base, secret, "POST", o.path(), o.body, "Idempotency-Key", o.key, headerProfile, o.profile)
}

func soakCycles(t *testing.T) int {
	n := 2
	if v := os.Getenv("TALLY_SOAK_CYCLES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("TALLY_SOAK_CYCLES=%q: want a positive integer", v)
		}
	}
	return n
}

func TestCrashSafetySIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dbURL := crashDatabase(t)
	srv := startServer(t, dbURL)
	biz := createSandboxBusiness(t, dbURL, "crashtest")
	key := biz.SecretKey
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("business %s, seed %d", biz.ID, seed)

	// Customers funded through the sandbox rail's deposits.
	const customerCount = 4
	var customers, addresses []string
	for i := 0; i < customerCount; i++ {
		var c struct{ ID string }
		r := mustCall(t, srv.url(), key, 201, "POST", "/v1/customers", map[string]any{"type": "individual",
			"email": fmt.Sprintf("crash%d@example.com", i), "first_name": "Crash", "last_name": strconv.Itoa(i)})
		_ = json.Unmarshal(r.data, &c)
		var a struct{ Address string }
		r = mustCall(t, srv.url(), key, 201, "POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "ethereum"},
			headerProfile, c.ID)
		_ = json.Unmarshal(r.data, &a)
		mustCall(t, srv.url(), key, 201, "POST", "/v1/sandbox/deposits", map[string]any{"currency": "USDT", "network": "ethereum",
			"amount": "1000", "to_address": a.Address}, headerProfile, c.ID)
		customers = append(customers, c.ID)
		addresses = append(addresses, a.Address)
	}
	profiles := append([]string{biz.ID}, customers...)

	var mu sync.Mutex
	var ops []*crashOp
	newOp := func(cycle, worker, i int, r *rand.Rand) *crashOp {
		who := r.Intn(len(customers))
		from := customers[who]
		o := &crashOp{key: fmt.Sprintf("crash-%d-%d-%d-%d", seed, cycle, worker, i), profile: from}
		switch n := r.Intn(12); {
		case n >= 10: // a deposit keeps the customers funded; its tx_hash is the key
			o.kind, o.body = "deposit", map[string]any{"currency": "USDT", "network": "ethereum", "amount": strconv.Itoa(20 + r.Intn(30)),
				"to_address": addresses[who], "tx_hash": o.key}
		case n < 6:
			to := profiles[r.Intn(len(profiles))]
			for to == from {
				to = profiles[r.Intn(len(profiles))]
			}
			amount := fmt.Sprintf("%d.%02d", 1+r.Intn(5), r.Intn(100))
			if n == 0 {
				amount = "5000" // more than anyone holds: refused, no effect
			}
			o.kind, o.body = "transfer", map[string]any{"currency": "USDT", "amount": amount, "to_profile_id": to, "description": o.key}
		default:
			addr := fmt.Sprintf("0x%040x", r.Int63())
			if n == 9 {
				addr = addr[:38] + "dead" // the sandbox rail fails it: the hold comes back
			}
			o.kind, o.body = "payout", map[string]any{"currency": "USDT", "network": "ethereum", "amount": strconv.Itoa(5 + r.Intn(10)),
				"address": addr, "reference": o.key}
		}
		return o
	}

	cycles := soakCycles(t)
	for cycle := 0; cycle < cycles; cycle++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			r := rand.New(rand.NewSource(rng.Int63()))
			go func(w int) {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					o := newOp(cycle, w, i, r)
					o.first = o.send(context.Background(), srv.url(), key)
					o.final = o.first
					mu.Lock()
					ops = append(ops, o)
					mu.Unlock()
					if o.first.err != nil {
						return // the server is gone; this one is retried after restart
					}
				}
			}(w)
		}
		time.Sleep(time.Duration(200+rng.Intn(1300)) * time.Millisecond)
		srv.kill()
		cancel()
		wg.Wait()
		srv.start()
		retryUnanswered(t, srv, key, ops)
	}

	// Every answered request is final now; count and check effects.
	mu.Lock()
	defer mu.Unlock()
	transfers := listByKey(t, srv.url(), key, profiles, "transfers", "description")
	payouts := listByKey(t, srv.url(), key, customers, "payouts", "reference")
	deposits := listByKey(t, srv.url(), key, customers, "deposits", "tx_hash")
	var ok, refused, retried, replayed int
	for _, o := range ops {
		effects := map[string][]string{"transfer": transfers[o.key], "payout": payouts[o.key], "deposit": deposits[o.key]}[o.kind]
		if o.first.err != nil {
			retried++
			if o.final.replayed {
				replayed++ // committed before the kill; the retry got the stored answer
			}
		}
		switch st := o.final.status; {
		case st == 200 || st == 201:
			ok++
			var got struct{ ID string }
			_ = json.Unmarshal(o.final.data, &got)
			if len(effects) != 1 || effects[0] != got.ID {
				t.Errorf("%s %s answered %d with %s, but its effects are %v", o.kind, o.key, st, got.ID, effects)
				continue
			}
			checkComplete(t, srv.url(), key, o, got.ID)
		case st >= 400 && st < 500:
			refused++
			if len(effects) != 0 {
				t.Errorf("%s %s was refused (%d %s) but took effect: %v", o.kind, o.key, st, o.final.code, effects)
			}
		default:
			t.Errorf("%s %s: final status %d (%s) err %v", o.kind, o.key, st, o.final.code, o.final.err)
		}
	}
	// Keys nobody sent cannot have effects either.
	sent := map[string]bool{}
	for _, o := range ops {
		sent[o.key] = true
	}
	for k, ids := range transfers {
		if !sent[k] && len(k) > 6 && k[:6] == "crash-" {
			t.Errorf("transfer %v carries key %s that was never sent", ids, k)
		}
	}
	waitPayoutsSettled(t, srv.url(), key, customers)
	if out, err := tally(t, dbURL, "verify", "--business", biz.ID); err != nil {
		t.Fatalf("verify after %d SIGKILL cycles: %v\n%s", cycles, err, out)
	}
	t.Logf("%d cycles, %d requests: %d succeeded, %d refused, %d unanswered and retried (%d of them had committed before the kill and were replayed)",
		cycles, len(ops), ok, refused, retried, replayed)
	if ok == 0 {
		t.Fatal("no request succeeded; the harness tested nothing")
	}
}

// retryUnanswered resends every request that got no response, with the same
// Idempotency-Key, until it gets a definite answer.
func retryUnanswered(t *testing.T, srv *server, key string, ops []*crashOp) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, o := range ops {
		if o.final.err == nil && o.final.status != 503 && o.final.code != "idempotency_key_in_use" {
			continue
		}
		for {
			o.retries++
			o.final = o.send(context.Background(), srv.url(), key)
			if o.final.err == nil && o.final.status != 503 && o.final.code != "idempotency_key_in_use" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: no definite answer after restart: status %d code %s err %v", o.kind, o.key, o.final.status, o.final.code, o.final.err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// listByKey lists every object of kind in the profiles and groups ids by field
// (the idempotency key the harness wrote there).
func listByKey(t *testing.T, base, secret string, profiles []string, kind, field string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	seen := map[string]bool{}
	for _, p := range profiles {
		cursor := ""
		for {
			path := "/v1/" + kind + "?limit=100"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			r := mustCall(t, base, secret, 200, "GET", path, nil, headerProfile, p)
			var items []map[string]any
			if err := json.Unmarshal(r.data, &items); err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				id, _ := it["id"].(string)
				if seen[id] {
					continue // a transfer shows in both profiles' lists
				}
				seen[id] = true
				k, _ := it[field].(string)
				out[k] = append(out[k], id)
			}
			var env struct {
				Pagination struct {
					NextCursor *string `json:"next_cursor"`
				} `json:"pagination"`
			}
			_ = json.Unmarshal(r.raw, &env)
			if env.Pagination.NextCursor == nil {
				break
			}
			cursor = *env.Pagination.NextCursor
		}
	}
	return out
}

// checkComplete reads a succeeded request's object back and compares it with
// what was asked.
func checkComplete(t *testing.T, base, secret string, o *crashOp, id string) {
	t.Helper()
	read := "/v1/" + o.kind + "s/" + id
	r := call(context.Background(), base, secret, "GET", read, nil, headerProfile, o.profile)
	if r.status != 200 {
		t.Errorf("GET %s: %d %s", read, r.status, r.raw)
		return
	}
	var got map[string]any
	_ = json.Unmarshal(r.data, &got)
	wantAmt, _ := strconv.ParseFloat(fmt.Sprint(o.body["amount"]), 64)
	gotAmt, _ := strconv.ParseFloat(fmt.Sprint(got["amount"]), 64)
	if wantAmt != gotAmt || got["profile_id"] != o.profile || got["currency"] != "USDT" {
		t.Errorf("%s %s is incomplete: asked %v, stored %v", o.kind, o.key, o.body, got)
	}
	if (o.kind == "transfer" || o.kind == "deposit") && got["status"] != "completed" {
		t.Errorf("%s %s: stored with status %v", o.kind, o.key, got["status"])
	}
	if o.kind == "transfer" && got["to_profile_id"] != o.body["to_profile_id"] {
		t.Errorf("transfer %s: asked %v, stored %v", o.key, o.body, got)
	}
}

// waitPayoutsSettled waits until the sandbox rail moved every payout to a final
// state, across the restarts it lived through.
func waitPayoutsSettled(t *testing.T, base, secret string, customers []string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		open := 0
		for _, st := range []string{"pending", "processing"} {
			for _, c := range customers {
				r := mustCall(t, base, secret, 200, "GET", "/v1/payouts?limit=100&status="+st, nil, headerProfile, c)
				var items []any
				_ = json.Unmarshal(r.data, &items)
				open += len(items)
			}
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d payouts still pending or processing after 90s: the sandbox rail did not recover", open)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
