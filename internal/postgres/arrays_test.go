package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
)

// TestArrayCodecsMatchPgx sends the same arrays through a connection of Open
// (the store's own array encoders, arrays.go) and through a plain pgx connection,
// and checks PostgreSQL reads the same value from both: text, jsonb,
// timestamptz and numeric arrays, empty and NULL arrays, NULL elements, and
// elements that need quoting in a text literal. It also checks Open's
// connections plan those slices with the store's encoders, so the comparison is
// not pgx against itself.
func TestArrayCodecsMatchPgx(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db, err := postgres.Open(ctx, url, postgres.Options{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	plain, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	conn, err := db.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	s := func(v string) *string { return &v }
	odd := []string{"", "a", "x,y", "{}", `"q"`, `back\slash`, "NULL", "ünïcode", " sp ", "tab\there"}
	zone := time.FixedZone("X", -5*3600-30*60)
	cases := []struct {
		cast  string
		value any
		plan  string // the store's encoder Open's connections must use
	}{
		{"text[]", odd, "binaryArrayPlan"},
		{"text[]", []string{}, "binaryArrayPlan"},
		{"text[]", []string(nil), "binaryArrayPlan"},
		{"text[]", []*string{s("a"), nil, s(`"`), nil}, "binaryArrayPlan"},
		{"text[]", []*string{nil}, "binaryArrayPlan"},
		{"jsonb[]", []string{`{}`, `{"a": 1, "b": [1, 2]}`, `"s"`, `null`, `{"ü": "\""}`}, "binaryArrayPlan"},
		{"timestamptz[]", []time.Time{time.Date(2026, 12, 7, 20, 1, 2, 123456789, time.UTC),
			time.Date(1999, 12, 31, 23, 59, 59, 999999999, zone), time.Unix(0, 0), time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC)},
			"binaryArrayPlan"},
		{"timestamptz[]", []time.Time{}, "binaryArrayPlan"},
		{"numeric[]", []string{"0.01", "-12.345", "100000000000000000000.000000000001", "0", "7"}, "textArrayLiteralPlan"},
		{"numeric[]", []*string{s("1.5"), nil, s("-0.000001")}, "textArrayLiteralPlan"},
		{"numeric[]", []string{}, "textArrayLiteralPlan"},
		{"numeric[]", []string(nil), "textArrayLiteralPlan"},
	}
	oids := map[string]uint32{"text[]": pgtype.TextArrayOID, "jsonb[]": pgtype.JSONBArrayOID,
		"timestamptz[]": pgtype.TimestamptzArrayOID, "numeric[]": pgtype.NumericArrayOID}
	for i, c := range cases {
		q := fmt.Sprintf("SELECT $1::%s::text, $1::%[1]s IS NULL, coalesce(cardinality($1::%[1]s), -1)", c.cast)
		var got, want struct {
			text  *string
			null  bool
			count int
		}
		if err := conn.QueryRowContext(ctx, q, c.value).Scan(&got.text, &got.null, &got.count); err != nil {
			t.Fatalf("case %d (%s %#v) through Open: %v", i, c.cast, c.value, err)
		}
		if err := plain.QueryRow(ctx, q, c.value).Scan(&want.text, &want.null, &want.count); err != nil {
			t.Fatalf("case %d (%s %#v) through pgx: %v", i, c.cast, c.value, err)
		}
		if fmt.Sprint(deref(got.text), got.null, got.count) != fmt.Sprint(deref(want.text), want.null, want.count) {
			t.Errorf("case %d (%s %#v): Open's connection read %q null=%v n=%d, pgx's %q null=%v n=%d", i, c.cast, c.value,
				deref(got.text), got.null, got.count, deref(want.text), want.null, want.count)
		}
		var plan string
		if err := conn.Raw(func(dc any) error {
			m := dc.(*stdlib.Conn).Conn().TypeMap()
			oid := oids[c.cast]
			plan = fmt.Sprintf("%T", m.PlanEncode(oid, m.FormatCodeForOID(oid), c.value))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(plan, "."+c.plan) {
			t.Errorf("case %d (%s %T): planned with %s, want the store's %s", i, c.cast, c.value, plan, c.plan)
		}
	}

	// The numeric[] literal quotes every element; PostgreSQL must read back
	// exactly the strings given, whatever they hold (as text[]: no numeric
	// holds a quote, but the literal must not depend on that).
	var literal []byte
	if err := conn.Raw(func(dc any) error {
		m := dc.(*stdlib.Conn).Conn().TypeMap()
		var err error
		literal, err = m.PlanEncode(pgtype.NumericArrayOID, pgtype.TextFormatCode, odd).Encode(odd, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var back []string
	if err := plain.QueryRow(ctx, "SELECT $1::text::text[]", string(literal)).Scan(&back); err != nil {
		t.Fatalf("literal %s: %v", literal, err)
	}
	if fmt.Sprintf("%q", back) != fmt.Sprintf("%q", odd) {
		t.Errorf("literal %s read back as %q, want %q", literal, back, odd)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
