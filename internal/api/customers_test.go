package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/ledger"
)

// customerOut is the part of a Customer the tests read.
type customerOut struct {
	ID           string            `json:"id"`
	BusinessID   string            `json:"business_id"`
	Type         string            `json:"type"`
	Status       string            `json:"status"`
	KYCStatus    string            `json:"kyc_status"`
	Email        string            `json:"email"`
	FirstName    *string           `json:"first_name"`
	BusinessName *string           `json:"business_name"`
	Phone        *string           `json:"phone"`
	ExternalID   *string           `json:"external_id"`
	Metadata     map[string]string `json:"metadata"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// eventTypes returns the outbox event types of one profile, oldest first.
func eventTypes(t *testing.T, business, profile string) []string {
	t.Helper()
	rows, err := pgtest.DB(t).DB.QueryContext(context.Background(),
		`SELECT type FROM events WHERE business_id = $1 AND profile_id = $2 ORDER BY created_at, id`, business, profile)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func (c *client) customer(id string) customerOut {
	c.tb.Helper()
	var cu customerOut
	c.do("GET", "/v1/customers/"+id, nil).must(c.tb, 200).Data(c.tb, &cu)
	return cu
}

func TestCustomerLifecycle(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	r := c.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": "Ada@Example.com", "first_name": "Ada",
		"last_name": "Lovelace", "phone": "+44 20 7946 0018", "metadata": map[string]string{"tier": "gold", "ref": "x"}}).must(t, 201)
	var created customerOut
	r.Data(t, &created)
	if created.Email != "ada@example.com" || created.Status != "active" || created.KYCStatus != "unverified" || *created.Phone != "+442079460018" {
		t.Fatalf("created = %+v", created)
	}
	if got := c.customer(created.ID); got.ID != created.ID || !got.UpdatedAt.Equal(created.UpdatedAt) {
		t.Fatalf("get = %+v, want %+v", got, created)
	}

	t.Run("patch", func(t *testing.T) {
		c := c.on(t)
		r := c.do("PATCH", "/v1/customers/"+created.ID, map[string]any{"status": "suspended", "kyc_status": "verified",
			"metadata": map[string]string{"tier": "", "new": "1"}, "first_name": "Augusta"}).must(t, 200)
		var got customerOut
		r.Data(t, &got)
		if got.Status != "suspended" || got.KYCStatus != "verified" || *got.FirstName != "Augusta" ||
			fmt.Sprint(got.Metadata) != "map[new:1 ref:x]" || !got.UpdatedAt.After(created.UpdatedAt) || !got.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("patched = %+v", got)
		}
		if again := c.customer(created.ID); !reflect.DeepEqual(again, got) {
			t.Fatalf("read after patch = %+v, want %+v", again, got)
		}
		// Repeating the stored values changes nothing: no new updated_at, no event.
		var same customerOut
		c.do("PATCH", "/v1/customers/"+created.ID, map[string]any{"status": "suspended"}).must(t, 200).Data(t, &same)
		if !same.UpdatedAt.Equal(got.UpdatedAt) {
			t.Fatalf("no-op patch moved updated_at %v → %v", got.UpdatedAt, same.UpdatedAt)
		}
		c.do("PATCH", "/v1/customers/"+created.ID, map[string]any{"status": "active"}).must(t, 200)
	})

	t.Run("patch refusals", func(t *testing.T) {
		tests := []struct {
			name      string
			body      any
			wantCode  string
			wantParam string
			fields    []string
		}{
			{"clear names", map[string]any{"first_name": "", "last_name": ""}, "validation_failed", "first_name", []string{"first_name", "last_name"}},
			{"clear email", map[string]any{"email": ""}, "validation_failed", "email", nil},
			{"close via status", map[string]any{"status": "closed"}, "validation_failed", "status", nil},
			{"change type", map[string]any{"type": "business"}, "validation_failed", "type", nil},
			{"bad kyc and phone", map[string]any{"kyc_status": "maybe", "phone": "call me"}, "validation_failed", "", []string{"kyc_status", "phone"}},
			{"unknown field", map[string]any{"emial": "a@b.co"}, "unknown_field", "emial", nil},
			{"wrong type", map[string]any{"metadata": "x"}, "validation_failed", "metadata", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := c.on(t).do("PATCH", "/v1/customers/"+created.ID, tt.body).must(t, 400)
				if r.Code() != tt.wantCode || (tt.wantParam != "" && r.Body.Error.Param != tt.wantParam) {
					t.Fatalf("error = %s, want %s on %s", r.Raw, tt.wantCode, tt.wantParam)
				}
				for _, f := range tt.fields {
					if r.Body.Error.Fields[f] == "" {
						t.Fatalf("fields = %v, missing %s", r.Body.Error.Fields, f)
					}
				}
			})
		}
	})

	t.Run("close", func(t *testing.T) {
		c := c.on(t)
		var closed customerOut
		c.do("DELETE", "/v1/customers/"+created.ID, nil).must(t, 200).Data(t, &closed)
		if closed.Status != "closed" || closed.ID != created.ID {
			t.Fatalf("closed = %+v", closed)
		}
		// Closing again is idempotent: same customer, no second event.
		var again customerOut
		c.do("DELETE", "/v1/customers/"+created.ID, nil).must(t, 200).Data(t, &again)
		if again.Status != "closed" || !again.UpdatedAt.Equal(closed.UpdatedAt) {
			t.Fatalf("second close = %+v", again)
		}
		if r := c.do("PATCH", "/v1/customers/"+created.ID, map[string]any{"note": "x"}).must(t, 409); r.Code() != "invalid_state" {
			t.Fatalf("patch closed: %s", r.Raw)
		}
		want := []string{"customer.created", "customer.updated", "customer.updated", "customer.closed"}
		if got := eventTypes(t, c.business.ID, created.ID); !slices.Equal(got, want) {
			t.Fatalf("events = %v, want %v", got, want)
		}
	})
}

func TestCustomerCloseWithBalance(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	id := c.createCustomer("rich@example.com")
	pgtest.Fund(t, c.business.ID, id, "USD", "10")
	r := c.do("DELETE", "/v1/customers/"+id, nil).must(t, 409)
	if r.Code() != "balance_not_zero" {
		t.Fatalf("close with balance: %s", r.Raw)
	}
	if got := c.customer(id); got.Status != "active" {
		t.Fatalf("status after refused close = %s", got.Status)
	}
	if got := eventTypes(t, c.business.ID, id); !slices.Equal(got, []string{"customer.created"}) {
		t.Fatalf("events = %v", got)
	}
	// The refusal is in the customer's audit log.
	var entries []struct {
		Method     string `json:"method"`
		StatusCode int    `json:"status_code"`
	}
	c.do("GET", "/v1/customers/"+id+"/audit-log", nil).must(t, 200).Data(t, &entries)
	if len(entries) != 2 || entries[0].Method != "DELETE" || entries[0].StatusCode != 409 {
		t.Fatalf("audit = %+v, want the refused DELETE first", entries)
	}
}

func TestCustomerCreateValidation(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	many := map[string]string{}
	for i := 0; i < 51; i++ {
		many[fmt.Sprintf("key%02d", i)] = "v"
	}
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"type": "business", "email": "ops@acme.io", "business_name": "Acme"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name      string
		body      any
		wantCode  string
		wantParam string
		fields    []string
	}{
		{"empty object", map[string]any{}, "validation_failed", "type", []string{"type", "email"}},
		{"individual without names", map[string]any{"type": "individual", "email": "a@b.co"}, "validation_failed", "first_name", []string{"first_name", "last_name"}},
		{"business without name", map[string]any{"type": "business", "email": "a@b.co"}, "validation_failed", "business_name", nil},
		{"bad email", base(map[string]any{"email": "not-an-email"}), "validation_failed", "email", nil},
		{"bad phone", base(map[string]any{"phone": "12345"}), "validation_failed", "phone", nil},
		{"bad country", base(map[string]any{"country": "XX"}), "validation_failed", "country", nil},
		{"bad birth date", base(map[string]any{"birth_date": "31/12/1990"}), "validation_failed", "birth_date", nil},
		{"bad address country", base(map[string]any{"address": map[string]string{"country": "ZZ"}}), "validation_failed", "address.country", nil},
		{"every field at once", base(map[string]any{"email": "x", "phone": "1", "country": "XX", "birth_date": "tomorrow", "kyc_status": "nope"}),
			"validation_failed", "", []string{"email", "phone", "country", "birth_date", "kyc_status"}},
		{"metadata 51 keys", base(map[string]any{"metadata": many}), "validation_failed", "metadata", nil},
		{"metadata 41-char key", base(map[string]any{"metadata": map[string]string{strings.Repeat("k", 41): "v"}}), "validation_failed", "metadata", nil},
		{"metadata 501-char value", base(map[string]any{"metadata": map[string]string{"k": strings.Repeat("v", 501)}}), "validation_failed", "metadata", nil},
		{"name too long", base(map[string]any{"business_name": strings.Repeat("n", 256)}), "validation_failed", "business_name", nil},
		{"unknown field", base(map[string]any{"nmae": "x"}), "unknown_field", "nmae", nil},
		{"NUL byte", base(map[string]any{"note": "a\u0000b"}), "validation_failed", "note", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.on(t).do("POST", "/v1/customers", tt.body).must(t, 400)
			if r.Code() != tt.wantCode || (tt.wantParam != "" && r.Body.Error.Param != tt.wantParam) {
				t.Fatalf("error = %s, want %s on %q", r.Raw, tt.wantCode, tt.wantParam)
			}
			if r.Body.Error.Fields[r.Body.Error.Param] == "" {
				t.Fatalf("fields %v do not include param %q", r.Body.Error.Fields, r.Body.Error.Param)
			}
			for _, f := range tt.fields {
				if r.Body.Error.Fields[f] == "" {
					t.Fatalf("fields = %v, missing %s", r.Body.Error.Fields, f)
				}
			}
		})
	}

	t.Run("metadata at the limits and removal", func(t *testing.T) {
		c := c.on(t)
		fifty := map[string]string{}
		for i := 0; i < 50; i++ {
			fifty[fmt.Sprintf("%040d", i)] = strings.Repeat("v", 500)
		}
		var cu customerOut
		c.do("POST", "/v1/customers", base(map[string]any{"metadata": fifty})).must(t, 201).Data(t, &cu)
		if len(cu.Metadata) != 50 {
			t.Fatalf("metadata keys = %d, want 50", len(cu.Metadata))
		}
		if r := c.do("PATCH", "/v1/customers/"+cu.ID, map[string]any{"metadata": map[string]string{"one-more": "v"}}).must(t, 400); r.Body.Error.Param != "metadata" {
			t.Fatalf("51st key: %s", r.Raw)
		}
		// Removing one key makes room for another in the same request.
		var swapped customerOut // a fresh value: json.Unmarshal merges into an existing map
		c.do("PATCH", "/v1/customers/"+cu.ID, map[string]any{"metadata": map[string]string{fmt.Sprintf("%040d", 0): "", "one-more": "v"}}).must(t, 200).Data(t, &swapped)
		if _, kept := swapped.Metadata[fmt.Sprintf("%040d", 0)]; len(swapped.Metadata) != 50 || swapped.Metadata["one-more"] != "v" || kept {
			t.Fatalf("metadata after swap: %d keys", len(swapped.Metadata))
		}
	})

	t.Run("external_id taken", func(t *testing.T) {
		c := c.on(t)
		var first customerOut
		c.do("POST", "/v1/customers", base(map[string]any{"external_id": "u-1"})).must(t, 201).Data(t, &first)
		r := c.do("POST", "/v1/customers", base(map[string]any{"external_id": "u-1"})).must(t, 409)
		if r.Code() != "customer_exists" || !strings.Contains(string(r.Raw), first.ID) {
			t.Fatalf("duplicate external_id: %s", r.Raw)
		}
		other := c.createCustomer("other@example.com")
		r = c.do("PATCH", "/v1/customers/"+other, map[string]any{"external_id": "u-1"}).must(t, 409)
		if r.Code() != "customer_exists" || r.Body.Error.Param != "external_id" {
			t.Fatalf("patch to taken external_id: %s", r.Raw)
		}
	})
}

// TestCustomerOtherBusiness checks that every customer route answers another
// business's customer exactly like an id that never existed.
func TestCustomerOtherBusiness(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	a := newClient(t, srv, ledger.ModeSandbox)
	b := newClient(t, srv, ledger.ModeSandbox)
	foreign := b.createCustomer("theirs@example.com")
	var w struct{ ID string }
	b.do("POST", "/v1/customers/"+foreign+"/wallets", map[string]string{"network": "tron", "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}).must(t, 201).Data(t, &w)
	mine := a.createCustomer("mine@example.com")
	unknown := ledger.NewID(ledger.PrefixCustomer)
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/customers/%s", nil},
		{"PATCH", "/v1/customers/%s", map[string]string{"note": "x"}},
		{"DELETE", "/v1/customers/%s", nil},
		{"GET", "/v1/customers/%s/audit-log", nil},
		{"GET", "/v1/customers/%s/wallets", nil},
		{"POST", "/v1/customers/%s/wallets", map[string]string{"network": "tron", "address": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}},
		{"DELETE", "/v1/customers/%s/wallets/" + w.ID, nil},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			a := a.on(t)
			got := a.do(rt.method, fmt.Sprintf(rt.path, foreign), rt.body).must(t, 404)
			want := a.do(rt.method, fmt.Sprintf(rt.path, unknown), rt.body).must(t, 404)
			if got.Code() != "not_found" || got.Body.Error.Name != want.Body.Error.Name ||
				strings.ReplaceAll(got.Body.Error.Message, foreign, "ID") != strings.ReplaceAll(want.Body.Error.Message, unknown, "ID") {
				t.Fatalf("foreign = %s, unknown = %s", got.Raw, want.Raw)
			}
		})
	}
	// Another business's wallet under my own customer is not found either.
	if r := a.do("DELETE", "/v1/customers/"+mine+"/wallets/"+w.ID, nil).must(t, 404); r.Code() != "not_found" {
		t.Fatalf("foreign wallet: %s", r.Raw)
	}
	// B's customer and wallet are untouched.
	if got := b.customer(foreign); got.Status != "active" {
		t.Fatalf("foreign customer changed: %+v", got)
	}
	b.do("GET", "/v1/customers/"+foreign+"/wallets", nil).must(t, 200)
	// A's list never shows B's customers.
	var list []customerOut
	a.do("GET", "/v1/customers?limit=100", nil).must(t, 200).Data(t, &list)
	if len(list) != 1 || list[0].ID != mine {
		t.Fatalf("list = %+v, want only %s", list, mine)
	}
}

// TestCustomerPagination walks 25 customers in pages of 10 while new customers are
// created between page fetches: the walk sees each of the original 25 exactly
// once, in newest-first order, and none of the newcomers (they sort before the
// cursor).
func TestCustomerPagination(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	var want []string
	for i := 0; i < 25; i++ {
		want = append(want, c.createCustomer(fmt.Sprintf("p%02d@example.com", i)))
	}
	slices.Reverse(want)
	var got []string
	cursor, pages := "", 0
	for {
		path := "/v1/customers?limit=10"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := c.do("GET", path, nil).must(t, 200)
		var page []customerOut
		r.Data(t, &page)
		pages++
		for _, cu := range page {
			got = append(got, cu.ID)
		}
		c.createCustomer(fmt.Sprintf("late%d@example.com", pages))
		if r.Body.Pagination == nil || r.Body.Pagination.Limit != 10 {
			t.Fatalf("pagination = %s", r.Raw)
		}
		if !r.Body.Pagination.HasMore {
			if r.Body.Pagination.NextCursor != nil {
				t.Fatalf("last page has a cursor")
			}
			break
		}
		cursor = *r.Body.Pagination.NextCursor
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("pages = %d, ids = %v, want %v", pages, got, want)
	}
	for _, bad := range []string{"limit=0", "limit=101", "limit=x", "cursor=!!!", "cursor=bm9wZQ"} {
		r := c.do("GET", "/v1/customers?"+bad, nil).must(t, 400)
		if r.Code() != "validation_failed" || (r.Body.Error.Param != "limit" && r.Body.Error.Param != "cursor") {
			t.Fatalf("%s: %s", bad, r.Raw)
		}
	}
	// Several bad parameters are reported together.
	r := c.do("GET", "/v1/customers?limit=0&status=gone&created_after=today", nil).must(t, 400)
	if r.Body.Error.Param != "limit" || len(r.Body.Error.Fields) != 3 {
		t.Fatalf("fields = %s", r.Raw)
	}
}

func TestCustomerSearchAndFilters(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	mk := func(body map[string]any) string {
		var cu customerOut
		c.do("POST", "/v1/customers", body).must(t, 201).Data(t, &cu)
		return cu.ID
	}
	ada := mk(map[string]any{"type": "individual", "email": "ada.lovelace@analytical.io", "first_name": "Ada", "last_name": "Lovelace",
		"phone": "+2348012345678", "external_id": "CRM-0042"})
	acme := mk(map[string]any{"type": "business", "email": "billing@acme.example", "business_name": "Acme 100% Rockets"})
	grace := mk(map[string]any{"type": "individual", "email": "grace@navy.mil", "first_name": "Grace", "last_name": "Hopper"})
	between := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	linus := mk(map[string]any{"type": "individual", "email": "linus@kernel.org", "first_name": "Linus", "last_name": "T_rvalds"})
	c.do("PATCH", "/v1/customers/"+grace, map[string]any{"status": "suspended", "kyc_status": "pending"}).must(t, 200)
	c.do("DELETE", "/v1/customers/"+linus, nil).must(t, 200)

	tests := []struct {
		query string
		want  []string // newest first
	}{
		{"q=LOVELACE", []string{ada}},
		{"q=analytical", []string{ada}},
		{"q=0123456", []string{ada}},
		{"q=%2B234801", []string{ada}},
		{"q=crm-00", []string{ada}},
		{"q=rockets", []string{acme}},
		{"q=100%25", []string{acme}},
		{"q=%25", []string{acme}},  // % is literal, not a wildcard
		{"q=t_r", []string{linus}}, // _ is literal too
		{"q=l_v", nil},             // unescaped, it would match "lov"elace
		{"q=a", []string{linus, grace, acme, ada}},
		{"q=nobody-here", nil},
		{"type=business", []string{acme}},
		{"type=individual&status=active", []string{ada}},
		{"status=suspended", []string{grace}},
		{"status=closed", []string{linus}},
		{"kyc_status=pending", []string{grace}},
		{"kyc_status=unverified&type=individual", []string{linus, ada}},
		{"email=GRACE@navy.mil", []string{grace}},
		{"email=grace@navy", nil},
		{"external_id=CRM-0042", []string{ada}},
		{"external_id=crm-0042", nil},
		{"created_after=" + url.QueryEscape(between.Format(time.RFC3339Nano)), []string{linus}},
		{"created_before=" + url.QueryEscape(between.Format(time.RFC3339Nano)), []string{grace, acme, ada}},
		{"q=ada&type=business", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var got []customerOut
			c.on(t).do("GET", "/v1/customers?"+tt.query, nil).must(t, 200).Data(t, &got)
			var ids []string
			for _, cu := range got {
				ids = append(ids, cu.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("ids = %v, want %v", ids, tt.want)
			}
		})
	}
	bad := []struct{ query, param string }{
		{"type=robot", "type"},
		{"status=frozen", "status"},
		{"kyc_status=maybe", "kyc_status"},
		{"created_after=yesterday", "created_after"},
		{"created_before=2026-13-01", "created_before"},
		{"q=" + strings.Repeat("x", 101), "q"},
		{"created_after=2026-02-01T00:00:00Z&created_before=2026-01-01T00:00:00Z", "created_before"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.param, func(t *testing.T) {
			r := c.on(t).do("GET", "/v1/customers?"+tt.query, nil).must(t, 400)
			if r.Code() != "validation_failed" || r.Body.Error.Param != tt.param {
				t.Fatalf("error = %s, want validation_failed on %s", r.Raw, tt.param)
			}
		})
	}
}

func TestCustomerExport(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	tricky := map[string]any{"type": "business", "email": "csv@example.com", "business_name": `Smith, "Jones" & Co`,
		"note": "line one\nline two", "external_id": "=HYPERLINK(\"http://evil\")", "metadata": map[string]string{"k": "v,w"},
		"address": map[string]string{"line1": "@SUM(A1)", "city": "-2+3", "country": "ng"}}
	var trickyOut customerOut
	c.do("POST", "/v1/customers", tricky).must(t, 201).Data(t, &trickyOut)
	for i := 0; i < 3; i++ {
		c.createCustomer(fmt.Sprintf("plain%d@example.com", i))
	}
	// Enough rows for several export batches, inserted in one statement.
	const bulk = 1234
	_, err := pgtest.DB(t).DB.ExecContext(context.Background(), `INSERT INTO customers (business_id, id, type, email, first_name, last_name, created_at, updated_at)
		SELECT $1, 'CUS_' || lpad(upper(to_hex(g)), 26, '0'), 'individual', 'bulk' || g || '@example.com', 'Bulk', 'Row', now() - g * interval '1 second', now()
		FROM generate_series(1, $2::int) g`, c.business.ID, bulk)
	if err != nil {
		t.Fatal(err)
	}

	read := func(t *testing.T, query string) (*response, [][]string) {
		r := c.on(t).do("GET", "/v1/customers/export.csv"+query, nil).must(t, 200)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("content-type = %q", ct)
		}
		if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, ".csv") {
			t.Fatalf("content-disposition = %q", cd)
		}
		records, err := csv.NewReader(strings.NewReader(string(r.Raw))).ReadAll()
		if err != nil {
			t.Fatalf("parse csv: %v\n%s", err, r.Raw)
		}
		return r, records
	}

	t.Run("all rows", func(t *testing.T) {
		_, records := read(t, "")
		if len(records) != 1+4+bulk {
			t.Fatalf("records = %d, want header + %d", len(records), 4+bulk)
		}
		if !slices.Equal(records[0], customerCSVHeader) {
			t.Fatalf("header = %v", records[0])
		}
		seen := map[string]bool{}
		for _, rec := range records[1:] {
			if seen[rec[0]] {
				t.Fatalf("duplicate row %s", rec[0])
			}
			seen[rec[0]] = true
		}
	})

	t.Run("quoting and formula guard", func(t *testing.T) {
		r, records := read(t, "?email=csv@example.com")
		if len(records) != 2 {
			t.Fatalf("records = %d, want 2", len(records))
		}
		row := map[string]string{}
		for i, h := range records[0] {
			row[h] = records[1][i]
		}
		want := map[string]string{
			"id": trickyOut.ID, "business_name": `Smith, "Jones" & Co`, "note": "line one\nline two",
			"external_id": `'=HYPERLINK("http://evil")`, "address_line1": "'@SUM(A1)", "address_city": "'-2+3",
			"address_country": "NG", "metadata": `{"k":"v,w"}`, "type": "business",
		}
		for k, v := range want {
			if row[k] != v {
				t.Errorf("%s = %q, want %q", k, row[k], v)
			}
		}
		if !strings.Contains(string(r.Raw), `"Smith, ""Jones"" & Co"`) {
			t.Errorf("raw CSV does not quote the business name: %s", r.Raw)
		}
	})

	t.Run("filters", func(t *testing.T) {
		_, records := read(t, "?q=plain")
		if len(records) != 4 {
			t.Fatalf("q=plain: %d records, want header + 3", len(records))
		}
		r := c.on(t).do("GET", "/v1/customers/export.csv?status=nope", nil).must(t, 400)
		if r.Code() != "validation_failed" || r.Body.Error.Param != "status" {
			t.Fatalf("bad filter: %s", r.Raw)
		}
	})
}

func TestCustomerFormulaGuard(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"=1+1": "'=1+1", "+234": "'+234", "-1": "'-1", "@x": "'@x", "\t=x": "'\t=x",
		"\r=x": "'\r=x", "a=b": "a=b", "": "", "ada": "ada"} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCustomerAuditLog checks that creates, updates, refusals and closes are
// recorded with the request's id, key and status, newest first.
func TestCustomerAuditLog(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	c := newClient(t, srv, ledger.ModeSandbox)
	created := c.do("POST", "/v1/customers", map[string]any{"type": "individual", "email": "audit@example.com", "first_name": "A", "last_name": "B"}).must(t, 201)
	var cu customerOut
	created.Data(t, &cu)
	patched := c.do("PATCH", "/v1/customers/"+cu.ID, map[string]any{"note": "hello"}).must(t, 200)
	refused := c.do("PATCH", "/v1/customers/"+cu.ID, map[string]any{"phone": "nope"}).must(t, 400)
	closed := c.do("DELETE", "/v1/customers/"+cu.ID, nil).must(t, 200)
	blocked := c.do("PATCH", "/v1/customers/"+cu.ID, map[string]any{"note": "too late"}).must(t, 409) // invalid_state
	c.do("GET", "/v1/customers/"+cu.ID, nil).must(t, 200)                                             // reads are not audited

	type entry struct {
		RequestID  string    `json:"request_id"`
		Method     string    `json:"method"`
		Path       string    `json:"path"`
		KeyID      string    `json:"key_id"`
		StatusCode int       `json:"status_code"`
		CreatedAt  time.Time `json:"created_at"`
	}
	var all []entry
	cursor := ""
	for page := 0; page < 5; page++ {
		path := "/v1/customers/" + cu.ID + "/audit-log?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := c.do("GET", path, nil).must(t, 200)
		var es []entry
		r.Data(t, &es)
		all = append(all, es...)
		if !r.Body.Pagination.HasMore {
			break
		}
		cursor = *r.Body.Pagination.NextCursor
	}
	want := []struct {
		r      *response
		method string
		status int
	}{{blocked, "PATCH", 409}, {closed, "DELETE", 200}, {refused, "PATCH", 400}, {patched, "PATCH", 200}, {created, "POST", 201}}
	if len(all) != len(want) {
		t.Fatalf("audit entries = %+v, want %d", all, len(want))
	}
	var keyID string
	for i, w := range want {
		e := all[i]
		if e.RequestID != w.r.Header.Get("X-Request-Id") || e.Method != w.method || e.StatusCode != w.status ||
			!strings.HasPrefix(e.Path, "/v1/customers") || !strings.HasPrefix(e.KeyID, ledger.PrefixKey) {
			t.Fatalf("entry %d = %+v, want %s %d of %s", i, e, w.method, w.status, w.r.Header.Get("X-Request-Id"))
		}
		if keyID != "" && e.KeyID != keyID {
			t.Fatalf("key ids differ: %s vs %s", e.KeyID, keyID)
		}
		keyID = e.KeyID
		if i > 0 && e.CreatedAt.After(all[i-1].CreatedAt) {
			t.Fatalf("entries not newest first: %+v", all)
		}
	}
}
