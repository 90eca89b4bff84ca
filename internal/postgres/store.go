package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/ledger"
)

// Store implements Tally's storage on one PostgreSQL database.
type Store struct {
	db  *bun.DB // the login role's pool: operator work, credential lookup, migrations
	app *bun.DB // sessions of AppRole (OpenApp), for business requests; nil: none

	// What a business-scoped read runs on: the pool, or within AsBusiness one
	// connection confined to that business (rls.go). q takes bun's queries, raw
	// plain SQL with $n parameters.
	q        bun.IDB
	raw      rawDB
	business string

	creds    *lookupCache[[32]byte, Credential]        // valid secret keys seen lately (lookupcache.go)
	profiles *lookupCache[profileKey, ledger.Customer] // customers X-BU-PROFILE-ID named lately
	watch    *profileWatch                             // WatchProfiles' state (profilewatch.go)
}

// rawDB is *sql.DB, *sql.Conn or *sql.Tx: plain SQL whose $n parameters pgx binds.
type rawDB interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// New returns a Store on db.
func New(db *bun.DB) *Store {
	return &Store{db: db, q: db, raw: db.DB, creds: newLookupCache[[32]byte, Credential](CredentialTTL),
		profiles: newLookupCache[profileKey, ledger.Customer](ProfileTTL), watch: &profileWatch{}}
}

// DB exposes the pool to the wiring in cmd and to tests.
func (s *Store) DB() *bun.DB { return s.db }

// Ping checks that the database answers within the context's deadline.
func (s *Store) Ping(ctx context.Context) error {
	return translate(s.db.PingContext(ctx))
}

// Tx is one database transaction: a handler composes the change, its outbox event,
// its audit record and its idempotency record in one Tx, so they commit together.
type Tx struct {
	tx bun.Tx
	db *bun.DB // for bun's row scanning of plain SQL results

	// The transaction's own connection (InTxAs), which pipelined writes use; nil
	// where the transaction came from the pool (InTx).
	conn *sql.Conn
	// Set by PipelineWrites: writes wait in queued for flush (pipeline.go).
	pipeline bool
	queued   []queuedWrite

	// Customers this transaction updated: forgotten by the profile cache once it
	// ends (Store.InTx, Store.InTxAs).
	touched []profileKey

	// Written by flush just before commit (see events.go).
	events []pendingEvent
	audits []pendingAudit
	idem   []pendingIdempotency
}

// InTx runs fn in one READ COMMITTED transaction with bounded retries on deadlocks
// and serialization failures; fn may run more than once and must not have effects
// outside the transaction.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	var touched []profileKey
	defer func() { s.forgetProfiles(touched) }()
	return inTx(ctx, s.db, func(ctx context.Context, btx bun.Tx) error {
		tx := &Tx{tx: btx, db: s.db}
		defer func() { touched = append(touched, tx.touched...) }()
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return tx.flush(ctx)
	})
}

// forgetProfiles drops updated customers from the profile cache, after their
// transaction ended (committed or not: forgetting too much is harmless).
func (s *Store) forgetProfiles(keys []profileKey) {
	if len(keys) > 0 {
		s.profiles.forget(keys...)
	}
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// InTxAs is InTx for a business request: the transaction runs on the AppRole
// pool and starts with ActAs, so row-level security confines every statement of
// it, triggers included, to business.
func (s *Store) InTxAs(ctx context.Context, business string, fn func(ctx context.Context, tx *Tx) error) error {
	pool := s.app
	if pool == nil {
		pool = s.db
	}
	// A connection of its own, so that the transaction can pipeline (pipeline.go).
	conn, err := pool.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Close()
	var touched []profileKey
	defer func() { s.forgetProfiles(touched) }()
	return inTx(ctx, conn, func(ctx context.Context, btx bun.Tx) error {
		tx := &Tx{tx: btx, db: s.db, conn: conn.Conn}
		defer func() { touched = append(touched, tx.touched...) }()
		if err := tx.ActAs(ctx, business); err != nil {
			return err
		}
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return tx.flush(ctx)
	})
}

// Savepoint runs fn inside a savepoint: when fn fails, only its own changes roll
// back and the transaction stays usable. It returns whether fn committed.
func (t *Tx) Savepoint(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	if _, err := t.tx.Tx.ExecContext(ctx, "SAVEPOINT item"); err != nil {
		return false, translate(err)
	}
	if err := fn(ctx); err != nil {
		if _, rerr := t.tx.Tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT item"); rerr != nil {
			return false, translate(rerr)
		}
		return false, err
	}
	_, err := t.tx.Tx.ExecContext(ctx, "RELEASE SAVEPOINT item")
	return err == nil, translate(err)
}
