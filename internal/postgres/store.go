package postgres

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Store implements Tally's storage on one PostgreSQL database.
type Store struct {
	db *bun.DB
}

// New returns a Store on db.
func New(db *bun.DB) *Store { return &Store{db: db} }

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
}

// InTx runs fn in one READ COMMITTED transaction with bounded retries on deadlocks
// and serialization failures; fn may run more than once and must not have effects
// outside the transaction.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return inTx(ctx, s.db, func(ctx context.Context, btx bun.Tx) error {
		return fn(ctx, &Tx{tx: btx})
	})
}

// Event writes one outbox event (see insertEvent).
func (t *Tx) Event(ctx context.Context, business, typ, profile string, data any) error {
	_, err := insertEvent(ctx, t.tx, business, typ, profile, data)
	return err
}

// Audit records a mutating request against one customer.
func (t *Tx) Audit(ctx context.Context, business, customer string, a Audit) error {
	return insertAudit(ctx, t.tx, business, customer, a)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

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
