package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// This file checks real responses against openapi.yaml the way an integrator's
// generated client would read them: every field the server sends is a property of
// the schema the spec names for that operation and status, every required
// property is sent, null only where the spec allows null, and JSON kinds match.
// The module has no YAML parser, so the spec is read line by line; it is written
// in block style with a fixed indentation (two spaces per level), which makes
// components.schemas.<Name> (4 spaces), its keywords (6), its properties (8) and
// the paths' operations and responses easy to find.

// specProp is one property of a schema as the spec declares it.
type specProp struct {
	ref      string   // the first schema it refers to ($ref, possibly inside allOf/oneOf/items)
	types    []string // its declared JSON types (type:, const:), empty when only known through ref
	nullable bool     // 'null' is one of its types
}

// specSchema is a component schema: its own properties and required list, and
// the schemas an allOf merges in.
type specSchema struct {
	typ      string
	props    map[string]*specProp
	required []string
	allOf    []string
}

// specResponse is what an operation documents for one status code.
type specResponse struct {
	envelope string // Success, ListSuccess or Error (through a components.responses ref)
	data     string // the schema of data, "" when none
	array    bool   // data is an array of data
}

type openAPISpec struct {
	schemas  map[string]*specSchema
	ops      map[string]map[string]*specResponse // "METHOD /path" → status → response
	reported map[string]bool                     // mismatches already reported (once per schema and field)
}

// mismatch reports a difference once per key, so a list of 20 rows reports it once.
func (s *openAPISpec) mismatch(t *testing.T, key, format string, args ...any) {
	t.Helper()
	if s.reported[key] {
		return
	}
	s.reported[key] = true
	t.Errorf(format, args...)
}

var (
	reSchemaRef  = regexp.MustCompile(`\$ref: '#/components/schemas/(\w+)'`)
	reRespRef    = regexp.MustCompile(`\$ref: '#/components/responses/(\w+)'`)
	reKey        = regexp.MustCompile(`^\s*([A-Za-z0-9_.\-]+):`)
	reTypeLine   = regexp.MustCompile(`^\s*type: (.+)$`)
	reStatusLine = regexp.MustCompile(`^        '?([0-9]{3}|[0-9]XX)'?:\s*$`)
)

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// parseOpenAPI reads the schemas and the operations' responses from spec.
func parseOpenAPI(t *testing.T, spec []byte) *openAPISpec {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(spec))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan spec: %v", err)
	}
	s := &openAPISpec{schemas: map[string]*specSchema{}, ops: map[string]map[string]*specResponse{}, reported: map[string]bool{}}
	section, sub := "", ""
	var cur *specSchema
	var curProp *specProp
	propIndent, inRequired, lastKey6 := -1, -1, ""
	path, op, status := "", "", ""
	var resp *specResponse
	dataIndent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		ind := indentOf(l)
		if ind == 0 {
			section = strings.TrimSuffix(strings.TrimSpace(l), ":")
			continue
		}
		if ind == 2 && section == "components" {
			sub = strings.TrimSuffix(strings.TrimSpace(l), ":")
			continue
		}
		switch {
		case section == "components" && sub == "schemas":
			if ind == 4 {
				cur = &specSchema{props: map[string]*specProp{}}
				s.schemas[strings.TrimSuffix(strings.TrimSpace(l), ":")] = cur
				propIndent, inRequired, curProp, lastKey6 = -1, -1, nil, ""
				continue
			}
			if cur == nil {
				continue
			}
			text := strings.TrimSpace(l)
			if inRequired >= 0 {
				if ind == inRequired && strings.HasPrefix(text, "- ") {
					cur.required = append(cur.required, strings.TrimPrefix(text, "- "))
					continue
				}
				inRequired = -1
			}
			if propIndent >= 0 && ind < propIndent {
				propIndent, curProp = -1, nil
			}
			if propIndent >= 0 {
				if ind == propIndent {
					if m := reKey.FindStringSubmatch(l); m != nil {
						curProp = &specProp{}
						cur.props[m[1]] = curProp
						if strings.HasSuffix(text, "{}") { // an empty schema: anything
							curProp = nil
						}
					}
					continue
				}
				if curProp != nil {
					if m := reSchemaRef.FindStringSubmatch(l); m != nil && curProp.ref == "" {
						curProp.ref = m[1]
					}
					if strings.Contains(l, "'null'") {
						curProp.nullable = true
					}
					if ind == propIndent+2 {
						if m := reTypeLine.FindStringSubmatch(l); m != nil {
							curProp.types = append(curProp.types, parseTypes(m[1])...)
						}
						if strings.HasPrefix(text, "const: ") {
							curProp.types = append(curProp.types, constType(strings.TrimPrefix(text, "const: ")))
						}
					}
				}
				continue
			}
			if ind == 6 {
				if m := reKey.FindStringSubmatch(l); m != nil {
					lastKey6 = m[1]
				}
				if m := reTypeLine.FindStringSubmatch(l); m != nil && !strings.HasPrefix(text, "-") {
					cur.typ = strings.TrimSpace(m[1])
				}
				if lastKey6 == "allOf" && strings.HasPrefix(text, "- $ref:") {
					if m := reSchemaRef.FindStringSubmatch(l); m != nil {
						cur.allOf = append(cur.allOf, m[1])
					}
				}
			}
			// properties and required at the schema's level (6) or in an allOf item (8).
			if (ind == 6 || (ind == 8 && lastKey6 == "allOf")) && !strings.HasPrefix(text, "-") {
				switch {
				case text == "properties:":
					propIndent = ind + 2
				case text == "required:":
					inRequired = ind
				case strings.HasPrefix(text, "required: ["):
					for _, f := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(text, "required: ["), "]"), ",") {
						cur.required = append(cur.required, strings.TrimSpace(f))
					}
				}
			}
		case section == "paths":
			switch {
			case ind == 2:
				path, op, status, resp = strings.Trim(strings.TrimSuffix(strings.TrimSpace(l), ":"), `'"`), "", "", nil
			case ind == 4:
				op, status, resp = strings.ToUpper(strings.TrimSuffix(strings.TrimSpace(l), ":")), "", nil
				s.ops[op+" "+path] = map[string]*specResponse{}
			case ind == 6:
				status, resp = "", nil
				if strings.TrimSpace(l) == "responses:" {
					status = "-"
				}
			case status != "" && reStatusLine.MatchString(l):
				status = reStatusLine.FindStringSubmatch(l)[1]
				resp = &specResponse{}
				s.ops[op+" "+path][status] = resp
				dataIndent = -1
			case resp != nil:
				text := strings.TrimSpace(l)
				if m := reRespRef.FindStringSubmatch(l); m != nil && ind == 10 {
					resp.envelope = "Error"
				}
				if dataIndent >= 0 && ind <= dataIndent {
					dataIndent = -1
				}
				if m := reSchemaRef.FindStringSubmatch(l); m != nil {
					switch {
					case dataIndent >= 0 && resp.data == "":
						resp.data = m[1]
					case m[1] == "Success" || m[1] == "ListSuccess":
						resp.envelope = m[1]
					}
				}
				if dataIndent >= 0 && text == "type: array" {
					resp.array = true
				}
				if text == "data:" {
					dataIndent = ind
				}
			}
		}
	}
	return s
}

func parseTypes(v string) []string {
	v = strings.Trim(strings.TrimSpace(v), "[]")
	var out []string
	for _, t := range strings.Split(v, ",") {
		out = append(out, strings.Trim(strings.TrimSpace(t), `'"`))
	}
	return out
}

func constType(v string) string {
	switch v = strings.TrimSpace(v); {
	case v == "true" || v == "false":
		return "boolean"
	case v == "null":
		return "null"
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return "number"
	}
	return "string"
}

// resolved merges a schema with the schemas its allOf names.
func (s *openAPISpec) resolved(t *testing.T, name string) *specSchema {
	t.Helper()
	sch, ok := s.schemas[name]
	if !ok {
		t.Fatalf("components.schemas.%s is not in openapi.yaml", name)
	}
	out := &specSchema{typ: sch.typ, props: map[string]*specProp{}}
	for _, base := range sch.allOf {
		b := s.resolved(t, base)
		for k, p := range b.props {
			out.props[k] = p
		}
		out.required = append(out.required, b.required...)
		if out.typ == "" {
			out.typ = b.typ
		}
	}
	for k, p := range sch.props {
		if prev, ok := out.props[k]; ok && p.ref == "" && len(p.types) == 0 {
			p = &specProp{ref: prev.ref, types: prev.types, nullable: prev.nullable || p.nullable}
		}
		out.props[k] = p
	}
	out.required = append(out.required, sch.required...)
	return out
}

// rawKind names the JSON type of raw as OpenAPI does.
func rawKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(raw, ".eE") {
		return "number"
	}
	return "integer"
}

// propTypes returns the JSON types a property allows, following a $ref to a
// schema's own type when the property declares none.
func (s *openAPISpec) propTypes(p *specProp) []string {
	types := p.types
	if len(types) == 0 && p.ref != "" {
		if ref, ok := s.schemas[p.ref]; ok && ref.typ != "" {
			types = parseTypes(ref.typ)
		}
	}
	return types
}

// checkObject compares one JSON object with components.schemas.<name>, and the
// objects nested in it with the schemas its properties refer to.
func (s *openAPISpec) checkObject(t *testing.T, name string, raw json.RawMessage, where string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Errorf("%s: %s is not a JSON object: %s", where, name, raw)
		return
	}
	sch := s.resolved(t, name)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := sch.props[k]
		if !ok {
			s.mismatch(t, name+"."+k+" unknown", "%s: field %q is not in components.schemas.%s.properties", where, k, name)
			continue
		}
		if p == nil {
			continue
		}
		kind := rawKind(m[k])
		if kind == "null" {
			if !p.nullable {
				s.mismatch(t, name+"."+k+" null", "%s: field %q is null but components.schemas.%s.properties.%s does not allow null", where, k, name, k)
			}
			continue
		}
		if types := s.propTypes(p); len(types) > 0 && !typeAllows(types, kind) {
			s.mismatch(t, name+"."+k+" "+kind, "%s: field %q is a JSON %s but components.schemas.%s.properties.%s is %v", where, k, kind, name, k, types)
		}
		if p.ref == "" || len(s.schemas[p.ref].props) == 0 && len(s.schemas[p.ref].allOf) == 0 {
			continue // a scalar or free-form schema
		}
		switch kind {
		case "object":
			s.checkObject(t, p.ref, m[k], where+"."+k)
		case "array":
			var items []json.RawMessage
			if err := json.Unmarshal(m[k], &items); err == nil {
				for i, it := range items {
					s.checkObject(t, p.ref, it, where+"."+k+"["+strconv.Itoa(i)+"]")
				}
			}
		}
	}
	for _, k := range sch.required {
		if _, ok := m[k]; !ok {
			s.mismatch(t, name+"."+k+" missing", "%s: required field %q of components.schemas.%s is missing from the response", where, k, name)
		}
	}
}

func typeAllows(types []string, kind string) bool {
	for _, t := range types {
		if t == kind || (t == "number" && kind == "integer") {
			return true
		}
	}
	return false
}

// check compares a response with what the spec documents for the operation
// method+tmpl (a path template such as /v1/customers/{id}) and its status. It
// returns the data for further checks.
func (s *openAPISpec) check(t *testing.T, r *response, method, tmpl string) json.RawMessage {
	t.Helper()
	where := method + " " + tmpl + " → " + strconv.Itoa(r.Status)
	op, ok := s.ops[method+" "+tmpl]
	if !ok {
		t.Errorf("%s: operation not in openapi.yaml", where)
		return nil
	}
	spec, ok := op[strconv.Itoa(r.Status)]
	if !ok {
		t.Errorf("%s: status not documented for the operation; body %s", where, r.Raw)
		return nil
	}
	if len(r.Raw) == 0 {
		if spec.envelope != "" {
			t.Errorf("%s: empty body, but the spec documents %s", where, spec.envelope)
		}
		return nil
	}
	env := spec.envelope
	if env == "" {
		t.Errorf("%s: the spec documents no JSON body; got %s", where, r.Raw)
		return nil
	}
	s.checkObject(t, env, r.Raw, where)
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(r.Raw, &body)
	if env == "Error" || spec.data == "" {
		return body.Data
	}
	if spec.array {
		var items []json.RawMessage
		if err := json.Unmarshal(body.Data, &items); err != nil {
			t.Errorf("%s: data is not an array: %s", where, body.Data)
			return body.Data
		}
		for i, it := range items {
			s.checkObject(t, spec.data, it, where+" data["+strconv.Itoa(i)+"]")
		}
		return body.Data
	}
	s.checkObject(t, spec.data, body.Data, where+" data")
	return body.Data
}

// loadOpenAPI reads openapi.yaml, or the file TALLY_OPENAPI_SPEC names (to try
// the checks on another version of the spec).
func loadOpenAPI(t *testing.T) *openAPISpec {
	t.Helper()
	path := specPath
	if p := os.Getenv("TALLY_OPENAPI_SPEC"); p != "" {
		path = p
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read spec: %v", err)
	}
	return parseOpenAPI(t, raw)
}

// TestOpenAPISchemaParser pins the line-based reader on shapes the spec uses:
// plain objects, allOf extension, block and flow required lists, envelopes.
func TestOpenAPISchemaParser(t *testing.T) {
	t.Parallel()
	s := loadOpenAPI(t)
	cu := s.resolved(t, "Customer")
	for _, k := range []string{"id", "object", "email", "address", "metadata", "updated_at"} {
		if cu.props[k] == nil {
			t.Errorf("Customer.%s not read", k)
		}
	}
	if len(cu.required) < 20 || cu.props["address"].ref != "Address" || !cu.props["phone"].nullable || cu.props["email"].nullable {
		t.Errorf("Customer read as %+v", cu)
	}
	k := s.resolved(t, "ApiKeyCreated")
	if k.props["secret_key"] == nil || k.props["id"] == nil || !strings.Contains(strings.Join(k.required, ","), "secret_key") {
		t.Errorf("ApiKeyCreated (allOf) read as %+v", k)
	}
	if ls := s.resolved(t, "ListSuccess"); ls.props["pagination"] == nil || ls.props["pagination"].ref != "Pagination" || ls.props["status"] == nil {
		t.Errorf("ListSuccess read as %+v", ls)
	}
	if r := s.ops["POST /v1/customers"]["201"]; r == nil || r.envelope != "Success" || r.data != "Customer" || r.array {
		t.Errorf("POST /v1/customers 201 read as %+v", r)
	}
	if r := s.ops["GET /v1/customers"]["200"]; r == nil || r.envelope != "ListSuccess" || r.data != "Customer" || !r.array {
		t.Errorf("GET /v1/customers 200 read as %+v", r)
	}
	if r := s.ops["GET /v1/customers"]["400"]; r == nil || r.envelope != "Error" {
		t.Errorf("GET /v1/customers 400 read as %+v", r)
	}
	if r := s.ops["DELETE /v1/customers/{id}/wallets/{wallet_id}"]["204"]; r == nil || r.envelope != "" {
		t.Errorf("DELETE wallet 204 read as %+v", r)
	}
}

// TestOpenAPIResponsesMatchSchemas drives one sandbox business through every
// resource and checks each answer against the schema openapi.yaml names for it.
func TestOpenAPIResponsesMatchSchemas(t *testing.T) {
	t.Parallel()
	s := loadOpenAPI(t)
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	P := HeaderProfileID
	check := func(r *response, status int, method, tmpl string) json.RawMessage {
		t.Helper()
		r.must(t, status)
		return s.check(t, r, method, tmpl)
	}
	id := func(data json.RawMessage) string {
		t.Helper()
		var v struct{ ID string }
		if err := json.Unmarshal(data, &v); err != nil || v.ID == "" {
			t.Fatalf("no id in %s", data)
		}
		return v.ID
	}

	// Business, webhook endpoint (first, so later events are queued to it), API keys.
	check(c.do("GET", "/v1/business", nil), 200, "GET", "/v1/business")
	hook := id(check(c.do("POST", "/v1/webhook-endpoints", map[string]any{"url": "http://127.0.0.1:9/hook"}), 201, "POST", "/v1/webhook-endpoints"))
	check(c.do("GET", "/v1/webhook-endpoints/"+hook, nil), 200, "GET", "/v1/webhook-endpoints/{id}")
	check(c.do("GET", "/v1/webhook-endpoints", nil), 200, "GET", "/v1/webhook-endpoints")
	key := id(check(c.do("POST", "/v1/api-keys", map[string]any{"mode": "read_only", "name": "schema"}), 201, "POST", "/v1/api-keys"))
	check(c.do("GET", "/v1/api-keys", nil), 200, "GET", "/v1/api-keys")
	check(c.do("DELETE", "/v1/api-keys/"+key, nil), 204, "DELETE", "/v1/api-keys/{id}")

	// Customers, wallets, tokens, audit log.
	cust := id(check(c.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": "schema@example.com",
		"first_name": "Ada", "last_name": "Lovelace", "external_id": "schema-1", "phone": "+2348012345678",
		"address": map[string]any{"line1": "1 Marina", "city": "Lagos", "country": "NG"}, "metadata": map[string]string{"tier": "gold"}}),
		201, "POST", "/v1/customers"))
	check(c.do("GET", "/v1/customers/"+cust, nil), 200, "GET", "/v1/customers/{id}")
	check(c.do("GET", "/v1/customers?limit=1", nil), 200, "GET", "/v1/customers")
	check(c.do("PATCH", "/v1/customers/"+cust, map[string]any{"note": "vip"}), 200, "PATCH", "/v1/customers/{id}")
	wal := id(check(c.do("POST", "/v1/customers/"+cust+"/wallets", map[string]any{"network": "ethereum",
		"address": "0x52908400098527886E0F7030069857D2E4169EE7", "label": "main"}), 201, "POST", "/v1/customers/{id}/wallets"))
	check(c.do("GET", "/v1/customers/"+cust+"/wallets", nil), 200, "GET", "/v1/customers/{id}/wallets")
	check(c.do("POST", "/v1/customers/"+cust+"/tokens", map[string]any{"scopes": []string{"balances:read"}}), 201, "POST", "/v1/customers/{id}/tokens")
	check(c.do("GET", "/v1/profile", nil, P, cust), 200, "GET", "/v1/profile")
	check(c.do("GET", "/v1/profile", nil), 200, "GET", "/v1/profile")
	other := c.createCustomer("schema-close@example.com")
	check(c.do("DELETE", "/v1/customers/"+other, nil), 200, "DELETE", "/v1/customers/{id}")

	// Currencies, deposit addresses, sandbox deposits (201 new, 200 known), balances.
	check(c.do("GET", "/v1/currencies", nil), 200, "GET", "/v1/currencies")
	var addr struct{ Address string }
	if err := json.Unmarshal(check(c.do("POST", "/v1/deposit-addresses", map[string]any{"currency": "USDT", "network": "ethereum"}, P, cust),
		201, "POST", "/v1/deposit-addresses"), &addr); err != nil {
		t.Fatal(err)
	}
	check(c.do("GET", "/v1/deposit-addresses", nil, P, cust), 200, "GET", "/v1/deposit-addresses")
	dep := map[string]any{"network": "ethereum", "currency": "USDT", "amount": "100", "to_address": addr.Address,
		"tx_hash": "0xschema" + strings.ToLower(ledger.NewID("")), "confirmations": 1}
	dpt := id(check(c.do("POST", "/v1/sandbox/deposits", dep), 201, "POST", "/v1/sandbox/deposits"))
	dep["confirmations"] = 100
	check(c.do("POST", "/v1/sandbox/deposits", dep), 200, "POST", "/v1/sandbox/deposits")
	check(c.do("GET", "/v1/deposits", nil, P, cust), 200, "GET", "/v1/deposits")
	check(c.do("GET", "/v1/deposits/"+dpt, nil, P, cust), 200, "GET", "/v1/deposits/{id}")
	check(c.do("GET", "/v1/balances", nil, P, cust), 200, "GET", "/v1/balances")
	check(c.do("GET", "/v1/balances/usdt", nil, P, cust), 200, "GET", "/v1/balances/{currency}")

	// Payouts: one cancelled, one driven by a rail; rail views.
	payout := map[string]any{"currency": "USDT", "network": "ethereum", "amount": "10",
		"address": "0x8ba1f109551bD432803012645Ac136ddd64DBA72", "beneficiary": map[string]any{"name": "Ada Lovelace", "country": "ng"},
		"reference": "inv-1", "metadata": map[string]string{"order": "1"}}
	pay := id(check(c.do("POST", "/v1/payouts", payout, P, cust), 201, "POST", "/v1/payouts"))
	check(c.do("POST", "/v1/payouts/"+pay+"/cancel", nil, P, cust), 200, "POST", "/v1/payouts/{id}/cancel")
	pay2 := id(check(c.do("POST", "/v1/payouts", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "5",
		"wallet_id": wal}, P, cust), 201, "POST", "/v1/payouts"))
	check(c.do("GET", "/v1/payouts?status=pending", nil, P, cust), 200, "GET", "/v1/payouts")
	check(c.do("GET", "/v1/payouts/"+pay2, nil, P, cust), 200, "GET", "/v1/payouts/{id}")
	rail := railClient(t, srv)
	check(rail.do("GET", "/v1/rails/payouts?status=pending&limit=5", nil), 200, "GET", "/v1/rails/payouts")
	check(rail.do("POST", "/v1/rails/payouts/"+pay2+"/processing", nil), 200, "POST", "/v1/rails/payouts/{id}/processing")
	check(rail.do("POST", "/v1/rails/payouts/"+pay2+"/complete", map[string]any{"tx_hash": "0xdone"}), 200, "POST", "/v1/rails/payouts/{id}/complete")
	check(rail.do("POST", "/v1/rails/deposits", map[string]any{"network": "ethereum", "currency": "USDT", "amount": "1",
		"to_address": "0x000000000000000000000000000000000000dEaD", "tx_hash": "0xunmatched" + strings.ToLower(ledger.NewID("")),
		"confirmations": 1}), 201, "POST", "/v1/rails/deposits")
	check(rail.do("GET", "/v1/rails/deposits?limit=2", nil), 200, "GET", "/v1/rails/deposits")

	// Transfers, single and batch (one fails).
	trf := id(check(c.do("POST", "/v1/transfers", map[string]any{"currency": "USDT", "amount": "1", "to_profile_id": c.business.ID,
		"description": "fee share"}, P, cust), 201, "POST", "/v1/transfers"))
	check(c.do("GET", "/v1/transfers/"+trf, nil, P, cust), 200, "GET", "/v1/transfers/{id}")
	check(c.do("GET", "/v1/transfers", nil, P, cust), 200, "GET", "/v1/transfers")
	check(c.do("POST", "/v1/transfers/batch", map[string]any{"atomic": false, "transfers": []map[string]any{
		{"currency": "USDT", "amount": "1", "to_profile_id": c.business.ID},
		{"currency": "USDT", "amount": "1", "to_profile_id": "CUS_00000000000000000000000000"},
	}}, P, cust), 201, "POST", "/v1/transfers/batch")

	// Quotes and conversions, on a pair no other test sets.
	if err := pgtest.Store(t).SetRate(context.Background(), ledger.Rate{Base: "GBP", Quote: "KES",
		Rate: decimal.RequireFromString("160"), SpreadPercent: decimal.RequireFromString("1")}); err != nil {
		t.Fatal(err)
	}
	pgtest.Fund(t, c.business.ID, cust, "GBP", "100")
	quo := id(check(c.do("POST", "/v1/quotes", map[string]any{"source_currency": "GBP", "target_currency": "KES", "source_amount": "10"}, P, cust),
		201, "POST", "/v1/quotes"))
	check(c.do("GET", "/v1/quotes/"+quo, nil, P, cust), 200, "GET", "/v1/quotes/{id}")
	cnv := id(check(c.do("POST", "/v1/conversions", map[string]any{"quote_id": quo}, P, cust), 201, "POST", "/v1/conversions"))
	check(c.do("GET", "/v1/conversions/"+cnv, nil, P, cust), 200, "GET", "/v1/conversions/{id}")
	check(c.do("GET", "/v1/conversions", nil, P, cust), 200, "GET", "/v1/conversions")

	// History, audit log, wallet removal.
	check(c.do("GET", "/v1/transactions?limit=100", nil, P, cust), 200, "GET", "/v1/transactions")
	check(c.do("GET", "/v1/customers/"+cust+"/audit-log", nil), 200, "GET", "/v1/customers/{id}/audit-log")
	check(c.do("DELETE", "/v1/customers/"+cust+"/wallets/"+wal, nil), 204, "DELETE", "/v1/customers/{id}/wallets/{wallet_id}")

	// Events: each checked against Event_<type>, whose data is the object reported.
	var events []json.RawMessage
	if err := json.Unmarshal(check(c.do("GET", "/v1/events?limit=100", nil), 200, "GET", "/v1/events"), &events); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range events {
		var ev struct{ ID, Type string }
		_ = json.Unmarshal(e, &ev)
		seen[ev.Type] = true
		s.checkObject(t, "Event_"+strings.ReplaceAll(ev.Type, ".", "_"), e, "event["+strconv.Itoa(i)+"] "+ev.Type)
	}
	for _, want := range []string{"customer.created", "customer.closed", "deposit.completed", "payout.pending", "payout.cancelled",
		"payout.completed", "transfer.completed", "conversion.completed"} {
		if !seen[want] {
			t.Errorf("no %s event among %d", want, len(events))
		}
	}
	if len(events) > 0 {
		var ev struct{ ID string }
		_ = json.Unmarshal(events[0], &ev)
		check(c.do("GET", "/v1/events/"+ev.ID, nil), 200, "GET", "/v1/events/{id}")
		check(c.do("POST", "/v1/events/"+ev.ID+"/redeliver", nil), 202, "POST", "/v1/events/{id}/redeliver")
		check(c.do("GET", "/v1/events/"+ev.ID+"/deliveries", nil), 200, "GET", "/v1/events/{id}/deliveries")
	}
	check(c.do("DELETE", "/v1/webhook-endpoints/"+hook, nil), 204, "DELETE", "/v1/webhook-endpoints/{id}")

	// Errors: the envelope and error object, including customer_id on customer_exists.
	check(c.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": "x@example.com", "amont": 1}), 400, "POST", "/v1/customers")
	check(c.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": "dup@example.com", "first_name": "A",
		"last_name": "B", "external_id": "schema-1"}), 409, "POST", "/v1/customers")
	check(c.do("GET", "/v1/customers/CUS_00000000000000000000000000", nil), 404, "GET", "/v1/customers/{id}")
	check(c.do("GET", "/v1/balances", nil, P, "CUS_00000000000000000000000000"), 404, "GET", "/v1/balances")
	check(c.do("GET", "/v1/customers?limit=0", nil), 400, "GET", "/v1/customers")
	check(c.do("POST", "/v1/payouts", map[string]any{"currency": "USDT", "network": "ethereum", "amount": "1000000",
		"address": "0x8ba1f109551bD432803012645Ac136ddd64DBA72", "beneficiary": map[string]any{"name": "Ada"}}, P, cust), 422, "POST", "/v1/payouts")
	check(rail.do("POST", "/v1/rails/payouts/"+pay+"/complete", nil), 409, "POST", "/v1/rails/payouts/{id}/complete")
	check(c.do("GET", "/v1/rails/payouts", nil), 403, "GET", "/v1/rails/payouts")
}
