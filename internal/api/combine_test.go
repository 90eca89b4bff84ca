package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// transferJobs returns a maker of USD transfer jobs of business, as the handler
// builds them, for tests that hand a batch to combiner.run directly.
func transferJobs(t *testing.T, srv *Server, business string) func(from, to, amount, key string) *moneyJob {
	t.Helper()
	cs, err := srv.currencies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return func(from, to, amount, key string) *moneyJob {
		tr := ledger.Transfer{ID: ledger.NewID(ledger.PrefixTransfer), Business: business, FromProfileID: from,
			ToProfileID: to, Currency: "USD", Amount: decimal.RequireFromString(amount), Metadata: map[string]string{}}
		j := &moneyJob{business: business, customer: from, transfer: tr, cs: cs, key: key,
			audit:    postgres.Audit{RequestID: "req_" + key, Method: "POST", Path: "/v1/transfers", KeyID: "k"},
			deadline: time.Now().Add(time.Minute), done: make(chan jobResult, 1)}
		if key != "" {
			j.reqHash = []byte("hash-" + key)
		}
		return j
	}
}

// payoutJob turns a job made by transferJobs (from, "", amount) into a USD bank
// payout to address.
func payoutJob(j *moneyJob, address string) *moneyJob {
	j.payout = ledger.Payout{ID: ledger.NewID(ledger.PrefixPayout), Business: j.business, ProfileID: j.customer, Currency: "USD",
		Network: "bank", Amount: j.transfer.Amount, Address: address, Metadata: map[string]string{}}
	j.kind, j.transfer, j.scale = kindPayout, ledger.Transfer{}, 2
	return j
}

// TestCombinerBatchKeepsEachOutcome runs one batch of the group-commit combiner
// directly, so the jobs certainly share a transaction: a good transfer, one that
// overdraws, one to an unknown recipient, one to a closed-looking id, two with
// the same key, and a replay of a key stored before. Each gets its own outcome;
// only the good ones move money, each once; refusals and successes of a customer
// are in its audit log.
func TestCombinerBatchKeepsEachOutcome(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	a, b := c.createCustomer("comb-a@example.com"), c.createCustomer("comb-b@example.com")
	pgtest.Fund(t, c.business.ID, a, "USD", "10")
	job := transferJobs(t, srv, c.business.ID)
	// A response stored earlier for key "old" replays.
	first := job(a, b, "1", "old")
	srv.combiner.run([]*moneyJob{first}, 0, 1)
	if r := <-first.done; r.err != nil || r.status != 201 {
		t.Fatalf("first: %+v", r)
	}
	jobs := []*moneyJob{
		job(a, b, "2", "good"),
		job(a, b, "100", "overdraw"),
		job(a, "CUS_01M000000000000000000000XX", "1", "nobody"),
		job(a, b, "3", "twice"),
		job(a, b, "3", "twice"),
		job(a, b, "1", "old"),
		job(a, b, "4", ""),
	}
	jobs[5].reqHash = first.reqHash
	srv.combiner.run(jobs, 0, 1)
	res := make([]jobResult, len(jobs))
	for i, j := range jobs {
		res[i] = <-j.done
	}
	wantCode := []ledger.Code{"", ledger.CodeInsufficientFunds, ledger.CodeProfileNotFound, "", ledger.CodeIdempotencyInUse, "", ""}
	for i, r := range res {
		if (r.err == nil) != (wantCode[i] == "") || (r.err != nil && ledger.ErrorCode(r.err) != wantCode[i]) {
			t.Fatalf("job %d: err %v, want %q", i, r.err, wantCode[i])
		}
	}
	if !res[5].replayed || res[5].status != 201 || string(res[5].body) != string(replayBody(t, srv, c.business.ID, "old")) {
		t.Fatalf("replay: %+v", res[5])
	}
	// 1 + 2 + 3 + 4 moved; the overdraft and the refusals moved nothing.
	wantAmount(t, "sender", c.balance(a, "USD").Available, "0")
	wantAmount(t, "receiver", c.balance(b, "USD").Available, "10")
	var tr transferDTO
	if err := json.Unmarshal(envelopeData(t, res[0].body), &tr); err != nil || tr.Amount != "2.00" || tr.Status != "completed" {
		t.Fatalf("good transfer body %s: %v", res[0].body, err)
	}
	// Audit: the first job, then this batch's six non-replayed jobs of customer a.
	var entries []struct {
		RequestID  string `json:"request_id"`
		StatusCode int    `json:"status_code"`
	}
	c.do("GET", "/v1/customers/"+a+"/audit-log?limit=100", nil).must(t, 200).Data(t, &entries)
	got := map[string]int{}
	for _, e := range entries {
		got[e.RequestID] = e.StatusCode
	}
	for req, status := range map[string]int{"req_good": 201, "req_overdraw": 422, "req_nobody": 404, "req_twice": 201, "req_old": 201, "req_": 201} {
		if got[req] != status {
			t.Fatalf("audit %s = %d, want %d (all: %v)", req, got[req], status, got)
		}
	}

	// Payouts share batches with transfers: a good one pays its fee, a risky
	// address and an overdraft are refused alone, a transfer between them books.
	if err := pgtest.Store(t).SetFee(context.Background(), c.business.ID, "USD",
		ledger.Fee{Fixed: decimal.RequireFromString("0.10"), Percent: decimal.Zero}); err != nil {
		t.Fatal(err)
	}
	risky := "9999999999"
	if err := pgtest.Store(t).AddRiskAddress(context.Background(), "bank", risky); err != nil {
		t.Fatal(err)
	}
	pgtest.Fund(t, c.business.ID, a, "USD", "5")
	payout := func(amount, address string) *moneyJob { return payoutJob(job(a, "", amount, ""), address) }
	jobs = []*moneyJob{payout("2", "0123456789"), job(a, b, "2", ""), payout("1", risky), payout("1", "0123456789")}
	srv.combiner.run(jobs, 0, 1)
	wantCode = []ledger.Code{"", "", ledger.CodeHighRiskAddress, ledger.CodeInsufficientFunds}
	for i, j := range jobs {
		r := <-j.done
		if (r.err == nil) != (wantCode[i] == "") || (r.err != nil && ledger.ErrorCode(r.err) != wantCode[i]) {
			t.Fatalf("mixed job %d: err %v, want %q", i, r.err, wantCode[i])
		}
		if i == 0 {
			var p payoutDTO
			if err := json.Unmarshal(envelopeData(t, r.body), &p); err != nil || p.Fee != "0.10" || p.Status != "pending" {
				t.Fatalf("payout body %s: %v", r.body, err)
			}
		}
	}
	// /metrics counts the combiner's transactions and the requests they carried.
	m := (&client{tb: t, srv: srv}).do("GET", "/metrics", nil).must(t, 200)
	for _, want := range []string{"tally_group_commit_batches_total 3\n", "tally_group_commit_jobs_total 12\n"} {
		if !strings.Contains(string(m.Raw), want) {
			t.Fatalf("metrics lack %q:\n%s", want, m.Raw)
		}
	}
	bal := c.balance(a, "USD")
	wantAmount(t, "available after payout + transfer", bal.Available, "0.90")
	wantAmount(t, "held for the payout and its fee", bal.Held, "2.10")
	mustVerify(t, c.business.ID)
}

// TestCombinerPayoutsKeepToTheirLane: a worker's payouts hold their amounts and
// fees on the hot accounts' shard rows of its own lane only (lane 1 of 2: odd
// shards; lane 0: even), so two workers' batches never wait on each other there;
// and one batch's payouts all use one shard row of each hot account.
func TestCombinerPayoutsKeepToTheirLane(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	a := c.createCustomer("lanes@example.com")
	if err := pgtest.Store(t).SetFee(context.Background(), c.business.ID, "USD",
		ledger.Fee{Fixed: decimal.RequireFromString("0.01"), Percent: decimal.Zero}); err != nil {
		t.Fatal(err)
	}
	pgtest.Fund(t, c.business.ID, a, "USD", "10")
	job := transferJobs(t, srv, c.business.ID)
	for lane := range 2 {
		var jobs []*moneyJob
		for range 12 {
			jobs = append(jobs, payoutJob(job(a, "", "0.10", ""), "0123456789"))
		}
		srv.combiner.run(jobs, lane, 2)
		for i, j := range jobs {
			if r := <-j.done; r.err != nil {
				t.Fatalf("lane %d payout %d: %v", lane, i, r.err)
			}
		}
		var hot, inLane, rows int
		if err := pgtest.DB(t).QueryRowContext(context.Background(), `SELECT count(*), count(*) FILTER (WHERE shard % 2 = ?),
				count(DISTINCT (purpose, shard)) FILTER (WHERE shard % 2 = ?)
			FROM ledger_lines WHERE business_id = ? AND owner_id = ? AND purpose IN ('fees', 'settlement:bank')`,
			lane, lane, c.business.ID, c.business.ID).Scan(&hot, &inLane, &rows); err != nil {
			t.Fatal(err)
		}
		if want := 24 * (lane + 1); hot != want || inLane != 24 || rows != 2 {
			t.Fatalf("lane %d: %d hold lines on hot accounts (want %d), %d in the lane (want 24) on %d balance rows (want 2: one fee, one settlement)",
				lane, hot, want, inLane, rows)
		}
	}
	mustVerify(t, c.business.ID)
}

// TestCombinerBooksInQueueOrder: funds are decided in arrival order whether or
// not a request carries an Idempotency-Key: of two transfers that cannot both
// fit, the first queued wins.
func TestCombinerBooksInQueueOrder(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	a, b := c.createCustomer("order-a@example.com"), c.createCustomer("order-b@example.com")
	pgtest.Fund(t, c.business.ID, a, "USD", "5")
	job := transferJobs(t, srv, c.business.ID)
	first, second := job(a, b, "4", "order-keyed"), job(a, b, "4", "")
	srv.combiner.run([]*moneyJob{first, second}, 0, 1)
	if r := <-first.done; r.err != nil {
		t.Fatalf("first queued: %v", r.err)
	}
	if r := <-second.done; ledger.ErrorCode(r.err) != ledger.CodeInsufficientFunds {
		t.Fatalf("second queued: %v, want insufficient_funds", r.err)
	}
	mustVerify(t, c.business.ID)
}

// TestCombinerRechecksSenderStatus: the sender's status comes from
// X-BU-PROFILE-ID's resolution, which may be a cached second old; the batch
// re-reads it under a share lock, so a customer suspended meanwhile (here behind
// every cache's back, as another replica would) sends nothing, by transfer or payout.
func TestCombinerRechecksSenderStatus(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	a, b := c.createCustomer("stale-a@example.com"), c.createCustomer("stale-b@example.com")
	pgtest.Fund(t, c.business.ID, a, "USD", "10")
	// Warm the profile cache with a as active, then suspend a in the database only.
	wantAmount(t, "funded", c.balance(a, "USD").Available, "10")
	if _, err := pgtest.DB(t).DB.ExecContext(context.Background(), `UPDATE customers SET status = 'suspended' WHERE business_id = $1 AND id = $2`,
		c.business.ID, a); err != nil {
		t.Fatal(err)
	}
	r := c.do("POST", "/v1/transfers", map[string]any{"currency": "USD", "amount": "1", "to_profile_id": b}, HeaderProfileID, a)
	if r.Status < 400 || r.Code() != "profile_inactive" {
		t.Fatalf("transfer from a suspended sender: %d %s", r.Status, r.Raw)
	}
	r = c.do("POST", "/v1/payouts", map[string]any{"currency": "USD", "amount": "1", "network": "bank", "address": "0123456789",
		"beneficiary": map[string]any{"name": "Ada", "institution": "Bank"}}, HeaderProfileID, a)
	if r.Status < 400 || r.Code() != "profile_inactive" {
		t.Fatalf("payout from a suspended sender: %d %s", r.Status, r.Raw)
	}
	wantAmount(t, "untouched", c.balance(a, "USD").Available, "10")
	mustVerify(t, c.business.ID)
}

// replayBody is the response stored for key.
func replayBody(t *testing.T, srv *Server, business, key string) []byte {
	t.Helper()
	var body []byte
	err := srv.store.InTxAs(context.Background(), business, func(ctx context.Context, tx *postgres.Tx) error {
		stored, _, err := tx.ClaimIdempotencyKeys(ctx, business, []string{key}, [][]byte{[]byte("hash-" + key)})
		if err == nil && stored[0] != nil {
			body = stored[0].Body
		}
		return err
	})
	if err != nil || body == nil {
		t.Fatalf("stored response for %s: %v", key, err)
	}
	return body
}

func envelopeData(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	return env.Data
}

// TestGroupCommitTransfersConcurrent sends 60 transfers at once over HTTP, pairs
// of them with the same Idempotency-Key and body, some overdrawing: every key has
// one effect (its twin replays it or is told it is in use), the money adds up and
// the ledger verifies.
func TestGroupCommitTransfersConcurrent(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	cust := make([]string, 4)
	for i := range cust {
		cust[i] = c.createCustomer(fmt.Sprintf("gc-%d@example.com", i))
		pgtest.Fund(t, c.business.ID, cust[i], "USD", "10")
	}
	type outcome struct {
		key, id  string
		code     ledger.Code
		status   int
		replayed bool
	}
	out := make([]outcome, 60)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			k := i % 30
			amount := "1"
			if k%10 == 9 {
				amount = "1000"
			}
			from, to := cust[k%4], cust[(k+1)%4]
			r := c.do("POST", "/v1/transfers", map[string]any{"currency": "USD", "amount": amount, "to_profile_id": to},
				HeaderProfileID, from, "Idempotency-Key", fmt.Sprintf("gc-key-%d", k))
			o := outcome{key: fmt.Sprint(k), status: r.Status, code: ledger.Code(r.Code()), replayed: r.Header.Get("Idempotent-Replayed") == "true"}
			if r.Status == 201 {
				var tr struct{ ID string }
				_ = json.Unmarshal(r.Body.Data, &tr)
				o.id = tr.ID
			}
			out[i] = o
		}(i)
	}
	wg.Wait()
	ids := map[string]string{} // key → transfer id
	moved := 0
	for _, o := range out {
		switch {
		case o.status == 201:
			if prev, ok := ids[o.key]; ok && prev != o.id {
				t.Fatalf("key %s booked twice: %s and %s", o.key, prev, o.id)
			}
			if _, ok := ids[o.key]; !ok {
				moved++
			}
			ids[o.key] = o.id
		case o.status == 422 && o.code == ledger.CodeInsufficientFunds:
		case o.status == 409 && o.code == ledger.CodeIdempotencyInUse:
		default:
			t.Fatalf("unexpected outcome %+v", o)
		}
	}
	if moved != 27 {
		t.Fatalf("%d keys moved money, want 27 (30 less 3 overdrafts)", moved)
	}
	sum := decimal.Zero
	for _, id := range cust {
		sum = sum.Add(decimal.RequireFromString(c.balance(id, "USD").Available))
	}
	if !sum.Equal(decimal.NewFromInt(40)) {
		t.Fatalf("customers hold %v, want 40", sum)
	}
	mustVerify(t, c.business.ID)
}

// TestWithoutGroupCommit: with TALLY_GROUP_COMMIT=false every request is a batch
// of one in its own transaction: a transfer, its idempotent replay, an overdraft
// and a payout with its fee.
func TestWithoutGroupCommit(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	srv.combiner.inline = true
	c := newClient(t, srv, ledger.ModeLive)
	a, b := c.createCustomer("plain-a@example.com"), c.createCustomer("plain-b@example.com")
	pgtest.Fund(t, c.business.ID, a, "USD", "10")
	body := map[string]any{"currency": "USD", "amount": "3", "to_profile_id": b}
	first := c.do("POST", "/v1/transfers", body, HeaderProfileID, a, "Idempotency-Key", "plain-1").must(t, 201)
	again := c.do("POST", "/v1/transfers", body, HeaderProfileID, a, "Idempotency-Key", "plain-1").must(t, 201)
	if again.Header.Get("Idempotent-Replayed") != "true" || string(again.Raw) != string(first.Raw) {
		t.Fatalf("replay: %s vs %s", again.Raw, first.Raw)
	}
	if r := c.do("POST", "/v1/transfers", map[string]any{"currency": "USD", "amount": "100", "to_profile_id": b},
		HeaderProfileID, a).must(t, 422); r.Code() != "insufficient_funds" {
		t.Fatalf("overdraft: %s", r.Raw)
	}
	if err := pgtest.Store(t).SetFee(context.Background(), c.business.ID, "USD",
		ledger.Fee{Fixed: decimal.RequireFromString("0.50"), Percent: decimal.Zero}); err != nil {
		t.Fatal(err)
	}
	var p payoutDTO
	c.do("POST", "/v1/payouts", map[string]any{"currency": "USD", "amount": "2", "network": "bank", "address": "0123456789",
		"beneficiary": map[string]any{"name": "Ada", "institution": "Bank"}}, HeaderProfileID, a).must(t, 201).Data(t, &p)
	if p.Fee != "0.50" || p.Status != "pending" {
		t.Fatalf("payout %+v", p)
	}
	if b, j := srv.combiner.batches.Load(), srv.combiner.booked.Load(); b != 4 || j != 4 {
		t.Fatalf("%d requests in %d transactions, want 4 in 4", j, b)
	}
	bal := c.balance(a, "USD")
	wantAmount(t, "available", bal.Available, "4.50")
	wantAmount(t, "held", bal.Held, "2.50")
	mustVerify(t, c.business.ID)
}

// gather, the group-commit worker's batching, without a database: what is queued
// is taken at once; below the target it waits for more, up to the linger; at the
// target (a lone request after a batch of one) it does not wait at all.
func TestCombinerGather(t *testing.T) {
	t.Parallel()
	newJob := func() *moneyJob { return &moneyJob{} }
	cb := &combiner{jobs: make(chan *moneyJob, 4*combineMax), linger: time.Hour}

	// Queued jobs come along even at target 1, and nothing waits.
	for range 4 {
		cb.jobs <- newJob()
	}
	start := time.Now()
	if got := cb.gather(nil, newJob(), 1); len(got) != 5 {
		t.Fatalf("4 queued, target 1: batch of %d, want 5", len(got))
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("target 1 with nothing queued waited %s", d)
	}

	// Below the target it waits for jobs that arrive later, and stops at the target.
	go func() {
		for range 2 {
			time.Sleep(20 * time.Millisecond)
			cb.jobs <- newJob()
		}
	}()
	start = time.Now()
	if got := cb.gather(nil, newJob(), 3); len(got) != 3 {
		t.Fatalf("target 3, two arriving 20 ms apart: batch of %d", len(got))
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > 5*time.Second {
		t.Fatalf("target 3: gathered in %s; it should wait for the second arrival and not for the linger (1 h)", d)
	}

	// The linger bounds the wait: target 5, nothing comes.
	cb.linger = 50 * time.Millisecond
	start = time.Now()
	if got := cb.gather(nil, newJob(), 5); len(got) != 1 {
		t.Fatalf("nothing arriving: batch of %d", len(got))
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Fatalf("linger 50 ms: returned after %s", d)
	}

	// Never more than combineMax.
	for range combineMax + 10 {
		cb.jobs <- newJob()
	}
	if got := cb.gather(nil, newJob(), combineMax*2); len(got) != combineMax {
		t.Fatalf("%d queued: batch of %d, want combineMax %d", combineMax+10, len(got), combineMax)
	}
	for len(cb.jobs) > 0 {
		<-cb.jobs
	}
}
