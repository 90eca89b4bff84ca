package ledger

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func sp(s string) *string { return &s }

func mustCustomer(t *testing.T, p CustomerPatch) Customer {
	t.Helper()
	c, err := NewCustomer("BUS_X", p, time.Now().UTC())
	if err != nil {
		t.Fatalf("new customer: %v", err)
	}
	return c
}

func TestNewCustomerValidation(t *testing.T) {
	t.Parallel()
	tooMany := map[string]string{}
	for i := 0; i < metadataKeysMax+1; i++ {
		tooMany[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name       string
		patch      CustomerPatch
		wantParam  string
		wantFields []string
	}{
		{"ok individual", CustomerPatch{Type: sp("individual"), Email: sp("Ada@Example.com"), FirstName: sp("Ada"), LastName: sp("L")}, "", nil},
		{"ok business", CustomerPatch{Type: sp("business"), Email: sp("ops@acme.io"), BusinessName: sp("Acme")}, "", nil},
		{"missing everything", CustomerPatch{}, "type", []string{"type", "email"}},
		{"individual without names", CustomerPatch{Type: sp("individual"), Email: sp("a@b.co")}, "first_name", []string{"first_name", "last_name"}},
		{"business without name", CustomerPatch{Type: sp("business"), Email: sp("a@b.co")}, "business_name", []string{"business_name"}},
		{"bad type", CustomerPatch{Type: sp("robot"), Email: sp("a@b.co")}, "type", []string{"type"}},
		{"bad email", CustomerPatch{Type: sp("business"), Email: sp("Ada <a@b.co>"), BusinessName: sp("A")}, "email", []string{"email"}},
		{"email without dot", CustomerPatch{Type: sp("business"), Email: sp("a@localhost"), BusinessName: sp("A")}, "email", []string{"email"}},
		{"several fields", CustomerPatch{Type: sp("business"), Email: sp("a@b.co"), BusinessName: sp("A"), Phone: sp("12"), Country: sp("XX"), BirthDate: sp("1800-01-01")}, "", []string{"phone", "country", "birth_date"}},
		{"metadata 51 keys", CustomerPatch{Type: sp("business"), Email: sp("a@b.co"), BusinessName: sp("A"), Metadata: tooMany}, "metadata", []string{"metadata"}},
		{"metadata long key", CustomerPatch{Type: sp("business"), Email: sp("a@b.co"), BusinessName: sp("A"), Metadata: map[string]string{strings.Repeat("k", 41): "v"}}, "metadata", []string{"metadata"}},
		{"metadata long value", CustomerPatch{Type: sp("business"), Email: sp("a@b.co"), BusinessName: sp("A"), Metadata: map[string]string{"k": strings.Repeat("v", 501)}}, "metadata", []string{"metadata"}},
		{"NUL in name", CustomerPatch{Type: sp("business"), Email: sp("a@b.co"), BusinessName: sp("A\x00B")}, "business_name", []string{"business_name"}},
		{"created closed", CustomerPatch{Type: sp("business"), Email: sp("a@b.co"), BusinessName: sp("A"), Status: sp("closed")}, "status", []string{"status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCustomer("BUS_X", tt.patch, time.Now())
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if c.Email != strings.ToLower(*tt.patch.Email) || c.Status != CustomerActive || c.KYCStatus != "unverified" {
					t.Fatalf("customer = %+v", c)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Code != CodeValidation {
				t.Fatalf("err = %v, want validation_failed", err)
			}
			if tt.wantParam != "" && e.Param != tt.wantParam {
				t.Fatalf("param = %q, want %q", e.Param, tt.wantParam)
			}
			for _, f := range tt.wantFields {
				if e.Fields[f] == "" {
					t.Fatalf("fields = %v, missing %q", e.Fields, f)
				}
			}
			if len(e.Fields) != len(tt.wantFields) {
				t.Fatalf("fields = %v, want exactly %v", e.Fields, tt.wantFields)
			}
		})
	}
}

func TestCustomerPatch(t *testing.T) {
	t.Parallel()
	base := mustCustomer(t, CustomerPatch{Type: sp("individual"), Email: sp("a@b.co"), FirstName: sp("Ada"), LastName: sp("L"),
		Metadata: map[string]string{"keep": "1", "drop": "2"}})
	later := base.UpdatedAt.Add(time.Second)

	t.Run("merge and remove metadata", func(t *testing.T) {
		c := base.Clone()
		changed, err := c.Patch(CustomerPatch{Metadata: map[string]string{"drop": "", "new": "3"}, KYCStatus: sp("verified"), Status: sp("suspended")}, later)
		if err != nil || !changed {
			t.Fatalf("patch = %v, %v", changed, err)
		}
		if fmt.Sprint(c.Metadata) != "map[keep:1 new:3]" || c.KYCStatus != "verified" || c.Status != CustomerSuspended || !c.UpdatedAt.Equal(later) {
			t.Fatalf("customer = %+v", c)
		}
		if len(base.Metadata) != 2 {
			t.Fatalf("patch changed the original's metadata: %v", base.Metadata)
		}
	})
	t.Run("no-op keeps updated_at", func(t *testing.T) {
		c := base.Clone()
		changed, err := c.Patch(CustomerPatch{FirstName: sp(" Ada "), Metadata: map[string]string{"absent": ""}}, later)
		if err != nil || changed || !c.UpdatedAt.Equal(base.UpdatedAt) {
			t.Fatalf("patch = %v, %v; updated_at %v", changed, err, c.UpdatedAt)
		}
	})
	refusals := []struct {
		name   string
		patch  CustomerPatch
		fields []string
	}{
		{"clear names", CustomerPatch{FirstName: sp(""), LastName: sp(" ")}, []string{"first_name", "last_name"}},
		{"clear email", CustomerPatch{Email: sp("")}, []string{"email"}},
		{"change type", CustomerPatch{Type: sp("business")}, []string{"type"}},
		{"close by patch", CustomerPatch{Status: sp("closed")}, []string{"status"}},
		{"bad statuses", CustomerPatch{Status: sp("frozen"), KYCStatus: sp("maybe")}, []string{"status", "kyc_status"}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			c := base.Clone()
			_, err := c.Patch(tt.patch, later)
			e, ok := err.(*Error)
			if !ok || e.Code != CodeValidation || len(e.Fields) != len(tt.fields) {
				t.Fatalf("err = %+v, want validation_failed on %v", err, tt.fields)
			}
			for _, f := range tt.fields {
				if e.Fields[f] == "" {
					t.Fatalf("fields = %v, missing %q", e.Fields, f)
				}
			}
			if !c.UpdatedAt.Equal(base.UpdatedAt) || c.FirstName != "Ada" {
				t.Fatalf("refused patch changed the customer: %+v", c)
			}
		})
	}
	t.Run("closed", func(t *testing.T) {
		c := base.Clone()
		if !c.Close(later) || c.Status != CustomerClosed || c.Close(later.Add(time.Second)) {
			t.Fatalf("close twice: %+v", c)
		}
		if !c.UpdatedAt.Equal(later) {
			t.Fatalf("second close moved updated_at")
		}
		if _, err := c.Patch(CustomerPatch{Note: sp("x")}, later); ErrorCode(err) != CodeInvalidState {
			t.Fatalf("patch closed: %v, want invalid_state", err)
		}
	})
}

func TestParseCustomerFilter(t *testing.T) {
	t.Parallel()
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	f, err := ParseCustomerFilter(get(map[string]string{"q": " Ada ", "type": "individual", "status": "closed", "kyc_status": "pending",
		"email": "ADA@B.CO", "external_id": "x1", "created_after": "2026-01-01T00:00:00+01:00", "created_before": "2026-02-01T00:00:00Z"}))
	if err != nil {
		t.Fatal(err)
	}
	if f.Query != "Ada" || f.Email != "ada@b.co" || f.Type != CustomerIndividual || f.Status != CustomerClosed ||
		f.KYCStatus != "pending" || f.ExternalID != "x1" || f.CreatedAfter.Hour() != 23 || f.CreatedBefore == nil {
		t.Fatalf("filter = %+v", f)
	}
	_, err = ParseCustomerFilter(get(map[string]string{"type": "robot", "status": "gone", "kyc_status": "x",
		"created_after": "yesterday", "q": strings.Repeat("a", 101)}))
	e, _ := err.(*Error)
	if e == nil || e.Code != CodeValidation || len(e.Fields) != 5 {
		t.Fatalf("err = %+v, want 5 invalid fields", err)
	}
	_, err = ParseCustomerFilter(get(map[string]string{"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"}))
	if e, _ := err.(*Error); e == nil || e.Param != "created_before" {
		t.Fatalf("err = %v, want created_before", err)
	}
}
