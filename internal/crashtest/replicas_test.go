package crashtest

// Two replicas (issue 9, DESIGN.md §5). Goal: N stateless replicas with their
// workers on, against one database, never double anything. Method: start two
// `tally serve` processes on one database, both running the sandbox rail and the
// webhook worker; register a webhook endpoint on a local receiver; drive transfers
// and payouts through both replicas, sending some requests to both at once with
// the same Idempotency-Key. Then: each key has at most one effect (exactly one
// when it succeeded), every payout settles and has exactly one final event, every
// event is delivered exactly once (no double deliveries while the receiver is
// healthy), signatures verify, and `tally verify` is clean.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/internal/webhook"
)

func TestTwoReplicasNoDoubles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two real servers")
	}
	dbURL := crashDatabase(t)
	env := []string{"TALLY_WEBHOOK_ALLOW_PRIVATE=true"}
	r1 := startServer(t, dbURL, env...)
	r2 := startServer(t, dbURL, env...)
	replicas := []*server{r1, r2}
	biz := createSandboxBusiness(t, dbURL, "replicas")
	key := biz.SecretKey

	var mu sync.Mutex
	deliveries := map[string]int{} // event id → deliveries received
	var badSig int
	var secret string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, 0, time.Now()); err != nil {
			badSig++
		}
		deliveries[r.Header.Get(webhook.EventIDHeader)]++
		w.WriteHeader(200)
	}))
	defer recv.Close()
	var ep struct{ Secret string }
	res := mustCall(t, r1.url(), key, 201, "POST", "/v1/webhook-endpoints", map[string]any{"url": recv.URL + "/hook"})
	_ = json.Unmarshal(res.data, &ep)
	mu.Lock()
	secret = ep.Secret
	mu.Unlock()

	var customers []string
	for i := 0; i < 3; i++ {
		var c struct{ ID string }
		res := mustCall(t, replicas[i%2].url(), key, 201, "POST", "/v1/customers", map[string]any{"type": "individual",
			"email": fmt.Sprintf("replica%d@example.com", i), "first_name": "Rep", "last_name": strconv.Itoa(i)})
		_ = json.Unmarshal(res.data, &c)
		var a struct{ Address string }
		res = mustCall(t, replicas[i%2].url(), key, 201, "POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "ethereum"},
			headerProfile, c.ID)
		_ = json.Unmarshal(res.data, &a)
		mustCall(t, replicas[(i+1)%2].url(), key, 201, "POST", "/v1/sandbox/deposits", map[string]any{"currency": "USDT",
			"network": "ethereum", "amount": "500", "to_address": a.Address}, headerProfile, c.ID)
		customers = append(customers, c.ID)
	}
	profiles := append([]string{biz.ID}, customers...)

	var ops []*crashOp
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w) + time.Now().UnixNano()))
			for i := 0; i < 40; i++ {
				from := customers[r.Intn(len(customers))]
				o := &crashOp{key: fmt.Sprintf("replica-%s-%d-%d", biz.ID, w, i), profile: from}
				if i%2 == 0 {
					o.kind, o.body = "payout", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "5",
						"address": fmt.Sprintf("0x%040x", r.Int63()), "reference": o.key}
				} else {
					to := profiles[r.Intn(len(profiles))]
					for to == from {
						to = profiles[r.Intn(len(profiles))]
					}
					o.kind, o.body = "transfer", map[string]any{"currency": "USDT", "amount": "1", "to_profile_id": to, "description": o.key}
				}
				if i%5 == 0 {
					// The same request to both replicas at once: one effect, and
					// both answers agree (or one says in use / retry).
					var both [2]apiResult
					var pair sync.WaitGroup
					for j := range replicas {
						pair.Add(1)
						go func(j int) {
							defer pair.Done()
							both[j] = o.send(context.Background(), replicas[j].url(), key)
						}(j)
					}
					pair.Wait()
					o.first, o.final = both[0], both[0]
					if both[0].status == 409 || both[0].status == 503 {
						o.final = both[1]
					}
				} else {
					o.first = o.send(context.Background(), replicas[r.Intn(2)].url(), key)
					o.final = o.first
				}
				mu.Lock()
				ops = append(ops, o)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	retryUnanswered(t, r1, key, ops)

	transfers := listByKey(t, r2.url(), key, profiles, "transfers", "description")
	payouts := listByKey(t, r1.url(), key, customers, "payouts", "reference")
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
				t.Errorf("%s %s refused (%d %s) but took effect: %v", o.kind, o.key, st, o.final.code, effects)
			}
		default:
			t.Errorf("%s %s: status %d err %v", o.kind, o.key, st, o.final.err)
		}
	}
	waitPayoutsSettled(t, r2.url(), key, customers)

	// Every payout has exactly one final event; every event is delivered once.
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var doubled []string
	rows, err := db.Query(ctx, `SELECT data->>'id' FROM events WHERE business_id = $1 AND type IN ('payout.completed', 'payout.failed')
		GROUP BY data->>'id' HAVING count(*) > 1`, biz.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		doubled = append(doubled, id)
	}
	rows.Close()
	if len(doubled) > 0 {
		t.Errorf("payouts with more than one final event (double settlement by two rails): %v", doubled)
	}
	var eventCount int
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := db.QueryRow(ctx, `SELECT count(*) FROM events WHERE business_id = $1`, biz.ID).Scan(&eventCount); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := len(deliveries)
		mu.Unlock()
		if got >= eventCount {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered after 60s", got, eventCount)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // a late duplicate would arrive now
	mu.Lock()
	for id, n := range deliveries {
		if n != 1 {
			t.Errorf("event %s delivered %d times by two replicas' workers", id, n)
		}
	}
	if badSig > 0 {
		t.Errorf("%d deliveries failed signature verification", badSig)
	}
	mu.Unlock()
	if out, err := tally(t, dbURL, "verify", "--business", biz.ID); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	t.Logf("%d requests over 2 replicas, %d events each delivered once", len(ops), eventCount)
}
