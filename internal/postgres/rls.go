package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
)

// AppRole is the role a business's write transaction acts as: it owns no table and
// cannot bypass row-level security, so the tenant_isolation policy of every
// tenant table (migration 20261122001100) limits it to the rows of the business in
// app.business_id.
const AppRole = "tally_app"

// ActAs confines the rest of the transaction to one business, as the second wall
// behind every query's own business_id filter (DESIGN.md §4): it sets
// app.business_id and switches to AppRole, both transaction-local (SET LOCAL), so
// nothing leaks to the next user of the pooled connection. Where the role was not
// set up (the migrating role may not create roles) only the setting is made. It
// costs one round trip. Call it first, before any query of the transaction;
// operator work (rails, workers, verify) does not call it.
func (t *Tx) ActAs(ctx context.Context, business string) error {
	// Nested CASEs fix the order: pg_has_role fails on a role that does not exist.
	_, err := t.tx.Tx.ExecContext(ctx, `SELECT set_config('app.business_id', $1, true),
		CASE WHEN current_user <> $2 AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2) THEN
			CASE WHEN pg_has_role($2, 'MEMBER') AND has_schema_privilege($2, current_schema(), 'USAGE')
				THEN set_config('role', $2, true) END END`, business, AppRole)
	return translate(err)
}

// AsBusiness runs fn with a Store whose queries are confined to one business by
// row-level security, as ActAs confines a write transaction: a connection of the
// AppRole pool (OpenApp) whose session app.business_id is this business, so a
// read that lost its business_id filter still sees only this business. Every
// business-scoped read method of Store goes through it (see readAs); the
// dashboard calls it around its own queries. On a Store already confined to
// business, fn runs on it directly. Business "" is an operator read, and a Store
// without an AppRole pool (RLS not set up, or the operator CLI) has nothing to
// confine with: both run fn on the login role's pool.
func (s *Store) AsBusiness(ctx context.Context, business string, fn func(st *Store) error) error {
	switch {
	case business == "" || s.business == business || s.app == nil:
		return fn(s)
	case s.business != "":
		return fmt.Errorf("postgres: store confined to %s asked to read as %s", s.business, business)
	}
	conn, err := s.app.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Close()
	// The setting is for the session, so the reads need no transaction: one or two
	// round trips in all. It outlives the read on the pooled connection, which is
	// harmless: only AsBusiness and InTxAs use the pool, and both set it first.
	if sessionBusiness(conn.Conn, "") != business {
		sessionBusiness(conn.Conn, "-") // unknown until the statement is known to have run
		if _, err := conn.Conn.ExecContext(ctx, `SELECT set_config('app.business_id', $1, false)`, business); err != nil {
			return translate(err)
		}
		sessionBusiness(conn.Conn, business)
	}
	return fn(&Store{db: s.db, app: s.app, q: conn, raw: conn.Conn, business: business, creds: s.creds, profiles: s.profiles, watch: s.watch})
}

// sessionBusiness remembers, in pgx's per-connection custom data, what the
// session's app.business_id was last set to, so a connection confined to a
// business for its previous read skips the statement (half the round trips of a
// read when consecutive requests on a connection are one business's). set ""
// reads; any other set records ("-": unknown). A reconnect is a new PgConn with
// empty data. Only AsBusiness sets the session value; ActAs's setting is
// transaction-local and reverts to it at the end of every transaction.
func sessionBusiness(c *sql.Conn, set string) string {
	const key = "tally.app.business_id"
	var got string
	_ = c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return nil
		}
		data := sc.Conn().PgConn().CustomData()
		if set != "" {
			data[key] = set
		}
		got, _ = data[key].(string)
		return nil
	})
	return got
}

// Queries is what a confined Store's reads run on, for callers outside this
// package with their own SQL (the dashboard) inside AsBusiness.
func (s *Store) Queries() bun.IDB { return s.q }

// readAs is AsBusiness for a read that returns one value.
func readAs[T any](ctx context.Context, s *Store, business string, fn func(st *Store) (T, error)) (T, error) {
	var v T
	err := s.AsBusiness(ctx, business, func(st *Store) error {
		var err error
		v, err = fn(st)
		return err
	})
	return v, err
}

// ReadAs runs one query of a caller outside this package (the dashboard) on a
// connection confined to business, as AsBusiness does.
func ReadAs[T any](ctx context.Context, s *Store, business string, fn func(db bun.IDB) (T, error)) (T, error) {
	return readAs(ctx, s, business, func(st *Store) (T, error) { return fn(st.q) })
}

// OpenApp opens the pool business requests run on: the same server and login as
// owner (the pool from Open), with every session switched to AppRole at connect,
// so no statement on it can bypass row-level security and no transaction pays
// for a role switch (measured: a SET LOCAL role per transaction cost about as
// much as the read itself; BenchmarkBalanceReads). It returns nil when the
// migration could not set the role up (the login may not create roles); the
// Store then runs business requests on the login role's pool, where ActAs
// switches role per transaction if it can.
func OpenApp(ctx context.Context, owner *bun.DB, url string, opt Options) (*bun.DB, error) {
	var ready bool
	err := owner.DB.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
		AND pg_has_role($1, 'MEMBER') AND has_schema_privilege($1, current_schema(), 'USAGE')`, AppRole).Scan(&ready)
	if err != nil || !ready {
		return nil, translate(err)
	}
	return open(ctx, url, opt, AppRole)
}

// WithApp makes app (from OpenApp) the pool of business reads and InTxAs.
func (s *Store) WithApp(app *bun.DB) *Store {
	if app != nil {
		s.app = app
	}
	return s
}
