package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/rails"
	"github.com/tallyhq/tally/ledger"
)

// railClient returns a client holding a fresh rail key.
func railClient(t *testing.T, srv *Server) *client {
	t.Helper()
	_, key, err := pgtest.Store(t).CreateRailKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &client{tb: t, srv: srv, key: key}
}

// mustVerify asserts every ledger invariant holds for the business.
func mustVerify(t *testing.T, business string) {
	t.Helper()
	_, violations, err := pgtest.Store(t).Verify(context.Background(), business, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("invariant %s: %s", v.Invariant, v.Detail)
	}
}

type balanceView struct {
	Currency, Type, Available, Held, Pending, Total string
}

func (c *client) balance(profile, currency string) balanceView {
	c.tb.Helper()
	var b balanceView
	c.do("GET", "/v1/balances/"+currency, nil, HeaderProfileID, profile).must(c.tb, 200).Data(c.tb, &b)
	return b
}

func wantAmount(t testing.TB, what, got, want string) {
	t.Helper()
	if !decimal.RequireFromString(got).Equal(decimal.RequireFromString(want)) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

func TestDepositConfirmationsCreditOnce(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeLive)
	rail := railClient(t, srv)
	cust := c.createCustomer("dep@example.com")
	var addr struct{ ID, Address, Network string }
	c.do("POST", "/v1/deposit-addresses", map[string]any{"currency": "BTC", "network": "bitcoin"}, HeaderProfileID, cust).must(t, 201).Data(t, &addr)
	if !strings.HasPrefix(addr.Address, "bc1q") {
		t.Fatalf("bitcoin deposit address %q", addr.Address)
	}
	if _, err := ledger.ValidateAddress("bitcoin", addr.Address); err != nil {
		t.Fatalf("derived address invalid: %v", err)
	}
	txHash := strings.ToLower(ledger.NewID("tx"))
	report := func(conf int, wantStatus int) map[string]any {
		var d map[string]any
		rail.do("POST", "/v1/rails/deposits", map[string]any{"network": "bitcoin", "currency": "BTC", "amount": "0.5",
			"to_address": addr.Address, "tx_hash": txHash, "output_index": 0, "confirmations": conf, "from_address": "x"}).
			must(t, wantStatus).Data(t, &d)
		return d
	}
	d := report(0, 201)
	if d["status"] != "pending" {
		t.Fatalf("status %v, want pending", d["status"])
	}
	b := c.balance(cust, "BTC")
	wantAmount(t, "pending", b.Pending, "0.5")
	wantAmount(t, "available", b.Available, "0")
	d = report(1, 200)
	if d["status"] != "pending" || d["confirmations"].(float64) != 1 {
		t.Fatalf("after 1 confirmation: %v", d)
	}
	d = report(2, 200)
	if d["status"] != "completed" {
		t.Fatalf("after 2 confirmations: %v", d)
	}
	report(6, 200)
	report(3, 200)
	b = c.balance(cust, "BTC")
	wantAmount(t, "available", b.Available, "0.5")
	wantAmount(t, "pending", b.Pending, "0")

	// The history shows one deposit credit.
	var hist []map[string]any
	c.do("GET", "/v1/transactions", nil, HeaderProfileID, cust).must(t, 200).Data(t, &hist)
	if len(hist) != 1 || hist[0]["type"] != "deposit" || hist[0]["direction"] != "credit" || hist[0]["balance_after"] != "0.50000000" {
		t.Fatalf("history = %v", hist)
	}
	// The deposit is visible to its profile only.
	c.do("GET", "/v1/deposits/"+d["id"].(string), nil, HeaderProfileID, cust).must(t, 200)
	c.do("GET", "/v1/deposits/"+d["id"].(string), nil).must(t, 404)

	// An unknown address is unmatched and credits nobody.
	var u map[string]any
	rail.do("POST", "/v1/rails/deposits", map[string]any{"network": "bitcoin", "currency": "BTC", "amount": "1",
		"to_address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "tx_hash": txHash + "-nobody", "confirmations": 3}).must(t, 201).Data(t, &u)
	if u["status"] != "unmatched" {
		t.Fatalf("unmatched deposit = %v", u)
	}
	var u2 map[string]any
	rail.do("POST", "/v1/rails/deposits", map[string]any{"network": "bitcoin", "currency": "BTC", "amount": "1",
		"to_address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "tx_hash": txHash + "-nobody", "confirmations": 4}).must(t, 200).Data(t, &u2)
	if u2["id"] != u["id"] || u2["confirmations"].(float64) != 4 {
		t.Fatalf("re-reported unmatched deposit = %v, first %v", u2, u)
	}
	// Business keys cannot call the rail; rail keys cannot call business routes.
	c.do("POST", "/v1/rails/deposits", map[string]any{}).must(t, 403)
	rail.do("GET", "/v1/balances", nil).must(t, 403)
	mustVerify(t, c.business.ID)
}

func TestRiskListedDepositIsRejected(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	cust := c.createCustomer("risk@example.com")
	var addr struct{ Address string }
	c.do("POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "tron"}, HeaderProfileID, cust).must(t, 201).Data(t, &addr)
	bad := "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
	if err := pgtest.Store(t).AddRiskAddress(context.Background(), "tron", bad); err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	c.do("POST", "/v1/sandbox/deposits", map[string]any{"network": "tron", "currency": "USDT", "amount": "50",
		"to_address": addr.Address, "from_address": bad}).must(t, 201).Data(t, &d)
	if d["status"] != "rejected" {
		t.Fatalf("status = %v, want rejected", d["status"])
	}
	b := c.balance(cust, "USDT")
	wantAmount(t, "available", b.Available, "0")
	wantAmount(t, "pending", b.Pending, "0")
	mustVerify(t, c.business.ID)
}

// fundedCustomer creates a customer and deposits amount through the sandbox.
func (c *client) fundedCustomer(email, currency, network, amount string) string {
	c.tb.Helper()
	cust := c.createCustomer(email)
	var addr struct{ Address string }
	c.do("POST", "/v1/deposit-addresses", map[string]any{"currency": currency, "network": network}, HeaderProfileID, cust).must(c.tb, 201).Data(c.tb, &addr)
	c.do("POST", "/v1/sandbox/deposits", map[string]any{"network": network, "currency": currency, "amount": amount,
		"to_address": addr.Address}).must(c.tb, 201)
	return cust
}

func TestConcurrentPayoutsNeverOverdraw(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeLive)
	cust := c.createCustomer("race@example.com")
	pgtest.Fund(t, c.business.ID, cust, "USD", "100")
	const n = 200
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("POST", "/v1/payouts", map[string]any{"currency": "USD", "amount": "1", "network": "bank",
				"address": "0123456789", "beneficiary": map[string]any{"name": "Ada", "institution": "Bank"}}, HeaderProfileID, cust)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.Status == 201:
				codes["created"]++
			case r.Status == 422 && r.Code() == "insufficient_funds":
				codes["insufficient_funds"]++
			default:
				codes[fmt.Sprintf("%d %s", r.Status, r.Code())]++
			}
		}()
	}
	wg.Wait()
	if codes["created"] != 100 || codes["insufficient_funds"] != 100 || len(codes) != 2 {
		t.Fatalf("outcomes = %v, want 100 created and 100 insufficient_funds", codes)
	}
	b := c.balance(cust, "USD")
	wantAmount(t, "available", b.Available, "0")
	wantAmount(t, "held", b.Held, "100")
	mustVerify(t, c.business.ID)
}

func TestPayoutLifecycleAndFees(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeLive)
	rail := railClient(t, srv)
	if err := pgtest.Store(t).SetFee(context.Background(), c.business.ID, "USDT", ledger.Fee{Fixed: decimal.RequireFromString("1"), Percent: decimal.RequireFromString("0.5")}); err != nil {
		t.Fatal(err)
	}
	cust := c.createCustomer("pay@example.com")
	pgtest.Fund(t, c.business.ID, cust, "USDT", "500")
	dest := "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
	create := func(amount string) map[string]any {
		var p map[string]any
		c.do("POST", "/v1/payouts", map[string]any{"currency": "USDT", "network": "ethereum", "amount": amount,
			"address": dest}, HeaderProfileID, cust).must(t, 201).Data(t, &p)
		return p
	}
	p := create("100")
	// fee = 1 + 100 × 0.5 / 100 = 1.5; total held 101.5
	wantAmount(t, "fee", p["fee"].(string), "1.5")
	wantAmount(t, "total", p["total"].(string), "101.5")
	b := c.balance(cust, "USDT")
	wantAmount(t, "available", b.Available, "398.5")
	wantAmount(t, "held", b.Held, "101.5")

	// The rail fails it: the whole hold, fee included, comes back.
	id := p["id"].(string)
	rail.do("POST", "/v1/rails/payouts/"+id+"/processing", nil).must(t, 200)
	var failed map[string]any
	rail.do("POST", "/v1/rails/payouts/"+id+"/fail", map[string]any{"failure_reason": "bank down"}).must(t, 200).Data(t, &failed)
	if failed["status"] != "failed" || failed["failure_reason"] != "bank down" {
		t.Fatalf("failed payout = %v", failed)
	}
	b = c.balance(cust, "USDT")
	wantAmount(t, "available after failure", b.Available, "500")
	wantAmount(t, "held after failure", b.Held, "0")
	rail.do("POST", "/v1/rails/payouts/"+id+"/complete", nil).must(t, 409)

	// A second one completes: two debits in history, payout and payout_fee.
	p2 := create("10")
	id2 := p2["id"].(string)
	var done map[string]any
	rail.do("POST", "/v1/rails/payouts/"+id2+"/complete", map[string]any{"tx_hash": "0xfeed"}).must(t, 200).Data(t, &done)
	if done["status"] != "completed" || done["tx_hash"] != "0xfeed" {
		t.Fatalf("completed payout = %v", done)
	}
	b = c.balance(cust, "USDT")
	wantAmount(t, "available after completion", b.Available, "488.95")
	wantAmount(t, "total after completion", b.Total, "488.95")
	var hist []map[string]any
	c.do("GET", "/v1/transactions?limit=2", nil, HeaderProfileID, cust).must(t, 200).Data(t, &hist)
	types := map[string]bool{}
	for _, h := range hist {
		types[h["type"].(string)] = h["direction"] == "debit"
	}
	if !types["payout"] || !types["payout_fee"] {
		t.Fatalf("latest history = %v, want payout and payout_fee debits", hist)
	}
	// Cancel works only while pending.
	c.do("POST", "/v1/payouts/"+id2+"/cancel", nil, HeaderProfileID, cust).must(t, 409)
	p3 := create("10")
	var cancelled map[string]any
	c.do("POST", "/v1/payouts/"+p3["id"].(string)+"/cancel", nil, HeaderProfileID, cust).must(t, 200).Data(t, &cancelled)
	if cancelled["status"] != "cancelled" {
		t.Fatalf("cancel = %v", cancelled)
	}
	wantAmount(t, "available after cancel", c.balance(cust, "USDT").Available, "488.95")
	mustVerify(t, c.business.ID)
}

func TestPayoutRefusals(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeLive)
	cust := c.createCustomer("refuse@example.com")
	pgtest.Fund(t, c.business.ID, cust, "USDT", "5000")
	risky := "0x1111111111111111111111111111111111111111"
	if err := pgtest.Store(t).AddRiskAddress(context.Background(), "ethereum", risky); err != nil {
		t.Fatal(err)
	}
	ok := "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
	tests := []struct {
		name       string
		body       map[string]any
		wantStatus int
		wantCode   string
	}{
		{"precision", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "10.1234567", "address": ok}, 400, "amount_precision"},
		{"zero", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "0", "address": ok}, 400, "amount_invalid"},
		{"negative", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "-5", "address": ok}, 400, "amount_invalid"},
		{"exponent", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "1e3", "address": ok}, 400, "amount_invalid"},
		{"unknown currency", map[string]any{"currency": "XYZ", "network": "ethereum", "amount": "10", "address": ok}, 400, "currency_unsupported"},
		{"unknown network", map[string]any{"currency": "USDT", "network": "bitcoin", "amount": "10", "address": ok}, 400, "network_unsupported"},
		{"bad address", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "10", "address": "0x123"}, 400, "invalid_address"},
		{"below minimum", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "1", "address": ok}, 422, "amount_below_minimum"},
		{"travel rule", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "1000", "address": ok}, 422, "travel_rule_required"},
		{"high risk", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "10", "address": risky}, 422, "high_risk_address"},
		{"insufficient", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "5000.5", "address": ok,
			"beneficiary": map[string]any{"name": "Ada"}}, 422, "insufficient_funds"},
		{"unknown field", map[string]any{"currency": "USDT", "network": "ethereum", "amont": "10", "address": ok}, 400, "unknown_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.on(t).do("POST", "/v1/payouts", tt.body, HeaderProfileID, cust).must(t, tt.wantStatus)
			if r.Code() != tt.wantCode {
				t.Fatalf("code = %q, want %q", r.Code(), tt.wantCode)
			}
		})
	}
	wantAmount(t, "available", c.balance(cust, "USDT").Available, "5000")

	// A suspended customer receives but cannot send: profile_inactive before any balance check.
	c.do("PATCH", "/v1/customers/"+cust, map[string]any{"status": "suspended"}).must(t, 200)
	r := c.do("POST", "/v1/payouts", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "999999", "address": ok}, HeaderProfileID, cust).must(t, 403)
	if r.Code() != "profile_inactive" {
		t.Fatalf("suspended payout code = %q", r.Code())
	}
	r = c.do("POST", "/v1/transfers", map[string]any{"currency": "USDT", "amount": "1", "to_profile_id": c.business.ID}, HeaderProfileID, cust).must(t, 403)
	if r.Code() != "profile_inactive" {
		t.Fatalf("suspended transfer code = %q", r.Code())
	}
	pgtest.Fund(t, c.business.ID, cust, "USDT", "1")
	wantAmount(t, "suspended still credited", c.balance(cust, "USDT").Available, "5001")
}

func TestSandboxRailAndCancelRace(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	cust := c.fundedCustomer("sandbox@example.com", "USDC", "solana", "100")
	create := func(addr string) string {
		var p struct{ ID string }
		c.do("POST", "/v1/payouts", map[string]any{"currency": "USDC", "network": "solana", "amount": "10", "address": addr},
			HeaderProfileID, cust).must(t, 201).Data(t, &p)
		return p.ID
	}
	good := create("4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T")
	dead := create("4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDEAD")
	racer := create("4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rails := []*Server{srv, testServer(t)} // two replicas running the rail
	for _, r := range rails {
		go r.RunSandboxRail(ctx)
	}
	// Race a cancel against the rail for the third payout.
	time.Sleep(900 * time.Millisecond)
	cr := c.do("POST", "/v1/payouts/"+racer+"/cancel", nil, HeaderProfileID, cust)
	if cr.Status != 200 && cr.Status != 409 {
		t.Fatalf("cancel during race: %d %s", cr.Status, cr.Raw)
	}
	final := func(id string) string {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			var p struct{ Status string }
			c.do("GET", "/v1/payouts/"+id, nil, HeaderProfileID, cust).must(t, 200).Data(t, &p)
			if p.Status == "completed" || p.Status == "failed" || p.Status == "cancelled" {
				return p.Status
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("payout %s did not settle", id)
		return ""
	}
	if s := final(good); s != "completed" {
		t.Fatalf("good payout = %s", s)
	}
	if s := final(dead); s != "failed" {
		t.Fatalf("dead payout = %s", s)
	}
	rs := final(racer)
	if (cr.Status == 200) != (rs == "cancelled") {
		t.Fatalf("cancel answered %d but payout ended %s", cr.Status, rs)
	}
	want := "80" // 100 - good - racer (unless cancelled)
	if rs == "cancelled" {
		want = "90"
	}
	b := c.balance(cust, "USDC")
	wantAmount(t, "available", b.Available, want)
	wantAmount(t, "held", b.Held, "0")
	mustVerify(t, c.business.ID)
}

func TestIdempotencyConcurrentSameKey(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	from := c.createCustomer("idem-a@example.com")
	to := c.createCustomer("idem-b@example.com")
	pgtest.Fund(t, c.business.ID, from, "NGN", "1000")
	body := map[string]any{"currency": "NGN", "amount": "7.50", "to_profile_id": to}
	var wg sync.WaitGroup
	results := make([]*response, 20)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = c.do("POST", "/v1/transfers", body, HeaderProfileID, from, "Idempotency-Key", "same-key-1")
		}(i)
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		switch {
		case r.Status == 201:
			var tr struct{ ID string }
			r.Data(t, &tr)
			ids[tr.ID] = true
		case r.Status == 409 && r.Code() == "idempotency_key_in_use":
		default:
			t.Fatalf("unexpected %d %s", r.Status, r.Raw)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("distinct transfers = %d, want 1", len(ids))
	}
	replay := c.do("POST", "/v1/transfers", body, HeaderProfileID, from, "Idempotency-Key", "same-key-1").must(t, 201)
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay lacks Idempotent-Replayed")
	}
	wantAmount(t, "sender", c.balance(from, "NGN").Available, "992.50")
	wantAmount(t, "receiver", c.balance(to, "NGN").Available, "7.50")
	r := c.do("POST", "/v1/transfers", map[string]any{"currency": "NGN", "amount": "8", "to_profile_id": to}, HeaderProfileID, from, "Idempotency-Key", "same-key-1").must(t, 422)
	if r.Code() != "idempotency_key_reused" {
		t.Fatalf("code = %q", r.Code())
	}
	r = c.do("POST", "/v1/transfers", body, "Idempotency-Key", "same-key-1").must(t, 422)
	if r.Code() != "idempotency_key_reused" {
		t.Fatalf("other profile, same key: code = %q", r.Code())
	}
}

func TestTransfersAndTenantWalls(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	a := newClient(t, srv, ledger.ModeSandbox)
	b := newClient(t, srv, ledger.ModeSandbox)
	alice := a.createCustomer("alice@example.com")
	bob := a.createCustomer("bob@example.com")
	foreign := b.createCustomer("eve@example.com")
	pgtest.Fund(t, a.business.ID, alice, "EUR", "20")
	var tr struct{ ID, Status string }
	a.do("POST", "/v1/transfers", map[string]any{"currency": "EUR", "amount": "5", "to_profile_id": bob}, HeaderProfileID, alice).must(t, 201).Data(t, &tr)
	if tr.Status != "completed" {
		t.Fatalf("status %q", tr.Status)
	}
	// Main profile to customer and back.
	pgtest.Fund(t, a.business.ID, a.business.ID, "EUR", "3")
	a.do("POST", "/v1/transfers", map[string]any{"currency": "EUR", "amount": "3", "to_profile_id": alice}).must(t, 201)
	for _, to := range []string{foreign, b.business.ID, "CUS_bad", ledger.NewID(ledger.PrefixCustomer)} {
		r := a.do("POST", "/v1/transfers", map[string]any{"currency": "EUR", "amount": "1", "to_profile_id": to}, HeaderProfileID, alice).must(t, 404)
		if r.Code() != "profile_not_found" {
			t.Fatalf("to %s: code %q", to, r.Code())
		}
	}
	wantAmount(t, "alice", a.balance(alice, "EUR").Available, "18")
	wantAmount(t, "bob", a.balance(bob, "EUR").Available, "5")
	// Both parties see the transfer; the other tenant does not.
	a.do("GET", "/v1/transfers/"+tr.ID, nil, HeaderProfileID, bob).must(t, 200)
	b.do("GET", "/v1/transfers/"+tr.ID, nil).must(t, 404)
	// Every money route refuses another tenant's profile exactly like an unknown one.
	for _, path := range []string{"/v1/balances", "/v1/balances/EUR", "/v1/transactions", "/v1/deposit-addresses",
		"/v1/deposits", "/v1/payouts", "/v1/transfers", "/v1/conversions", "/v1/profile"} {
		r1 := b.do("GET", path, nil, HeaderProfileID, alice)
		r2 := b.do("GET", path, nil, HeaderProfileID, ledger.NewID(ledger.PrefixCustomer))
		if r1.Status != 404 || r1.Code() != "profile_not_found" || r2.Code() != r1.Code() {
			t.Fatalf("%s with a foreign profile: %d %s / unknown %s", path, r1.Status, r1.Raw, r2.Raw)
		}
	}
	for _, path := range []string{"/v1/payouts", "/v1/transfers", "/v1/deposit-addresses", "/v1/quotes", "/v1/conversions"} {
		r := b.do("POST", path, map[string]any{}, HeaderProfileID, alice)
		if r.Status != 404 || r.Code() != "profile_not_found" {
			t.Fatalf("POST %s with a foreign profile: %d %s", path, r.Status, r.Raw)
		}
	}
	mustVerify(t, a.business.ID)
}

func TestBatchTransfers(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	from := c.createCustomer("batch-a@example.com")
	to := c.createCustomer("batch-b@example.com")
	pgtest.Fund(t, c.business.ID, from, "USD", "10")
	items := []map[string]any{}
	for i := 0; i < 12; i++ {
		items = append(items, map[string]any{"currency": "USD", "amount": "1", "to_profile_id": to})
	}
	r := c.do("POST", "/v1/transfers/batch", map[string]any{"transfers": items}, HeaderProfileID, from).must(t, 422)
	if r.Code() != "insufficient_funds" {
		t.Fatalf("atomic overdraft: %s", r.Raw)
	}
	wantAmount(t, "untouched", c.balance(from, "USD").Available, "10")
	var res struct {
		Results []struct {
			Index  int
			Status string
		}
	}
	c.do("POST", "/v1/transfers/batch", map[string]any{"transfers": items, "atomic": false}, HeaderProfileID, from).must(t, 201).Data(t, &res)
	completed := 0
	for _, x := range res.Results {
		if x.Status == "completed" {
			completed++
		}
	}
	if completed != 10 || len(res.Results) != 12 {
		t.Fatalf("non-atomic batch: %d completed of %d", completed, len(res.Results))
	}
	wantAmount(t, "sender", c.balance(from, "USD").Available, "0")
	wantAmount(t, "receiver", c.balance(to, "USD").Available, "10")
	mustVerify(t, c.business.ID)
}

func TestQuotesAndConversions(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	// Each test run sets its own pair rate; the rate table is operator-wide, so use
	// a pair no other test touches.
	if err := pgtest.Store(t).SetRate(context.Background(), ledger.Rate{Base: "ETH", Quote: "USDC",
		Rate: decimal.RequireFromString("2000"), SpreadPercent: decimal.RequireFromString("1")}); err != nil {
		t.Fatal(err)
	}
	cust := c.createCustomer("fx@example.com")
	pgtest.Fund(t, c.business.ID, cust, "ETH", "2")
	var q struct {
		ID, Rate     string
		SourceAmount string `json:"source_amount"`
		TargetAmount string `json:"target_amount"`
	}
	c.do("POST", "/v1/quotes", map[string]any{"source_currency": "ETH", "target_currency": "USDC", "source_amount": "1.5"},
		HeaderProfileID, cust).must(t, 201).Data(t, &q)
	wantAmount(t, "rate", q.Rate, "1980")
	wantAmount(t, "target", q.TargetAmount, "2970")
	var conv struct{ Status string }
	c.do("POST", "/v1/conversions", map[string]any{"quote_id": q.ID}, HeaderProfileID, cust).must(t, 201).Data(t, &conv)
	if conv.Status != "completed" {
		t.Fatalf("conversion %v", conv)
	}
	wantAmount(t, "ETH left", c.balance(cust, "ETH").Available, "0.5")
	wantAmount(t, "USDC arrived", c.balance(cust, "USDC").Available, "2970")
	r := c.do("POST", "/v1/conversions", map[string]any{"quote_id": q.ID}, HeaderProfileID, cust).must(t, 409)
	if r.Code() != "quote_used" {
		t.Fatalf("reuse: %q", r.Code())
	}
	// Reverse direction by target amount.
	var q2 struct {
		ID           string
		SourceAmount string `json:"source_amount"`
	}
	c.do("POST", "/v1/quotes", map[string]any{"source_currency": "USDC", "target_currency": "ETH", "target_amount": "0.1"},
		HeaderProfileID, cust).must(t, 201).Data(t, &q2)
	if !decimal.RequireFromString(q2.SourceAmount).GreaterThan(decimal.RequireFromString("200")) {
		t.Fatalf("buying 0.1 ETH costs %s USDC, want more than 200 (spread)", q2.SourceAmount)
	}
	// Another profile cannot use this profile's quote.
	r = c.do("POST", "/v1/conversions", map[string]any{"quote_id": q2.ID}).must(t, 404)
	if r.Code() != "not_found" {
		t.Fatalf("foreign quote: %q", r.Code())
	}
	mustVerify(t, c.business.ID)
}

func TestQuoteExpires(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	srv.cfg.QuoteTTL = time.Second
	c := newClient(t, srv, ledger.ModeSandbox)
	if err := pgtest.Store(t).SetRate(context.Background(), ledger.Rate{Base: "BTC", Quote: "USDT",
		Rate: decimal.RequireFromString("65000"), SpreadPercent: decimal.Zero}); err != nil {
		t.Fatal(err)
	}
	pgtest.Fund(t, c.business.ID, c.business.ID, "USDT", "100")
	var q struct{ ID string }
	c.do("POST", "/v1/quotes", map[string]any{"source_currency": "USDT", "target_currency": "BTC", "source_amount": "65"}).must(t, 201).Data(t, &q)
	time.Sleep(1100 * time.Millisecond)
	r := c.do("POST", "/v1/conversions", map[string]any{"quote_id": q.ID}).must(t, 422)
	if r.Code() != "quote_expired" {
		t.Fatalf("code = %q", r.Code())
	}
}

func TestBalancesAndCurrencies(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	var cur []struct {
		Code     string
		Scale    int
		Networks []struct{ Network string }
	}
	c.do("GET", "/v1/currencies", nil).must(t, 200).Data(t, &cur)
	scales := map[string]int{}
	for _, x := range cur {
		scales[x.Code] = x.Scale
	}
	if scales["ETH"] != 18 || scales["BTC"] != 8 || scales["USDT"] != 6 || scales["NGN"] != 2 {
		t.Fatalf("scales = %v", scales)
	}
	var bs []balanceView
	c.do("GET", "/v1/balances", nil).must(t, 200).Data(t, &bs)
	if len(bs) != 0 {
		t.Fatalf("new business balances = %v", bs)
	}
	b := c.balance("", "ETH")
	if b.Available != "0.000000000000000000" || b.Type != "crypto" {
		t.Fatalf("unused ETH balance = %+v", b)
	}
	pgtest.Fund(t, c.business.ID, c.business.ID, "ETH", "123456789012.000000000000000001")
	wantAmount(t, "wei-exact", c.balance("", "ETH").Available, "123456789012.000000000000000001")
	c.do("GET", "/v1/balances", nil).must(t, 200).Data(t, &bs)
	if len(bs) != 1 || bs[0].Currency != "ETH" {
		t.Fatalf("balances = %v", bs)
	}
	r := c.do("GET", "/v1/balances/XYZ", nil).must(t, 400)
	if r.Code() != "currency_unsupported" {
		t.Fatalf("code %q", r.Code())
	}
	c.do("GET", "/v1/transactions?limit=0", nil).must(t, 400)
	c.do("GET", "/v1/transactions?type=nope", nil).must(t, 400)
	res := c.do("GET", "/v1/transactions/export.csv", nil).must(t, http.StatusOK)
	if !strings.HasPrefix(string(res.Raw), "id,type,direction") || strings.Count(string(res.Raw), "\n") != 2 {
		t.Fatalf("csv = %q", res.Raw)
	}
}

func TestPayoutToWallet(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeLive)
	cust := c.createCustomer("wallet-pay@example.com")
	pgtest.Fund(t, c.business.ID, cust, "USDT", "100")
	// A fresh valid tron address: the risk list is operator-wide, and another test
	// lists a well-known address on it.
	addr, err := rails.Sandbox{}.Address("tron", ledger.NewID("wallet"))
	if err != nil {
		t.Fatal(err)
	}
	var w struct{ ID, Address string }
	c.do("POST", "/v1/customers/"+cust+"/wallets", map[string]any{"network": "tron", "address": addr, "label": "main"}).
		must(t, 201).Data(t, &w)
	var p struct{ Address, Status string }
	c.do("POST", "/v1/payouts", map[string]any{"currency": "USDT", "network": "tron", "amount": "10", "wallet_id": w.ID},
		HeaderProfileID, cust).must(t, 201).Data(t, &p)
	if p.Address != w.Address || p.Status != "pending" {
		t.Fatalf("payout to wallet = %+v, want address %s", p, w.Address)
	}
	r := c.do("POST", "/v1/payouts", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "10", "wallet_id": w.ID},
		HeaderProfileID, cust).must(t, 400)
	if r.Code() != "validation_failed" || r.Body.Error.Param != "wallet_id" {
		t.Fatalf("wallet on another network: %s", r.Raw)
	}
	// The business's main profile cannot spend a customer's wallet.
	pgtest.Fund(t, c.business.ID, c.business.ID, "USDT", "100")
	c.do("POST", "/v1/payouts", map[string]any{"currency": "USDT", "network": "tron", "amount": "10", "wallet_id": w.ID}).must(t, 404)
	wantAmount(t, "customer available", c.balance(cust, "USDT").Available, "90")
}
