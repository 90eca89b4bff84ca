package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// requestBodies are the JSON bodies every POST/PATCH decodes into, by name.
var requestBodies = map[string]func() any{
	"customer":         func() any { return &customerRequest{} },
	"wallet":           func() any { return &walletRequest{} },
	"token":            func() any { return &tokenRequest{} },
	"api_key":          func() any { return &apiKeyRequest{} },
	"deposit_address":  func() any { return &depositAddressRequest{} },
	"deposit":          func() any { return &depositRequest{} },
	"payout":           func() any { return &payoutRequest{} },
	"transfer":         func() any { return &transferRequest{} },
	"transfer_batch":   func() any { return &transferBatchRequest{} },
	"quote":            func() any { return &quoteRequest{} },
	"conversion":       func() any { return &conversionRequest{} },
	"webhook_endpoint": func() any { return &webhookEndpointRequest{} },
	"rail_payout":      func() any { return &railPayoutRequest{} },
}

var (
	decodeAppOnce sync.Once
	decodeApp     *fiber.App
)

// decodeHarness is a bare Fiber app whose one route decodes the body into the
// request struct named by :kind and reports the outcome, so decode runs on a real
// *fiber.Ctx exactly as in the handlers.
func decodeHarness() *fiber.App {
	decodeAppOnce.Do(func() {
		decodeApp = fiber.New(fiber.Config{BodyLimit: bodyLimitBytes})
		decodeApp.Post("/:kind", func(c *fiber.Ctx) error {
			dst := requestBodies[c.Params("kind")]()
			if err := decode(c, dst); err != nil {
				return c.Status(400).SendString(string(ledger.ErrorCode(err)))
			}
			out, err := json.Marshal(dst)
			if err != nil {
				return c.Status(500).SendString(err.Error())
			}
			return c.Status(200).Send(out)
		})
	})
	return decodeApp
}

// FuzzDecode: for every request struct, any body either decodes (and then it was
// well-formed JSON, and the struct re-encodes and decodes again) or is refused
// with invalid_json, unknown_field or validation_failed — never a panic or any
// other code. Seeds: testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, b := range []string{`{}`, `{"amount":"1"}`, `{"amont":"1"}`, `[]`, `null`, `{"a":`, `{"metadata":{"k":"v"}}`,
		`{"transfers":[{"currency":"USD","amount":"1","to_profile_id":"CUS_x"}]}`, `{"scopes":["balances:read"],"ttl_seconds":60}`,
		`{"confirmations":-1,"output_index":1e400}`, strings.Repeat("[", 40) + strings.Repeat("]", 40), `{"x":"\ud800"}`, "{\"a\":\"\xff\"}",
		`{} {}`, `{"url":null,"events":[1]}`, `{"address":{"line1":{"deep":true}}}`} {
		f.Add(uint8(0), b)
		f.Add(uint8(6), b)
	}
	kinds := make([]string, 0, len(requestBodies))
	for k := range requestBodies {
		kinds = append(kinds, k)
	}
	sortStrings(kinds)
	app := decodeHarness()
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		kind := kinds[int(which)%len(kinds)]
		req := httptest.NewRequest("POST", "/"+kind, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		var out bytes.Buffer
		_, _ = out.ReadFrom(res.Body)
		res.Body.Close()
		switch res.StatusCode {
		case 400:
			switch ledger.Code(out.String()) {
			case ledger.CodeInvalidJSON, ledger.CodeUnknownField, ledger.CodeValidation:
			default:
				t.Fatalf("%s body %q refused with code %q", kind, body, out.String())
			}
		case 200:
			if !json.Valid([]byte(body)) || depth([]byte(body)) > jsonDepthMax {
				t.Fatalf("%s accepted %q, which is not valid JSON within the depth limit", kind, body)
			}
			again := requestBodies[kind]()
			dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(again); err != nil {
				t.Fatalf("%s: re-encoded %s does not decode: %v", kind, out.Bytes(), err)
			}
		default:
			t.Fatalf("%s body %q: status %d %s", kind, body, res.StatusCode, out.String())
		}
	})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// FuzzDecodeCursor: any cursor string either decodes to a position that encodes
// back to an equivalent cursor, or is refused as validation_failed on "cursor".
// Seeds: testdata/fuzz/FuzzDecodeCursor.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "CUS_01ABC"))
	f.Add(encodeCursor(time.Unix(0, 0), "x"))
	for _, s := range []string{"", "!!!", "MjAyNg", "fA", strings.Repeat("A", 201), "MjAyNi0wMS0wMlQwMzowNDowNVp8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cur, err := decodeCursor(s)
		if err != nil {
			if ledger.ErrorCode(err) != ledger.CodeValidation || ledger.ErrorParam(err) != "cursor" {
				t.Fatalf("decodeCursor(%q): %v (code %s)", s, err, ledger.ErrorCode(err))
			}
			return
		}
		if cur == nil {
			if s != "" {
				t.Fatalf("decodeCursor(%q) = nil, nil", s)
			}
			return
		}
		if cur.ID == "" || len(cur.ID) > 64 {
			t.Fatalf("decodeCursor(%q) id %q", s, cur.ID)
		}
		back, err := decodeCursor(encodeCursor(cur.CreatedAt, cur.ID))
		if err != nil || back == nil || !back.CreatedAt.Equal(cur.CreatedAt) || back.ID != cur.ID {
			t.Fatalf("cursor %q → %v → %v, %v: the server's own cursor must decode", s, cur, back, err)
		}
	})
}

// --- Property-based HTTP fuzz ----------------------------------------------

// propertyRun drives one business through n random API calls, valid and invalid,
// chosen by rng, and fails on any 5xx. It returns how many calls answered 2xx.
type propertyRun struct {
	t        *testing.T
	c, other *client
	rng      *rand.Rand
	// What exists so far, for calls that need real ids.
	customers, payouts, quotes, addresses []string
	foreignCustomer                       string
}

func (p *propertyRun) pick(xs []string, fallback string) string {
	if len(xs) == 0 || p.rng.Intn(8) == 0 {
		return fallback
	}
	return xs[p.rng.Intn(len(xs))]
}

// junkID returns an id that is malformed, unknown, or another tenant's.
func (p *propertyRun) junkID(prefix string) string {
	switch p.rng.Intn(5) {
	case 0:
		return ledger.NewID(prefix)
	case 1:
		return p.foreignCustomer
	case 2:
		return strings.Repeat("A", 300)
	case 3:
		return "%00' OR 1=1 --"
	}
	return prefix + "💥"
}

func (p *propertyRun) amount() string {
	opts := []string{"1", "0.5", "10.25", "0", "-1", "1e3", "+1", "0.0000001", "99999999999999999999999999999999999999", "", "abc", "1,000",
		" 2", "3.000000", strconv.Itoa(p.rng.Intn(500))}
	return opts[p.rng.Intn(len(opts))]
}

func (p *propertyRun) currency() string {
	return []string{"USD", "USDT", "BTC", "ETH", "usd", "XXX", "", "USDC"}[p.rng.Intn(8)]
}

func (p *propertyRun) profile() []string {
	switch p.rng.Intn(6) {
	case 0:
		return nil
	case 1:
		return []string{HeaderProfileID, p.junkID(ledger.PrefixCustomer)}
	case 2:
		return []string{HeaderProfileID, p.c.business.ID}
	}
	return []string{HeaderProfileID, p.pick(p.customers, ledger.NewID(ledger.PrefixCustomer))}
}

// maybeBreak sometimes turns a valid body into invalid input of another kind.
func (p *propertyRun) maybeBreak(body map[string]any) any {
	switch p.rng.Intn(12) {
	case 0:
		return `{"broken": `
	case 1:
		body["amont"] = "1"
	case 2:
		return strings.Repeat("[", 64) + strings.Repeat("]", 64)
	case 3:
		body["metadata"] = map[string]any{"k": map[string]any{"nested": true}}
	case 4:
		return []byte("{\"currency\":\"\xff\"}")
	case 5:
		return `[1,2,3]`
	}
	return body
}

func (p *propertyRun) step() (*response, string) {
	c, r := p.c, p.rng
	key := ""
	if r.Intn(3) == 0 {
		key = fmt.Sprintf("prop-%d", r.Intn(20)) // reused keys: replays and idempotency_key_reused
	}
	idem := func(h []string) []string {
		if key != "" {
			return append(h, "Idempotency-Key", key)
		}
		return h
	}
	switch op := r.Intn(18); op {
	case 16, 17:
		return p.tokenStep()
	case 0:
		body := map[string]any{"type": "individual", "email": fmt.Sprintf("p%d@example.com", r.Intn(1000)), "first_name": "P", "last_name": "Q"}
		if r.Intn(3) == 0 { // one invalid or unusual field
			k, v := []string{"type", "email", "phone", "birth_date", "country", "external_id"}[r.Intn(6)],
				[]string{"robot", "not-an-email", "12", "1990-02-30", "ZZ", strings.Repeat("x", 300), "+2348012345678", "1990-01-31", "ng"}[r.Intn(9)]
			body[k] = v
		}
		res := c.do("POST", "/v1/customers", p.maybeBreak(body), idem(nil)...)
		if res.Status == 201 {
			var cu struct{ ID string }
			_ = json.Unmarshal(res.Body.Data, &cu)
			p.customers = append(p.customers, cu.ID)
			pgtest.Fund(p.t, c.business.ID, cu.ID, "USDT", "100")
			pgtest.Fund(p.t, c.business.ID, cu.ID, "USD", "100")
		}
		return res, "create customer"
	case 1:
		id := p.pick(p.customers, p.junkID(ledger.PrefixCustomer))
		body := map[string]any{"note": "n", "metadata": map[string]any{"a": "b", "c": ""},
			"status": []string{"active", "suspended", "closed", "zombie"}[r.Intn(4)]}
		return c.do("PATCH", "/v1/customers/"+id, p.maybeBreak(body), idem(nil)...), "patch customer"
	case 2:
		id := p.pick(p.customers, p.junkID(ledger.PrefixCustomer))
		return c.do("DELETE", "/v1/customers/"+id, nil, idem(nil)...), "close customer"
	case 3:
		body := map[string]any{"currency": p.currency(), "network": []string{"ethereum", "tron", "bank", "bitcoin", "mars"}[r.Intn(5)]}
		res := c.do("POST", "/v1/deposit-addresses", p.maybeBreak(body), idem(p.profile())...)
		if res.Status == 201 {
			var a struct{ Address, Network, Currency string }
			_ = json.Unmarshal(res.Body.Data, &a)
			p.addresses = append(p.addresses, a.Currency+"|"+a.Network+"|"+a.Address)
		}
		return res, "create deposit address"
	case 4:
		cur, net, addr := "USDT", "ethereum", "0x1111111111111111111111111111111111111111"
		if a := p.pick(p.addresses, ""); a != "" {
			parts := strings.SplitN(a, "|", 3)
			cur, net, addr = parts[0], parts[1], parts[2]
		}
		body := map[string]any{"currency": cur, "network": net, "amount": p.amount(), "to_address": addr}
		if r.Intn(4) == 0 {
			body["confirmations"] = r.Intn(3) - 1
		}
		return c.do("POST", "/v1/sandbox/deposits", p.maybeBreak(body), idem(p.profile())...), "sandbox deposit"
	case 5:
		addr := []string{"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0xdead", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", ""}[r.Intn(4)]
		body := map[string]any{"currency": p.currency(), "network": "ethereum", "amount": p.amount(), "address": addr}
		if r.Intn(5) == 0 {
			delete(body, "address")
			body["wallet_id"] = p.junkID(ledger.PrefixWallet)
		}
		res := c.do("POST", "/v1/payouts", p.maybeBreak(body), idem(p.profile())...)
		if res.Status == 201 {
			var po struct{ ID string }
			_ = json.Unmarshal(res.Body.Data, &po)
			p.payouts = append(p.payouts, po.ID)
		}
		return res, "create payout"
	case 6:
		id := p.pick(p.payouts, p.junkID(ledger.PrefixPayout))
		return c.do("POST", "/v1/payouts/"+id+"/cancel", nil, idem(p.profile())...), "cancel payout"
	case 7:
		to := p.pick(p.customers, p.junkID(ledger.PrefixCustomer))
		if r.Intn(4) == 0 {
			to = c.business.ID
		}
		body := map[string]any{"currency": p.currency(), "amount": p.amount(), "to_profile_id": to, "description": "prop"}
		return c.do("POST", "/v1/transfers", p.maybeBreak(body), idem(p.profile())...), "transfer"
	case 8:
		var items []any
		for i := 0; i < 1+r.Intn(4); i++ {
			items = append(items, map[string]any{"currency": p.currency(), "amount": p.amount(),
				"to_profile_id": p.pick(p.customers, p.junkID(ledger.PrefixCustomer))})
		}
		body := map[string]any{"transfers": items, "atomic": r.Intn(2) == 0}
		return c.do("POST", "/v1/transfers/batch", p.maybeBreak(body), idem(p.profile())...), "transfer batch"
	case 9:
		body := map[string]any{"source_currency": "USDC", "target_currency": "ETH", "source_amount": p.amount()}
		if r.Intn(3) == 0 {
			body = map[string]any{"source_currency": "ETH", "target_currency": "USDC", "target_amount": p.amount()}
		}
		res := c.do("POST", "/v1/quotes", p.maybeBreak(body), idem(p.profile())...)
		if res.Status == 201 {
			var q struct{ ID string }
			_ = json.Unmarshal(res.Body.Data, &q)
			p.quotes = append(p.quotes, q.ID)
		}
		return res, "quote"
	case 10:
		body := map[string]any{"quote_id": p.pick(p.quotes, p.junkID(ledger.PrefixQuote))}
		return c.do("POST", "/v1/conversions", p.maybeBreak(body), idem(p.profile())...), "conversion"
	case 11:
		paths := []string{"/v1/balances", "/v1/transactions", "/v1/deposits", "/v1/payouts", "/v1/transfers", "/v1/conversions",
			"/v1/events", "/v1/customers", "/v1/deposit-addresses", "/v1/api-keys", "/v1/webhook-endpoints", "/v1/customers/export.csv",
			"/v1/transactions/export.csv"}
		q := []string{"", "?limit=0", "?limit=101", "?limit=abc", "?cursor=garbage", "?cursor=" + encodeCursor(time.Now(), "x"),
			"?created_after=yesterday", "?status=weird", "?type=deposit&currency=USDT", "?q=%25%27%22"}[r.Intn(10)]
		path := paths[r.Intn(len(paths))] + q
		return c.do("GET", path, nil, p.profile()...), "list " + path
	case 12:
		id := p.pick(append(append([]string{}, p.payouts...), p.quotes...), p.junkID(ledger.PrefixPayout))
		kind := map[bool]string{true: "payouts", false: "quotes"}[strings.HasPrefix(id, ledger.PrefixPayout)]
		return c.do("GET", "/v1/"+kind+"/"+id, nil, p.profile()...), "get " + kind
	case 13:
		id := p.pick(p.customers, p.junkID(ledger.PrefixCustomer))
		body := map[string]any{"network": []string{"ethereum", "tron", "bitcoin"}[r.Intn(3)],
			"address": []string{"0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886e0f7030069857d2e4169ee8", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}[r.Intn(3)]}
		return c.do("POST", "/v1/customers/"+id+"/wallets", p.maybeBreak(body), idem(nil)...), "create wallet"
	case 14:
		body := map[string]any{"url": []string{"http://127.0.0.1:9/x", "ftp://x", "http://[::1", ""}[r.Intn(4)],
			"events": []string{"payout.completed", "nope"}[:1+r.Intn(2)]}
		return c.do("POST", "/v1/webhook-endpoints", p.maybeBreak(body), idem(nil)...), "create webhook endpoint"
	default:
		methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
		paths := []string{"/v1/nope", "/v1/customers/" + p.junkID(ledger.PrefixCustomer) + "/tokens", "/v1//customers", "/v1/rails/deposits",
			"/v1/payouts/../customers", "/v1/balances/" + p.currency(), "/v1/events/" + p.junkID(ledger.PrefixEvent) + "/redeliver"}
		m := methods[r.Intn(len(methods))]
		var body any
		if m != "GET" && m != "DELETE" {
			body = map[string]any{"scopes": []string{"balances:read", "root"}[r.Intn(2):], "ttl_seconds": r.Intn(5000)}
		}
		path := paths[r.Intn(len(paths))]
		return c.do(m, path, body, p.profile()...), m + " " + path
	}
}

// tokenStep mints a customer token with random scopes (sometimes reusing one)
// and calls a random route with it, sometimes naming another profile. Besides no
// 5xx, a token's successful list of payouts or transfers holds only its customer.
func (p *propertyRun) tokenStep() (*response, string) {
	c, r := p.c, p.rng
	cust := p.pick(p.customers, p.junkID(ledger.PrefixCustomer))
	all := []string{"balances:read", "transactions:read", "deposit_addresses:write", "payouts:write", "transfers:write", "admin"}
	var scopes []string
	for _, s := range all {
		if r.Intn(2) == 0 {
			scopes = append(scopes, s)
		}
	}
	res := c.do("POST", "/v1/customers/"+cust+"/tokens", map[string]any{"scopes": scopes, "ttl_seconds": 60 + r.Intn(3600)})
	if res.Status != 201 {
		return res, "mint token"
	}
	var tok struct{ Token string }
	_ = json.Unmarshal(res.Body.Data, &tok)
	tc := &client{tb: p.t, srv: c.srv, key: tok.Token, business: c.business}
	var hdr []string
	switch r.Intn(4) {
	case 0:
		hdr = []string{HeaderProfileID, cust}
	case 1:
		hdr = []string{HeaderProfileID, p.pick(p.customers, p.foreignCustomer)}
	case 2:
		hdr = []string{HeaderProfileID, c.business.ID}
	}
	calls := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/balances", nil}, {"GET", "/v1/transactions", nil}, {"GET", "/v1/payouts", nil}, {"GET", "/v1/transfers", nil},
		{"GET", "/v1/customers", nil}, {"GET", "/v1/customers/" + cust, nil}, {"POST", "/v1/api-keys", map[string]any{"mode": "read_only"}},
		{"POST", "/v1/transfers", map[string]any{"currency": "USDT", "amount": p.amount(), "to_profile_id": p.pick(p.customers, c.business.ID)}},
		{"POST", "/v1/payouts", map[string]any{"currency": "USDT", "network": "ethereum", "amount": p.amount(), "address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}},
		{"POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "ethereum"}},
		{"GET", "/v1/payouts/" + p.pick(p.payouts, p.junkID(ledger.PrefixPayout)), nil},
		{"POST", "/v1/customers/" + cust + "/tokens", map[string]any{"scopes": []string{"balances:read"}}},
		{"GET", "/v1/events", nil}, {"GET", "/v1/webhook-endpoints", nil},
	}
	call := calls[r.Intn(len(calls))]
	out := tc.do(call.method, call.path, call.body, hdr...)
	if out.Status == 200 && call.method == "GET" && (call.path == "/v1/payouts" || call.path == "/v1/transfers") {
		var items []struct {
			ProfileID   string `json:"profile_id"`
			ToProfileID string `json:"to_profile_id"`
		}
		_ = json.Unmarshal(out.Body.Data, &items)
		for _, it := range items {
			if it.ProfileID != cust && it.ToProfileID != cust {
				p.t.Fatalf("a token of %s listed another profile's item: %s", cust, out.Raw)
			}
		}
	}
	return out, "token " + call.method + " " + call.path
}

func runProperty(t *testing.T, srv *Server, seed int64, calls int) (ok int) {
	t.Helper()
	p := &propertyRun{t: t, c: newClient(t, srv, ledger.ModeSandbox), rng: rand.New(rand.NewSource(seed))}
	p.other = newClient(t, srv, ledger.ModeSandbox)
	p.foreignCustomer = p.other.createCustomer("foreign@example.com")
	pgtest.Fund(t, p.c.business.ID, p.c.business.ID, "USDT", "1000")
	pgtest.Fund(t, p.c.business.ID, p.c.business.ID, "USDC", "1000")
	for i := 0; i < 3; i++ {
		id := p.c.createCustomer(fmt.Sprintf("prop%d@example.com", i))
		p.customers = append(p.customers, id)
		pgtest.Fund(t, p.c.business.ID, id, "USDT", "100")
		pgtest.Fund(t, p.c.business.ID, id, "USDC", "100")
	}
	hist := map[string]int{}
	defer func() { t.Logf("outcomes: %v", hist) }()
	for i := 0; i < calls; i++ {
		res, what := p.step()
		hist[strconv.Itoa(res.Status)+" "+res.Code()]++
		if res.Status >= 500 {
			t.Fatalf("seed %d call %d (%s): %d %s", seed, i, what, res.Status, res.Raw)
		}
		if res.Status < 300 {
			ok++
		}
	}
	mustVerify(t, p.c.business.ID)
	mustVerify(t, p.other.business.ID)
	return ok
}

func propertyServer(t testing.TB) *Server {
	t.Helper()
	if err := pgtest.Store(t).SetRate(context.Background(), ledger.Rate{Base: "ETH", Quote: "USDC",
		Rate: decimal.RequireFromString("2000"), SpreadPercent: decimal.RequireFromString("1")}); err != nil {
		t.Fatal(err)
	}
	return testServer(t)
}

// TestHTTPPropertyRandomCalls is the fast property-based HTTP fuzz of make test:
// random sequences of valid and invalid calls (bad JSON, unknown fields, deep
// nesting, bad amounts, unknown/foreign/malformed ids, reused idempotency keys,
// junk routes) never answer 5xx, and every ledger invariant holds afterwards.
// TALLY_PROPERTY_CALLS sets the number of calls (default 300); the seed is logged.
func TestHTTPPropertyRandomCalls(t *testing.T) {
	t.Parallel()
	calls := 300
	if v := os.Getenv("TALLY_PROPERTY_CALLS"); v != "" {
		calls, _ = strconv.Atoi(v)
	}
	seed := time.Now().UnixNano()
	if v := os.Getenv("TALLY_PROPERTY_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	srv := propertyServer(t)
	ok := runProperty(t, srv, seed, calls)
	t.Logf("seed %d: %d calls, %d answered 2xx", seed, calls, ok)
	if ok == 0 {
		t.Fatal("no call succeeded; the generator is broken")
	}
}

// FuzzHTTPSequence lets the fuzzer pick seeds and lengths of random call
// sequences (make fuzz). Seeds: testdata/fuzz/FuzzHTTPSequence.
func FuzzHTTPSequence(f *testing.F) {
	f.Add(int64(1), uint8(20))
	f.Add(int64(42), uint8(60))
	srv := propertyServer(f) // lives as long as the fuzz target
	f.Fuzz(func(t *testing.T, seed int64, n uint8) {
		runProperty(t, srv, seed, int(n)%80+1)
	})
}
