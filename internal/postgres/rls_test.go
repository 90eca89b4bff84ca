package postgres_test

// Row-level security (issue 9, DESIGN.md §4). Goal: a query that forgets its
// business_id filter still sees and changes only one tenant. Method: with rows of
// two businesses in every ledger table, a transaction acting as business A
// (Tx.ActAs: SET LOCAL app.business_id and role tally_app) reads every tenant table
// without any filter and finds only A's rows; an insert of B's row is refused; a
// store method asked for B's customer finds nothing; and with no business set the
// role sees no rows at all (fail closed). The catalog check makes every tenant
// table carry RLS and the tenant_isolation policy, so a new table cannot skip it.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// rlsReady skips when the migration could not set RLS up (the database role may
// not create roles); the migration said so in a notice.
func rlsReady(t *testing.T, db *bun.DB) {
	t.Helper()
	var ok bool
	if err := db.NewRaw(`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ?) AND pg_has_role(?, 'MEMBER')`,
		postgres.AppRole, postgres.AppRole).Scan(context.Background(), &ok); err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skipf("role %s is not set up in this cluster (the migrating role may not create roles); RLS is off", postgres.AppRole)
	}
}

func tenantTables(t *testing.T, db *bun.DB) []string {
	t.Helper()
	var tables []string
	if err := db.NewRaw(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
		  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'business_id' AND NOT a.attisdropped)
		ORDER BY 1`).Scan(context.Background(), &tables); err != nil {
		t.Fatal(err)
	}
	return tables
}

func TestRLSOnEveryTenantTable(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	rlsReady(t, db)
	for _, table := range tenantTables(t, db) {
		var enabled, policy bool
		if err := db.NewRaw(`SELECT c.relrowsecurity, EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = current_schema()
				AND p.tablename = c.relname AND p.policyname = 'tenant_isolation' AND ? = ANY (p.roles))
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = ?`,
			postgres.AppRole, table).Scan(context.Background(), &enabled, &policy); err != nil {
			t.Fatal(err)
		}
		if !enabled || !policy {
			t.Errorf("tenant table %s: row level security %v, policy tenant_isolation for %s %v; add to its migration:\n"+
				"  ALTER TABLE %s ENABLE ROW LEVEL SECURITY;\n  CREATE POLICY tenant_isolation ON %s TO tally_app "+
				"USING (business_id = current_setting('app.business_id', true)) WITH CHECK (business_id = current_setting('app.business_id', true));",
				table, enabled, postgres.AppRole, policy, table, table)
		}
	}
}

func TestRLSQueryWithoutFilterSeesOneTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	rlsReady(t, db)
	store := pgtest.Store(t)
	a, _ := pgtest.Business(t, ledger.ModeLive)
	b, _ := pgtest.Business(t, ledger.ModeLive)
	custB := ledger.NewID(ledger.PrefixCustomer)
	if _, err := db.NewRaw(`INSERT INTO customers (business_id, id, type, status, kyc_status, email, first_name, last_name, created_at, updated_at)
		VALUES (?, ?, 'individual', 'active', 'unverified', 'rls@example.com', 'R', 'LS', now(), now())`, b.ID, custB).Exec(ctx); err != nil {
		t.Fatalf("seed B's customer: %v", err)
	}
	for _, biz := range []string{a.ID, b.ID} {
		pgtest.Fund(t, biz, biz, "USD", "10")
	}

	// A raw transaction as A, with no business_id filter anywhere.
	asTenant := func(business string, fn func(tx bun.Tx) error) error {
		return db.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
			if business != "" {
				if _, err := tx.ExecContext(ctx, `SELECT set_config('app.business_id', ?, true)`, business); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `SELECT set_config('role', ?, true)`, postgres.AppRole); err != nil {
				return err
			}
			return fn(tx)
		})
	}
	for _, table := range tenantTables(t, db) {
		var foreign, own int
		err := asTenant(a.ID, func(tx bun.Tx) error {
			return tx.NewRaw(fmt.Sprintf(`SELECT count(*) FILTER (WHERE business_id <> ?), count(*) FILTER (WHERE business_id = ?) FROM %q`, table),
				a.ID, a.ID).Scan(ctx, &foreign, &own)
		})
		if err != nil {
			t.Fatalf("%s as tally_app: %v", table, err)
		}
		if foreign != 0 {
			t.Errorf("%s: a query without a business filter, acting as A, saw %d rows of other businesses", table, foreign)
		}
		var any int
		if err := asTenant("", func(tx bun.Tx) error {
			return tx.NewRaw(fmt.Sprintf(`SELECT count(*) FROM %q`, table)).Scan(ctx, &any)
		}); err != nil {
			t.Fatalf("%s with no business set: %v", table, err)
		}
		if any != 0 {
			t.Errorf("%s: with no business set, tally_app saw %d rows; the policy must fail closed", table, any)
		}
	}
	var seen []string
	if err := asTenant(a.ID, func(tx bun.Tx) error {
		return tx.NewRaw(`SELECT DISTINCT business_id FROM ledger_lines`).Scan(ctx, &seen)
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != a.ID {
		t.Fatalf("ledger_lines as A: businesses %v, want only %s (A was funded, so it has lines)", seen, a.ID)
	}

	// Writing another tenant's row is refused by the policy's WITH CHECK.
	err := asTenant(a.ID, func(tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE customers SET note = 'pwned' WHERE id = ?`, custB)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idempotency_keys (business_id, key, request_hash, status_code, response, created_at)
			VALUES (?, 'rls', '\x00', 200, '{}', now())`, b.ID)
		return err
	})
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != "42501" {
		t.Fatalf("insert of B's row acting as A: %v, want SQLSTATE 42501 (row-level security)", err)
	}
	var note sql.NullString
	if err := db.NewRaw(`SELECT note FROM customers WHERE business_id = ? AND id = ?`, b.ID, custB).Scan(ctx, &note); err != nil {
		t.Fatal(err)
	}
	if note.String == "pwned" {
		t.Fatal("acting as A changed B's customer")
	}

	// The store's own path: ActAs(A), then a correctly filtered lookup of B's
	// customer still finds nothing, because the role cannot see it.
	err = store.InTx(ctx, func(ctx context.Context, tx *postgres.Tx) error {
		if err := tx.ActAs(ctx, a.ID); err != nil {
			return err
		}
		_, err := tx.FindCustomer(ctx, b.ID, custB, false)
		return err
	})
	if ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("FindCustomer(B) acting as A: %v, want not_found", err)
	}
	if err := store.InTx(ctx, func(ctx context.Context, tx *postgres.Tx) error {
		if err := tx.ActAs(ctx, b.ID); err != nil {
			return err
		}
		_, err := tx.FindCustomer(ctx, b.ID, custB, false)
		return err
	}); err != nil {
		t.Fatalf("FindCustomer(B) acting as B: %v", err)
	}
}

// TestRLSConfinedReadsSwitchBusinesses: on one pooled AppRole connection, reads
// confined to alternating businesses (Store.AsBusiness remembers the session's
// business per connection and skips setting it again) each see exactly their own
// business, also after a write transaction (InTxAs, transaction-local) on it.
func TestRLSConfinedReadsSwitchBusinesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	rlsReady(t, db)
	app, err := postgres.OpenApp(ctx, db, pgtest.URL(t), postgres.Options{PoolSize: 1})
	if err != nil || app == nil {
		t.Fatalf("OpenApp: %v, %v", app, err)
	}
	defer app.Close()
	st := postgres.New(db).WithApp(app)
	a, _ := pgtest.Business(t, ledger.ModeSandbox)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	pgtest.Fund(t, a.ID, a.ID, "USD", "1")
	pgtest.Fund(t, b.ID, b.ID, "USD", "1")
	for i, biz := range []string{a.ID, a.ID, b.ID, "write:" + a.ID, b.ID, b.ID, a.ID, "write:" + b.ID, a.ID} {
		if w, ok := strings.CutPrefix(biz, "write:"); ok {
			if err := st.InTxAs(ctx, w, func(ctx context.Context, tx *postgres.Tx) error { return nil }); err != nil {
				t.Fatal(err)
			}
			continue
		}
		err := st.AsBusiness(ctx, biz, func(c *postgres.Store) error {
			var setting, lo, hi string
			if err := c.Queries().QueryRowContext(ctx, `SELECT current_setting('app.business_id'), min(business_id), max(business_id)
				FROM ledger_balances`).Scan(&setting, &lo, &hi); err != nil {
				return err
			}
			if setting != biz || lo != biz || hi != biz {
				t.Errorf("read %d as %s: app.business_id %s, rows of %s … %s", i, biz, setting, lo, hi)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
