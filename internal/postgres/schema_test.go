package postgres_test

// The Citus-ready schema rule of DESIGN.md §5, checked against the migrated
// catalog rather than the SQL text: every tenant table (one with a business_id
// column) has business_id as the first column of its primary key, every other
// table is on an explicit allow-list with the reason it is global, and every
// unique index of a tenant table that is not led by business_id is a known
// global lookup that docs/scaling.md plans a routing table for.

import (
	"context"
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
