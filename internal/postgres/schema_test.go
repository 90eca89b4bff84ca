package postgres_test

// The Citus-ready schema rule of DESIGN.md §5, checked against the migrated
// catalog rather than the SQL text: every tenant table (one with a business_id
// column) has business_id as the first column of its primary key, every other
// table is on an explicit allow-list with the reason it is global, and every
// unique index of a tenant table that is not led by business_id is a known
// global lookup that docs/scaling.md plans a routing table for.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/pgtest"
)

// globalTables are the tables without business_id: operator and reference data,
// replicated to every node under Citus (create_reference_table), or bookkeeping.
var globalTables = map[string]string{
	"businesses":          "the tenants themselves; the distribution key's own table (reference table)",
	"currencies":          "reference data shared by every business",
	"currency_networks":   "reference data shared by every business",
	"fx_rates":            "operator-set conversion rates, shared by every business",
	"risk_addresses":      "operator's risk list, shared by every business",
	"rail_keys":           "operator credentials of the money rails; a rail has no business",
	"unmatched_deposits":  "deposits to addresses nobody owns: by definition no business yet",
	"bun_migrations":      "bun/migrate bookkeeping",
	"bun_migration_locks": "bun/migrate bookkeeping",
}

// globalUniqueIndexes are unique indexes on tenant tables not led by business_id.
// Under Citus each needs a routing table (see docs/scaling.md); add one here only
// together with its plan there.
var globalUniqueIndexes = map[string]string{
	"api_keys_hash":           "authentication looks a secret key up by hash before the business is known",
	"deposit_addresses_route": "a rail's deposit report names (network, address), not a business",
	"deposits_chain_output":   "a chain output is credited once, whoever reports it",
	"payouts_id":              "rail payout steps name only the payout id",
	"dashboard_users_email":   "dashboard sign-in asks for an email and a password only",
}

func TestSchemaTenantTablesLeadWithBusinessID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)

	var rows []struct {
		Table       string `bun:"table_name"`
		HasBusiness bool   `bun:"has_business"`
		PKFirst     string `bun:"pk_first"`
		PKColumns   string `bun:"pk_columns"`
	}
	err := db.NewRaw(`
		SELECT c.relname AS table_name,
		       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'business_id' AND NOT a.attisdropped) AS has_business,
		       coalesce((SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		                 WHERE i.indrelid = c.oid AND i.indisprimary), '') AS pk_first,
		       coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM pg_index i
		                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		                 WHERE i.indrelid = c.oid AND i.indisprimary), '') AS pk_columns
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
		ORDER BY 1`).Scan(ctx, &rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no tables found; is the database migrated?")
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Table] = true
		_, global := globalTables[r.Table]
		switch {
		case r.HasBusiness && global:
			t.Errorf("table %s has business_id but is on the globalTables allow-list; remove it from the list", r.Table)
		case r.HasBusiness && r.PKFirst != "business_id":
			t.Errorf("tenant table %s: primary key (%s) must start with business_id (DESIGN.md §5: Citus distributes by it)", r.Table, r.PKColumns)
		case !r.HasBusiness && !global:
			t.Errorf("table %s has no business_id column: a tenant table needs business_id leading its primary key; "+
				"a global one must be added to globalTables in schema_test.go with the reason, and to docs/scaling.md", r.Table)
		}
	}
	for name := range globalTables {
		if !seen[name] {
			t.Errorf("globalTables lists %s, which does not exist; remove it", name)
		}
	}
}

func TestSchemaUniqueIndexesAreTenantScoped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	var rows []struct {
		Index string `bun:"index_name"`
		Table string `bun:"table_name"`
		First string `bun:"first_column"`
	}
	err := db.NewRaw(`
		SELECT ic.relname AS index_name, c.relname AS table_name, coalesce(a.attname, '(expression)') AS first_column
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE n.nspname = current_schema() AND i.indisunique AND NOT i.indisprimary
		  AND EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = c.oid AND b.attname = 'business_id' AND NOT b.attisdropped)
		ORDER BY 1`).Scan(ctx, &rows)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, r := range rows {
		if r.First == "business_id" {
			continue
		}
		found = append(found, r.Index)
		if _, ok := globalUniqueIndexes[r.Index]; !ok {
			t.Errorf("unique index %s on tenant table %s starts with %s, not business_id: under Citus a unique index must "+
				"contain the distribution column; lead it with business_id, or plan a routing table in docs/scaling.md and "+
				"list it in globalUniqueIndexes", r.Index, r.Table, r.First)
		}
	}
	sort.Strings(found)
	for name := range globalUniqueIndexes {
		if !strings.Contains(","+strings.Join(found, ",")+",", ","+name+",") {
			// A stale entry is harmless, so it is only reported.
			t.Logf("globalUniqueIndexes lists %s, which is gone or now led by business_id; remove it and update docs/scaling.md", name)
		}
	}
}

// TestSchemaListIndexesAscending: every index is ascending (migration
// …0500_list_indexes_ascending says why: rows arrive in time order, and a
// descending index settles at half full), and every list index — one whose key
// ends in (created_at, id) — serves a newest-first page, cursor included, as a
// backward index scan with no sort.
func TestSchemaListIndexesAscending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	var rows []struct {
		Index     string   `bun:"index_name"`
		Table     string   `bun:"table_name"`
		Columns   []string `bun:"columns,array"`
		Desc      bool     `bun:"has_desc"`
		Predicate string   `bun:"predicate"`
		IDType    string   `bun:"id_type"`
	}
	err := db.NewRaw(`
		SELECT ic.relname AS index_name, c.relname AS table_name,
		       array(SELECT coalesce(a.attname, '') FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
		       EXISTS (SELECT 1 FROM unnest(i.indoption) o WHERE o & 1 = 1) AS has_desc,
		       coalesce(pg_get_expr(i.indpred, i.indrelid), '') AS predicate,
		       coalesce((SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		                 WHERE a.attrelid = i.indrelid AND a.attname = 'id'), '') AS id_type
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_class c ON c.oid = i.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_am am ON am.oid = ic.relam
		WHERE n.nspname = current_schema() AND am.amname = 'btree'
		ORDER BY 1`).Scan(ctx, &rows)
	if err != nil {
		t.Fatal(err)
	}
	lists := 0
	for _, r := range rows {
		if r.Desc {
			t.Errorf("index %s on %s has a descending column: make it ascending (a backward scan reads it newest first)", r.Index, r.Table)
		}
		n := len(r.Columns)
		if n < 3 || r.Columns[n-2] != "created_at" || r.Columns[n-1] != "id" {
			continue
		}
		lists++
		where := []string{}
		for _, col := range r.Columns[:n-2] {
			where = append(where, col+" = 'x'")
		}
		if r.Predicate != "" {
			where = append(where, r.Predicate)
		}
		query := fmt.Sprintf(`SELECT * FROM %s WHERE %s AND (created_at, id) < (now(), '1'::%s)
			ORDER BY created_at DESC, id DESC LIMIT 21`, r.Table, strings.Join(where, " AND "), r.IDType)
		nodes := explainScans(t, query)
		if !slices.Contains(nodes, "Index Scan Backward on "+r.Index) || slices.ContainsFunc(nodes, func(n string) bool {
			return strings.HasPrefix(n, "Sort") || strings.HasPrefix(n, "Incremental Sort")
		}) {
			t.Errorf("list index %s: a newest-first page is not a backward scan of it without a sort; plan %v\n%s", r.Index, nodes, query)
		}
	}
	if lists < 10 {
		t.Errorf("found %d list indexes (key ending in created_at, id); expected the API's lists (at least 10)", lists)
	}
}

// explainScans returns every node of query's plan as planNodes does, with
// sequential and bitmap scans and sorts disabled: with a few test rows, reading
// them any way and sorting is the cheap choice (wallets, with 44 rows, went to
// its unique index and a sort); what is checked is that the list index can serve
// the order, so a plan without a sort must win whenever one exists.
func explainScans(tb testing.TB, query string) []string {
	tb.Helper()
	return explainIn(tb, "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; "+
		"SET LOCAL enable_sort = off; SET LOCAL enable_incremental_sort = off", "", query)
}
