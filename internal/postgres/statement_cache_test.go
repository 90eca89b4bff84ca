package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// TestOpenBoundsStatementCache checks that Open keeps pgx's per-connection
// statement cache small unless DATABASE_URL sets statement_cache_capacity, and
// that statements beyond the cache's size still answer correctly (they are
// evicted and prepared again, as bun's one-off queries always are).
func TestOpenBoundsStatementCache(t *testing.T) {
	ctx := context.Background()
	base := pgtest.URL(t)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		url  string
		want int
	}{
		{base, 32},
		{base + sep + "statement_cache_capacity=100", 100},
	} {
		db, err := postgres.Open(ctx, c.url, postgres.Options{PoolSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := db.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := conn.Raw(func(dc any) error {
			got = dc.(*stdlib.Conn).Conn().Config().StatementCacheCapacity
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("statement cache capacity %d, want %d", got, c.want)
		}
		for i := 0; i < 3*c.want; i++ {
			var n int
			if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&n); err != nil || n != i {
				t.Fatalf("SELECT %d = %d, %v", i, n, err)
			}
		}
		conn.Close()
		db.Close()
	}
}

// TestCustomerListsPrepareNothing: a customer list or search built by bun (which
// writes its values into the SQL text, so every text is new) runs unprepared in one
// round trip; it neither prepares a statement nor churns pgx's statement cache.
// The email-fragment search is one constant statement (tally_email_search),
// prepared once for the connection however many searches run.
func TestCustomerListsPrepareNothing(t *testing.T) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := postgres.New(db)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	prepared := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := prepared()
	for i, f := range []ledger.CustomerFilter{{}, {Query: "ada"}, {Query: "@gmail"}, {Query: "nobody"}, {Status: ledger.CustomerActive},
		{Query: "user123@", Status: ledger.CustomerActive}} {
		if _, err := st.FindCustomers(ctx, b.ID, f, ledger.Page{Limit: 20 + i}); err != nil {
			t.Fatalf("FindCustomers(%+v): %v", f, err)
		}
	}
	if after := prepared(); after != before {
		t.Fatalf("prepared statements on the connection: %d before six customer lists, %d after", before, after)
	}
	for i, q := range []string{"user123@", "ada.lovelace@", "user9876@gmail"} {
		if _, err := st.FindCustomers(ctx, b.ID, ledger.CustomerFilter{Query: q}, ledger.Page{Limit: 20 + i}); err != nil {
			t.Fatalf("FindCustomers(q=%s): %v", q, err)
		}
	}
	if after := prepared(); after != before+1 {
		t.Fatalf("prepared statements: %d before three email searches, %d after (want one more)", before, after)
	}
}
