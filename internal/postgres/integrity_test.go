package postgres_test

// What migration 20261207000200 moved from constraints to construction: the
// append-only tables have no foreign key to businesses, and ledger lines are
// keyed by (entry, posting, side) rather than their id. These tests check what
// stands in for the constraints: businesses cannot be deleted, and `tally verify`
// names an orphan row or a duplicate line id.

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

func TestBusinessesAreNeverDeleted(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t).DB
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	// (TRUNCATE has a trigger of its own too; it is not tried here, as its
	// ACCESS EXCLUSIVE locks would stall the other tests of the shared database.)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(`DELETE FROM businesses WHERE id = $1`, b.ID)
	_ = tx.Rollback()
	if err == nil || !strings.Contains(err.Error(), "businesses are never deleted") {
		t.Errorf("DELETE: err = %v, want the businesses_permanent refusal", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM businesses WHERE id = $1`, b.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("business rows after the refused deletes = %d (%v), want 1", n, err)
	}
}

// inTestTx runs fn in a transaction that is always rolled back, so the rows it
// writes never reach the shared test database.
func inTestTx(t *testing.T, fn func(tx *sql.Tx)) {
	t.Helper()
	tx, err := pgtest.DB(t).DB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	fn(tx)
}

// violationsOf runs the invariant check named name in tx, for business ("" for all).
func violationsOf(t *testing.T, tx *sql.Tx, name, business string) []string {
	t.Helper()
	q := postgres.VerifyCheckSQL(name)
	if q == "" {
		t.Fatalf("no invariant check named %q", name)
	}
	return column(t, tx, q, business)
}

// column runs query on q and returns its rows' one text column.
func column(t *testing.T, q interface {
	Query(string, ...any) (*sql.Rows, error)
}, query string, args ...any) []string {
	t.Helper()
	rows, err := q.Query(query, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyNamesRowsOfNoBusiness(t *testing.T) {
	t.Parallel()
	const check = "8 every ledger, transfer, payout, event, audit and idempotency row belongs to a business"
	at := time.Now().UTC()
	ghost := ledger.NewID(ledger.PrefixBusiness) // never created
	cus := ledger.NewID(ledger.PrefixCustomer)
	entry := ledger.NewID(ledger.PrefixEntry)
	inserts := map[string]struct {
		sql  string
		args []any
	}{
		"ledger_entries": {`INSERT INTO ledger_entries (business_id, id, kind, phase, created_at) VALUES ($1, $2, 'transfer', 'posted', $3)`,
			[]any{ghost, entry, at}},
		"ledger_lines": {`INSERT INTO ledger_lines (business_id, id, entry_id, posting, owner_id, purpose, currency, shard, type, direction,
				phase, amount, visible, created_at) VALUES ($1, $2, $3, 0, $4, 'main', 'USD', 0, 'transfer', 'debit', 'posted', 1, true, $5)`,
			[]any{ghost, ledger.NewID(ledger.PrefixLine), entry, cus, at}},
		"ledger_holds": {`INSERT INTO ledger_holds (business_id, entry_id) VALUES ($1, $2)`, []any{ghost, entry}},
		"transfers": {`INSERT INTO transfers (business_id, id, from_profile_id, to_profile_id, currency, amount, entry_id, created_at)
				VALUES ($1, $2, $3, $3, 'USD', 1, $4, $5)`, []any{ghost, ledger.NewID(ledger.PrefixTransfer), cus, entry, at}},
		"payouts": {`INSERT INTO payouts (business_id, id, profile_id, status, currency, network, amount, fee, address, hold_id,
				created_at, updated_at) VALUES ($1, $2, $3, 'pending', 'USD', 'bank', 1, 0, 'x', $4, $5, $5)`,
			[]any{ghost, ledger.NewID(ledger.PrefixPayout), cus, entry, at}},
		"events": {`INSERT INTO events (business_id, id, type, profile_id, data) VALUES ($1, $2, 'transfer.completed', $3, '{}')`,
			[]any{ghost, ledger.NewID(ledger.PrefixEvent), cus}},
		"audit_log": {`INSERT INTO audit_log (business_id, customer_id, request_id, method, path, key_id, status_code)
				VALUES ($1, $2, 'req', 'POST', '/v1/transfers', 'key', 201)`, []any{ghost, cus}},
		"idempotency_keys": {`INSERT INTO idempotency_keys (business_id, key, request_hash, status_code, response)
				VALUES ($1, 'k', '\x00', 201, '\x00')`, []any{ghost}},
	}
	for table, ins := range inserts {
		t.Run(table, func(t *testing.T) {
			inTestTx(t, func(tx *sql.Tx) {
				if got := violationsOf(t, tx, check, ghost); len(got) != 0 {
					t.Fatalf("before the insert: %v", got)
				}
				if _, err := tx.Exec(ins.sql, ins.args...); err != nil {
					t.Fatalf("orphan insert: %v", err)
				}
				got := violationsOf(t, tx, check, ghost)
				want := table + ": business " + ghost + " does not exist"
				if len(got) != 1 || got[0] != want {
					t.Fatalf("violations = %q, want [%q]", got, want)
				}
			})
		})
	}
}

func TestVerifyNamesDuplicateLineIDs(t *testing.T) {
	t.Parallel()
	const check = "7 every line id is unique"
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	cus := ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, cus, "USD", "10")
	inTestTx(t, func(tx *sql.Tx) {
		if got := violationsOf(t, tx, check, b.ID); len(got) != 0 {
			t.Fatalf("funded business: %v", got)
		}
		// A copy of one of the funding entry's lines under another entry, same line id.
		var id string
		if err := tx.QueryRow(`SELECT id FROM ledger_lines WHERE business_id = $1 LIMIT 1`, b.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO ledger_lines SELECT (jsonb_populate_record(NULL::ledger_lines,
				to_jsonb(l) || jsonb_build_object('entry_id', $3::text))).*
			FROM ledger_lines l WHERE business_id = $1 AND id = $2`, b.ID, id, ledger.NewID(ledger.PrefixEntry)); err != nil {
			t.Fatal(err)
		}
		got := violationsOf(t, tx, check, b.ID)
		if want := b.ID + " line " + id + ": 2 lines"; len(got) != 1 || got[0] != want {
			t.Fatalf("violations = %q, want [%q]", got, want)
		}
	})
}

// TestLineKeyIsEntryPostingSide: the primary key now refuses a second line for
// the same side of the same posting, whatever its id.
func TestLineKeyIsEntryPostingSide(t *testing.T) {
	t.Parallel()
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	cus := ledger.NewID(ledger.PrefixCustomer)
	pgtest.Fund(t, b.ID, cus, "USD", "10")
	inTestTx(t, func(tx *sql.Tx) {
		var id string
		if err := tx.QueryRow(`SELECT id FROM ledger_lines WHERE business_id = $1 LIMIT 1`, b.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		_, err := tx.ExecContext(context.Background(), `INSERT INTO ledger_lines SELECT (jsonb_populate_record(NULL::ledger_lines,
				to_jsonb(l) || jsonb_build_object('id', $3::text))).*
			FROM ledger_lines l WHERE business_id = $1 AND id = $2`, b.ID, id, ledger.NewID(ledger.PrefixLine))
		if err == nil || !strings.Contains(err.Error(), "ledger_lines_pkey") {
			t.Fatalf("second line for the same entry, posting and side: err = %v, want a ledger_lines_pkey violation", err)
		}
	})
}

// TestWebhookFanOut: one statement writing several businesses' events queues one
// delivery per event and live endpoint of its business that takes its type (an
// endpoint with no types takes every type); a deleted endpoint and another
// business's endpoints get none (migration 20261207000700 reads the endpoints
// once per statement).
func TestWebhookFanOut(t *testing.T) {
	t.Parallel()
	a, _ := pgtest.Business(t, ledger.ModeSandbox)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	c, _ := pgtest.Business(t, ledger.ModeSandbox) // no endpoints
	inTestTx(t, func(tx *sql.Tx) {
		for _, e := range []struct {
			business, id, events string
			deleted              bool
		}{
			{a.ID, "WHK_all", "{}", false},
			{a.ID, "WHK_transfers", "{transfer.completed}", false},
			{a.ID, "WHK_gone", "{}", true},
			{b.ID, "WHK_b", "{customer.created,transfer.completed}", false},
		} {
			if _, err := tx.Exec(`INSERT INTO webhook_endpoints (business_id, id, url, events, secret, deleted_at)
				VALUES ($1, $2, 'https://example.com/hook', $3::text[], '\x00', CASE WHEN $4 THEN now() END)`,
				e.business, e.id, e.events, e.deleted); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.Exec(`INSERT INTO events (business_id, id, type, profile_id, data) VALUES
			($1, 'EVT_a1', 'customer.created', $1, '{}'), ($1, 'EVT_a2', 'transfer.completed', $1, '{}'),
			($2, 'EVT_b1', 'transfer.completed', $2, '{}'), ($2, 'EVT_b2', 'payout.pending', $2, '{}'),
			($3, 'EVT_c1', 'transfer.completed', $3, '{}')`, a.ID, b.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		got := column(t, tx, `SELECT event_id || '>' || endpoint_id FROM webhook_deliveries
			WHERE business_id IN ($1, $2, $3) ORDER BY 1`, a.ID, b.ID, c.ID)
		want := []string{"EVT_a1>WHK_all", "EVT_a2>WHK_all", "EVT_a2>WHK_transfers", "EVT_b1>WHK_b"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("deliveries = %v, want %v", got, want)
		}
	})
}
