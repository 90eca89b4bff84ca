package api

// The tenant isolation matrix (issue 9, DESIGN.md §4, API.md §11).
//
// Goal: no route lets business B read, change or even detect business A's data.
// Method: A builds one of every resource (customer, wallet, deposit address,
// deposit, payout, transfer, quote, conversion, webhook endpoint, event, API key).
// Then, for every route registered in the Fiber app, B calls it with A's ids in
// every place an id can go: the path, X-BU-PROFILE-ID, and body references
// (to_profile_id, wallet_id, quote_id, to_address). Each such call must answer
// exactly what the same call with a never-existing id answers (status, code, and
// message once the id itself is masked), and that must be a 404. Routes without an
// id of their own (lists, creates) must not mention any of A's ids. Finally every
// row of A in every tenant table is hashed before and after: B's calls changed
// nothing. A route missing from isolationMatrix fails the test, so a new route
// cannot ship without saying how it is walled off.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// isoFixture holds business A's resources and business B's own customer.
type isoFixture struct {
	busA, cusA, walA, dadrA, addrA, depA, payA, trfA, quoA, cnvA, whkA, evtA, keyA string
	cusB, addrB, txA                                                               string
	attemptEvent                                                                   string // an event of A with a recorded webhook attempt (rls_reads_test.go)
}

// isoProbe is one call B makes. foreign uses A's id; unknown is the same call with
// a never-existing id in its place (nil for leak probes). wantStatus defaults to
// 404; id is the foreign id masked out of messages before comparing.
type isoProbe struct {
	name       string
	foreign    isoReq
	unknown    *isoReq
	id, unkID  string
	wantStatus int
	leak       bool // a list or create: must succeed-or-refuse without naming A's ids
}

type isoReq struct {
	method, path string
	headers      []string
	body         any
}

// isoRoute says how one route is tested: probes, or exempt with a reason.
type isoRoute struct {
	exempt string
	probes func(f isoFixture) []isoProbe
}

// pathProbe swaps a path id: tmpl has one %s.
func pathProbe(method, tmpl, foreignID, unknownID string, body any, headers ...string) isoProbe {
	return isoProbe{name: "path id", id: foreignID, unkID: unknownID,
		foreign: isoReq{method, fmt.Sprintf(tmpl, foreignID), headers, body},
		unknown: &isoReq{method, fmt.Sprintf(tmpl, unknownID), headers, body}}
}

// headerProbes name A's customer and A's business in X-BU-PROFILE-ID.
func headerProbes(f isoFixture, method, path string, body any) []isoProbe {
	var out []isoProbe
	for _, id := range []string{f.cusA, f.busA} {
		unk := ledger.NewID(ledger.PrefixCustomer)
		if strings.HasPrefix(id, ledger.PrefixBusiness) {
			unk = ledger.NewID(ledger.PrefixBusiness)
		}
		out = append(out, isoProbe{name: "X-BU-PROFILE-ID " + id[:4], id: id, unkID: unk,
			foreign: isoReq{method, path, []string{HeaderProfileID, id}, body},
			unknown: &isoReq{method, path, []string{HeaderProfileID, unk}, body}})
	}
	return out
}

// bodyProbe swaps a body reference; mk builds the body around an id.
func bodyProbe(name, method, path, foreignID, unknownID string, mk func(id string) any, headers ...string) isoProbe {
	return isoProbe{name: "body " + name, id: foreignID, unkID: unknownID,
		foreign: isoReq{method, path, headers, mk(foreignID)},
		unknown: &isoReq{method, path, headers, mk(unknownID)}}
}

func leakProbe(method, path string, body any, headers ...string) isoProbe {
	return isoProbe{name: "no leak", leak: true, foreign: isoReq{method, path, headers, body}}
}

func with(ps ...[]isoProbe) []isoProbe {
	var out []isoProbe
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

func one(p ...isoProbe) []isoProbe { return p }

var (
	usdtPayout = func(extra map[string]any) map[string]any {
		b := map[string]any{"currency": "USDT", "network": "ethereum", "amount": "20"}
		for k, v := range extra {
			b[k] = v
		}
		if b["wallet_id"] == nil {
			b["address"] = "0x8617e340b3d01fa5f11f306f4090fd50e238070d"
		}
		return b
	}
	transferTo = func(id string) any {
		return map[string]any{"currency": "USD", "amount": "1", "to_profile_id": id}
	}
)

// isolationMatrix lists every route as "METHOD /template" (HEAD routes ride on
// their GET). Add new routes here: either probes, or exempt with the reason.
var isolationMatrix = map[string]isoRoute{
	"GET /healthz":      {exempt: "public liveness probe; no tenant data"},
	"GET /readyz":       {exempt: "public readiness probe; no tenant data"},
	"GET /metrics":      {exempt: "operator metrics; labels are route templates, never ids"},
	"GET /openapi.yaml": {exempt: "public contract; no tenant data"},

	// Rail routes take an operator's rail key and act across businesses by design
	// (a chain output names no tenant). A business key is refused outright.
	"POST /v1/rails/deposits":               {probes: railProbe("POST", "/v1/rails/deposits")},
	"GET /v1/rails/deposits":                {probes: railProbe("GET", "/v1/rails/deposits")},
	"GET /v1/rails/payouts":                 {probes: railProbe("GET", "/v1/rails/payouts")},
	"POST /v1/rails/payouts/:id/processing": {probes: railPayoutProbe("processing")},
	"POST /v1/rails/payouts/:id/complete":   {probes: railPayoutProbe("complete")},
	"POST /v1/rails/payouts/:id/fail":       {probes: railPayoutProbe("fail")},

	"GET /v1/business": {probes: func(f isoFixture) []isoProbe { return one(leakProbe("GET", "/v1/business", nil)) }},
	"GET /v1/profile": {probes: func(f isoFixture) []isoProbe {
		return headerProbes(f, "GET", "/v1/profile", nil)
	}},
	"GET /v1/currencies": {probes: func(f isoFixture) []isoProbe { return one(leakProbe("GET", "/v1/currencies", nil)) }},

	"POST /v1/customers": {probes: func(f isoFixture) []isoProbe {
		// external_id is unique per business: A's does not collide for B.
		p := leakProbe("POST", "/v1/customers", map[string]any{"type": "individual", "email": "iso-b@example.com",
			"first_name": "B", "last_name": "B", "external_id": "iso-ext-a"})
		p.wantStatus = 201
		return one(p)
	}},
	"GET /v1/customers": {probes: func(f isoFixture) []isoProbe {
		return one(leakProbe("GET", "/v1/customers?q=iso-a", nil), leakProbe("GET", "/v1/customers?external_id=iso-ext-a", nil),
			leakProbe("GET", "/v1/customers?email=iso-a@example.com", nil))
	}},
	"GET /v1/customers/export.csv": {probes: func(f isoFixture) []isoProbe {
		return one(leakProbe("GET", "/v1/customers/export.csv?q=iso-a", nil))
	}},
	"GET /v1/customers/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/customers/%s", f.cusA, ledger.NewID(ledger.PrefixCustomer), nil))
	}},
	"PATCH /v1/customers/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("PATCH", "/v1/customers/%s", f.cusA, ledger.NewID(ledger.PrefixCustomer), map[string]any{"note": "pwned"}))
	}},
	"DELETE /v1/customers/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("DELETE", "/v1/customers/%s", f.cusA, ledger.NewID(ledger.PrefixCustomer), nil))
	}},
	"GET /v1/customers/:id/audit-log": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/customers/%s/audit-log", f.cusA, ledger.NewID(ledger.PrefixCustomer), nil))
	}},
	"POST /v1/customers/:id/wallets": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("POST", "/v1/customers/%s/wallets", f.cusA, ledger.NewID(ledger.PrefixCustomer),
			map[string]any{"network": "tron", "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}))
	}},
	"GET /v1/customers/:id/wallets": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/customers/%s/wallets", f.cusA, ledger.NewID(ledger.PrefixCustomer), nil))
	}},
	"DELETE /v1/customers/:id/wallets/:wallet_id": {probes: func(f isoFixture) []isoProbe {
		return one(
			pathProbe("DELETE", "/v1/customers/"+f.cusA+"/wallets/%s", f.walA, ledger.NewID(ledger.PrefixWallet), nil),
			pathProbe("DELETE", "/v1/customers/"+f.cusB+"/wallets/%s", f.walA, ledger.NewID(ledger.PrefixWallet), nil),
			pathProbe("DELETE", "/v1/customers/%s/wallets/"+f.walA, f.cusA, ledger.NewID(ledger.PrefixCustomer), nil))
	}},
	"POST /v1/customers/:id/tokens": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("POST", "/v1/customers/%s/tokens", f.cusA, ledger.NewID(ledger.PrefixCustomer),
			map[string]any{"scopes": []string{"balances:read"}}))
	}},

	"GET /v1/balances": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/balances", nil), one(leakProbe("GET", "/v1/balances", nil)))
	}},
	"GET /v1/balances/:currency": {probes: func(f isoFixture) []isoProbe {
		return headerProbes(f, "GET", "/v1/balances/USDT", nil)
	}},
	"GET /v1/transactions": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/transactions", nil), one(leakProbe("GET", "/v1/transactions", nil)))
	}},
	"GET /v1/transactions/export.csv": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/transactions/export.csv", nil), one(leakProbe("GET", "/v1/transactions/export.csv", nil)))
	}},
	"POST /v1/deposit-addresses": {probes: func(f isoFixture) []isoProbe {
		return headerProbes(f, "POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "ethereum"})
	}},
	"GET /v1/deposit-addresses": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/deposit-addresses", nil), one(leakProbe("GET", "/v1/deposit-addresses", nil)))
	}},
	"GET /v1/deposits": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/deposits", nil), one(leakProbe("GET", "/v1/deposits", nil)))
	}},
	"GET /v1/deposits/:id": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/deposits/"+f.depA, nil), one(
			pathProbe("GET", "/v1/deposits/%s", f.depA, ledger.NewID(ledger.PrefixDeposit), nil),
			pathProbe("GET", "/v1/deposits/%s", f.depA, ledger.NewID(ledger.PrefixDeposit), nil, HeaderProfileID, f.cusB)))
	}},
	"POST /v1/sandbox/deposits": {probes: func(f isoFixture) []isoProbe {
		mk := func(addr string) any {
			return map[string]any{"network": "ethereum", "currency": "USDT", "amount": "5", "to_address": addr}
		}
		// A's deposit address is refused exactly like an address nobody owns (the
		// contract's 400: to_address must be one of the business's own).
		p := bodyProbe("to_address", "POST", "/v1/sandbox/deposits", f.addrA, "0x1111111111111111111111111111111111111111", mk)
		p.wantStatus = 400
		// A's chain output reported again by B to B's own address: refused (the
		// global deposits_chain_output index, which RLS hides from B's pre-check).
		tx := isoProbe{name: "body tx_hash of A", wantStatus: 400, foreign: isoReq{"POST", "/v1/sandbox/deposits",
			[]string{HeaderProfileID, f.cusB}, map[string]any{"network": "ethereum", "currency": "USDT", "amount": "5",
				"to_address": f.addrB, "tx_hash": f.txA}}}
		return with(headerProbes(f, "POST", "/v1/sandbox/deposits", mk(f.addrA)), one(p, tx))
	}},

	"POST /v1/payouts": {probes: func(f isoFixture) []isoProbe {
		mk := func(id string) any { return usdtPayout(map[string]any{"wallet_id": id}) }
		return with(headerProbes(f, "POST", "/v1/payouts", usdtPayout(nil)), one(
			bodyProbe("wallet_id", "POST", "/v1/payouts", f.walA, ledger.NewID(ledger.PrefixWallet), mk, HeaderProfileID, f.cusB)))
	}},
	"GET /v1/payouts": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/payouts", nil), one(leakProbe("GET", "/v1/payouts", nil)))
	}},
	"GET /v1/payouts/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/payouts/%s", f.payA, ledger.NewID(ledger.PrefixPayout), nil),
			pathProbe("GET", "/v1/payouts/%s", f.payA, ledger.NewID(ledger.PrefixPayout), nil, HeaderProfileID, f.cusB))
	}},
	"POST /v1/payouts/:id/cancel": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("POST", "/v1/payouts/%s/cancel", f.payA, ledger.NewID(ledger.PrefixPayout), nil),
			pathProbe("POST", "/v1/payouts/%s/cancel", f.payA, ledger.NewID(ledger.PrefixPayout), nil, HeaderProfileID, f.cusB))
	}},
	"POST /v1/transfers": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "POST", "/v1/transfers", transferTo(f.cusB)), one(
			bodyProbe("to_profile_id CUS", "POST", "/v1/transfers", f.cusA, ledger.NewID(ledger.PrefixCustomer), transferTo),
			bodyProbe("to_profile_id BUS", "POST", "/v1/transfers", f.busA, ledger.NewID(ledger.PrefixBusiness), transferTo)))
	}},
	"POST /v1/transfers/batch": {probes: func(f isoFixture) []isoProbe {
		mk := func(id string) any { return map[string]any{"transfers": []any{transferTo(id)}} }
		return with(headerProbes(f, "POST", "/v1/transfers/batch", mk(f.cusB)), one(
			bodyProbe("transfers[].to_profile_id", "POST", "/v1/transfers/batch", f.cusA, ledger.NewID(ledger.PrefixCustomer), mk)))
	}},
	"GET /v1/transfers": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/transfers", nil), one(leakProbe("GET", "/v1/transfers", nil)))
	}},
	"GET /v1/transfers/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/transfers/%s", f.trfA, ledger.NewID(ledger.PrefixTransfer), nil),
			pathProbe("GET", "/v1/transfers/%s", f.trfA, ledger.NewID(ledger.PrefixTransfer), nil, HeaderProfileID, f.cusB))
	}},
	"POST /v1/quotes": {probes: func(f isoFixture) []isoProbe {
		return headerProbes(f, "POST", "/v1/quotes", map[string]any{"source_currency": "USDC", "target_currency": "ETH", "source_amount": "10"})
	}},
	"GET /v1/quotes/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/quotes/%s", f.quoA, ledger.NewID(ledger.PrefixQuote), nil),
			pathProbe("GET", "/v1/quotes/%s", f.quoA, ledger.NewID(ledger.PrefixQuote), nil, HeaderProfileID, f.cusB))
	}},
	"POST /v1/conversions": {probes: func(f isoFixture) []isoProbe {
		mk := func(id string) any { return map[string]any{"quote_id": id} }
		return with(headerProbes(f, "POST", "/v1/conversions", mk(f.quoA)), one(
			bodyProbe("quote_id", "POST", "/v1/conversions", f.quoA, ledger.NewID(ledger.PrefixQuote), mk),
			bodyProbe("quote_id", "POST", "/v1/conversions", f.quoA, ledger.NewID(ledger.PrefixQuote), mk, HeaderProfileID, f.cusB)))
	}},
	"GET /v1/conversions": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/conversions", nil), one(leakProbe("GET", "/v1/conversions", nil)))
	}},
	"GET /v1/conversions/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/conversions/%s", f.cnvA, ledger.NewID(ledger.PrefixConversion), nil),
			pathProbe("GET", "/v1/conversions/%s", f.cnvA, ledger.NewID(ledger.PrefixConversion), nil, HeaderProfileID, f.cusB))
	}},

	"POST /v1/webhook-endpoints": {probes: func(f isoFixture) []isoProbe {
		p := leakProbe("POST", "/v1/webhook-endpoints", map[string]any{"url": "http://127.0.0.1:9/iso-b"})
		p.wantStatus = 201
		return one(p)
	}},
	"GET /v1/webhook-endpoints": {probes: func(f isoFixture) []isoProbe {
		return one(leakProbe("GET", "/v1/webhook-endpoints", nil))
	}},
	"GET /v1/webhook-endpoints/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/webhook-endpoints/%s", f.whkA, ledger.NewID(ledger.PrefixWebhook), nil))
	}},
	"DELETE /v1/webhook-endpoints/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("DELETE", "/v1/webhook-endpoints/%s", f.whkA, ledger.NewID(ledger.PrefixWebhook), nil))
	}},
	"GET /v1/events": {probes: func(f isoFixture) []isoProbe {
		return with(headerProbes(f, "GET", "/v1/events", nil), one(leakProbe("GET", "/v1/events", nil)))
	}},
	"GET /v1/events/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/events/%s", f.evtA, ledger.NewID(ledger.PrefixEvent), nil),
			pathProbe("GET", "/v1/events/%s", f.evtA, ledger.NewID(ledger.PrefixEvent), nil, HeaderProfileID, f.cusB))
	}},
	"POST /v1/events/:id/redeliver": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("POST", "/v1/events/%s/redeliver", f.evtA, ledger.NewID(ledger.PrefixEvent), nil))
	}},
	"GET /v1/events/:id/deliveries": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/events/%s/deliveries", f.evtA, ledger.NewID(ledger.PrefixEvent), nil))
	}},

	"POST /v1/api-keys": {probes: func(f isoFixture) []isoProbe {
		p := leakProbe("POST", "/v1/api-keys", map[string]any{"mode": "read_only", "name": "iso-b"})
		p.wantStatus = 201
		return one(p)
	}},
	"GET /v1/api-keys": {probes: func(f isoFixture) []isoProbe { return one(leakProbe("GET", "/v1/api-keys", nil)) }},
	"GET /v1/api-keys/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("GET", "/v1/api-keys/%s", f.keyA, ledger.NewID(ledger.PrefixKey), nil))
	}},
	"DELETE /v1/api-keys/:id": {probes: func(f isoFixture) []isoProbe {
		return one(pathProbe("DELETE", "/v1/api-keys/%s", f.keyA, ledger.NewID(ledger.PrefixKey), nil))
	}},
}

// railProbe: a business's secret key on a rail route is 403 forbidden and does nothing.
func railProbe(method, path string) func(isoFixture) []isoProbe {
	return func(f isoFixture) []isoProbe {
		var body any
		if method == "POST" {
			body = map[string]any{"network": "ethereum", "currency": "USDT", "amount": "5", "to_address": f.addrA,
				"tx_hash": "0xiso" + strings.ToLower(ledger.NewID("")), "confirmations": 100}
		}
		return one(isoProbe{name: "business key on rail route", foreign: isoReq{method, path, nil, body}, wantStatus: 403})
	}
}

func railPayoutProbe(step string) func(isoFixture) []isoProbe {
	return func(f isoFixture) []isoProbe {
		return one(isoProbe{name: "business key on rail route", wantStatus: 403,
			foreign: isoReq{"POST", "/v1/rails/payouts/" + f.payA + "/" + step, nil, map[string]any{"tx_hash": "0xiso", "failure_reason": "x"}}})
	}
}

// isoSetup builds A's resources through the API, as an integrator would.
func isoSetup(t *testing.T, a, b *client) isoFixture {
	t.Helper()
	f := isoFixture{busA: a.business.ID}
	r := a.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": "iso-a@example.com",
		"first_name": "Iso", "last_name": "Alpha", "external_id": "iso-ext-a"}).must(t, 201)
	var obj struct{ ID, Address string }
	r.Data(t, &obj)
	f.cusA = obj.ID
	f.cusB = b.createCustomer("iso-b-cust@example.com")
	for _, p := range []struct{ biz, profile string }{{a.business.ID, f.cusA}, {a.business.ID, a.business.ID}, {b.business.ID, f.cusB}, {b.business.ID, b.business.ID}} {
		pgtest.Fund(t, p.biz, p.profile, "USD", "100")
		pgtest.Fund(t, p.biz, p.profile, "USDT", "1000")
		pgtest.Fund(t, p.biz, p.profile, "USDC", "1000")
	}
	a.do("POST", "/v1/customers/"+f.cusA+"/wallets", map[string]any{"network": "ethereum",
		"address": "0x52908400098527886e0f7030069857d2e4169ee7"}).must(t, 201).Data(t, &obj)
	f.walA = obj.ID
	a.do("POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "ethereum"}, HeaderProfileID, f.cusA).must(t, 201).Data(t, &obj)
	f.dadrA, f.addrA = obj.ID, obj.Address
	f.txA = "0xiso" + strings.ToLower(ledger.NewID(""))
	a.do("POST", "/v1/sandbox/deposits", map[string]any{"network": "ethereum", "currency": "USDT", "amount": "7", "to_address": f.addrA,
		"tx_hash": f.txA}, HeaderProfileID, f.cusA).must(t, 201).Data(t, &obj)
	f.depA = obj.ID
	b.do("POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "ethereum"}, HeaderProfileID, f.cusB).must(t, 201).Data(t, &obj)
	f.addrB = obj.Address
	a.do("POST", "/v1/payouts", usdtPayout(map[string]any{"wallet_id": f.walA}), HeaderProfileID, f.cusA).must(t, 201).Data(t, &obj)
	f.payA = obj.ID
	a.do("POST", "/v1/transfers", transferTo(a.business.ID), HeaderProfileID, f.cusA).must(t, 201).Data(t, &obj)
	f.trfA = obj.ID
	if err := pgtest.Store(t).SetRate(context.Background(), ledger.Rate{Base: "ETH", Quote: "USDC",
		Rate: decimal.RequireFromString("2000"), SpreadPercent: decimal.RequireFromString("1")}); err != nil {
		t.Fatal(err)
	}
	quote := func() string {
		a.do("POST", "/v1/quotes", map[string]any{"source_currency": "USDC", "target_currency": "ETH", "source_amount": "10"},
			HeaderProfileID, f.cusA).must(t, 201).Data(t, &obj)
		return obj.ID
	}
	used := quote()
	a.do("POST", "/v1/conversions", map[string]any{"quote_id": used}, HeaderProfileID, f.cusA).must(t, 201).Data(t, &obj)
	f.cnvA = obj.ID
	f.quoA = quote() // an unused quote: the prize B must not be able to spend
	a.do("POST", "/v1/webhook-endpoints", map[string]any{"url": "http://127.0.0.1:9/iso-a"}).must(t, 201).Data(t, &obj)
	f.whkA = obj.ID
	var events []struct{ ID string }
	a.do("GET", "/v1/events?limit=1", nil, HeaderProfileID, f.cusA).must(t, 200).Data(t, &events)
	if len(events) == 0 {
		t.Fatal("A has no events")
	}
	f.evtA = events[0].ID
	a.do("POST", "/v1/api-keys", map[string]any{"mode": "read_only", "name": "iso-a"}).must(t, 201).Data(t, &obj)
	f.keyA = obj.ID
	return f
}

// tenantSnapshot hashes every row of business in every table with a business_id
// column, so any insert, update or delete by another tenant's request shows.
func tenantSnapshot(t *testing.T, business string) map[string]string {
	t.Helper()
	ctx := context.Background()
	db := pgtest.DB(t)
	var tables []string
	if err := db.NewRaw(`SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name = 'business_id' ORDER BY 1`).Scan(ctx, &tables); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tbl := range tables {
		var sum string
		q := fmt.Sprintf(`SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')
			FROM %q t WHERE business_id = ?`, tbl)
		if err := db.NewRaw(q, business).Scan(ctx, &sum); err != nil {
			t.Fatalf("snapshot %s: %v", tbl, err)
		}
		out[tbl] = sum
	}
	return out
}

// matrixGaps returns the app's routes missing from isolationMatrix and the
// matrix entries no route matches.
func matrixGaps(app *fiber.App) (missing, stale []string) {
	routes := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		routes[r.Method+" "+r.Path] = true
	}
	for k := range routes {
		method, path, _ := strings.Cut(k, " ")
		if method == "HEAD" && routes["GET "+path] {
			continue // Fiber registers HEAD with every GET; the GET's probes cover it
		}
		if _, ok := isolationMatrix[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range isolationMatrix {
		if !routes[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	return missing, stale
}

// TestIsolationMatrixCatchesNewRoutes proves the guard works: a route added to
// the app without a matrix entry is reported, whatever its method or group.
func TestIsolationMatrixCatchesNewRoutes(t *testing.T) {
	t.Parallel()
	// Not listening: adding routes to a serving app would race with its router.
	srv := New(Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if missing, stale := matrixGaps(srv.App()); len(missing)+len(stale) > 0 {
		t.Skipf("the matrix is already incomplete (TestTenantIsolationMatrix reports it): %v %v", missing, stale)
	}
	noop := func(c *fiber.Ctx) error { return nil }
	srv.App().Get("/v1/widgets/:id", noop)
	srv.App().Group("/v1", noop).Post("/widgets/:id/spin", noop)
	missing, _ := matrixGaps(srv.App())
	if strings.Join(missing, ",") != "GET /v1/widgets/:id,POST /v1/widgets/:id/spin" {
		t.Fatalf("new routes reported as %v", missing)
	}
}

func TestTenantIsolationMatrix(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	a := newClient(t, srv, ledger.ModeSandbox)
	b := newClient(t, srv, ledger.ModeSandbox)
	f := isoSetup(t, a, b)
	allA := []string{f.busA, f.cusA, f.walA, f.dadrA, f.addrA, f.depA, f.payA, f.trfA, f.quoA, f.cnvA, f.whkA, f.evtA, f.keyA,
		"iso-a@example.com", "Alpha"}

	// Every registered route must be in the matrix.
	missing, stale := matrixGaps(srv.App())
	for _, k := range missing {
		t.Errorf("route %s is not in isolationMatrix (internal/api/isolation_test.go): add probes that call it with "+
			"another business's ids (path, X-BU-PROFILE-ID, body references), or mark it exempt with the reason", k)
	}
	for _, k := range stale {
		t.Errorf("isolationMatrix lists %s, which is no longer registered; remove it", k)
	}

	before := tenantSnapshot(t, f.busA)
	keys := make([]string, 0, len(isolationMatrix))
	for k := range isolationMatrix {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	probes := 0
	for _, route := range keys {
		entry := isolationMatrix[route]
		if entry.exempt != "" {
			continue
		}
		for _, p := range entry.probes(f) {
			probes++
			t.Run(route+"/"+p.name, func(t *testing.T) {
				bc := b.on(t)
				got := bc.do(p.foreign.method, p.foreign.path, p.foreign.body, p.foreign.headers...)
				for _, id := range allA {
					if p.leak && strings.Contains(string(got.Raw), id) {
						t.Fatalf("%s %s answered with A's %q: %s", p.foreign.method, p.foreign.path, id, got.Raw)
					}
				}
				if p.leak {
					if want := p.wantStatus; (want != 0 && got.Status != want) || got.Status >= 300 {
						t.Fatalf("status = %d, want %d; body %s", got.Status, want, got.Raw)
					}
					return
				}
				want := p.wantStatus
				if want == 0 {
					want = 404
				}
				if got.Status != want {
					t.Fatalf("%s %s with A's id: status = %d, want %d; body %s", p.foreign.method, p.foreign.path, got.Status, want, got.Raw)
				}
				if p.unknown == nil {
					return
				}
				ctl := bc.do(p.unknown.method, p.unknown.path, p.unknown.body, p.unknown.headers...)
				if ctl.Status != got.Status || ctl.Code() != got.Code() {
					t.Fatalf("A's id answers %d %s, a never-existing id %d %s: the difference reveals A's data",
						got.Status, got.Code(), ctl.Status, ctl.Code())
				}
				if got.Body.Error != nil && ctl.Body.Error != nil {
					gm := strings.ReplaceAll(got.Body.Error.Message, p.id, "{id}")
					cm := strings.ReplaceAll(ctl.Body.Error.Message, p.unkID, "{id}")
					if gm != cm || got.Body.Error.Param != ctl.Body.Error.Param {
						t.Fatalf("message for A's id %q (param %s), for a never-existing id %q (param %s)",
							gm, got.Body.Error.Param, cm, ctl.Body.Error.Param)
					}
				}
			})
		}
	}
	after := tenantSnapshot(t, f.busA)
	for tbl, sum := range before {
		if after[tbl] != sum {
			t.Errorf("business A's rows in %s changed during B's calls: %s → %s", tbl, sum, after[tbl])
		}
	}
	// A still owns everything, intact: the quote is unused, the payout pending.
	var q struct{ Used bool }
	a.do("GET", "/v1/quotes/"+f.quoA, nil, HeaderProfileID, f.cusA).must(t, 200).Data(t, &q)
	var p struct{ Status string }
	a.do("GET", "/v1/payouts/"+f.payA, nil, HeaderProfileID, f.cusA).must(t, 200).Data(t, &p)
	if q.Used || p.Status != "pending" {
		t.Errorf("after B's calls: quote used = %v, payout status %s; want unused, pending", q.Used, p.Status)
	}
	mustVerify(t, f.busA)
	mustVerify(t, b.business.ID)
	t.Logf("%d routes, %d probes", len(isolationMatrix), probes)
}
