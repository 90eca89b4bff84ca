package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pipelining: statements that do not need each other's results go to PostgreSQL
// together, in one round trip, with pgx's batch (the extended protocol's
// pipeline: every statement, one Sync) on the transaction's own connection,
// instead of one round trip each. Each round trip is a wait on the other side:
// PostgreSQL idles "in transaction" holding the batch's row locks while the
// server's goroutine is scheduled, and the next batch waits for those locks.
// Writes: a transaction that only writes after a point (the API's combiner: once
// RecordMany has decided, the rest is the ledger write, transfer and payout rows,
// events, audit entries and idempotency records) queues them for flush. Reads:
// readAll runs independent queries together (the combiner's idempotency claims
// and customer share locks, ClaimAndShareLock).

// queuedWrite is one statement held for flush. rows, when set, receives the
// single integer its one row returns (a count to check); otherwise it is
// executed for its effect.
type queuedWrite struct {
	sql  string
	args []any
	what string            // for errors: what failed to be written
	rows func(int64) error // checks the statement's one integer; nil: none returned
}

// PipelineWrites makes the transaction's later ledger writes (RecordMany's
// write statement), transfer rows and payout rows wait for flush, which sends
// them with the events, audit entries and idempotency records in one round trip,
// in the order they were made. The caller must not read what they write before
// commit (its reads would not see them). Without a connection of its own (InTx)
// writes run at once.
func (t *Tx) PipelineWrites() { t.pipeline = t.conn != nil }

// write runs w now, or queues it when the transaction pipelines its writes.
func (t *Tx) write(ctx context.Context, w queuedWrite) error {
	if t.pipeline {
		t.queued = append(t.queued, w)
		return nil
	}
	return t.runWrite(ctx, w)
}

// runWrite runs one write on the transaction.
func (t *Tx) runWrite(ctx context.Context, w queuedWrite) error {
	if w.rows == nil {
		_, err := t.tx.Tx.ExecContext(ctx, w.sql, w.args...)
		return writeError(w, err)
	}
	var n int64
	if err := t.tx.Tx.QueryRowContext(ctx, w.sql, w.args...).Scan(&n); err != nil {
		return writeError(w, err)
	}
	return w.rows(n)
}

func writeError(w queuedWrite, err error) error {
	if err == nil {
		return nil
	}
	if w.what == "" {
		return translate(err)
	}
	return fmt.Errorf("%s: %w", w.what, translate(err))
}

// sendQueued sends the queued writes: one alone as a plain statement, more in
// one pipelined round trip on the transaction's connection. The first failure
// is returned (PostgreSQL skips the statements after it; the transaction is then
// aborted and rolls back).
func (t *Tx) sendQueued(ctx context.Context) error {
	q := t.queued
	t.queued = nil
	if len(q) == 0 {
		return nil
	}
	if len(q) == 1 || t.conn == nil {
		for _, w := range q {
			if err := t.runWrite(ctx, w); err != nil {
				return err
			}
		}
		return nil
	}
	return t.pipelined(ctx, func(b *pgx.Batch) {
		for _, w := range q {
			b.Queue(w.sql, w.args...)
		}
	}, func(br pgx.BatchResults) error {
		for _, w := range q {
			if w.rows == nil {
				if _, err := br.Exec(); err != nil {
					return writeError(w, err)
				}
				continue
			}
			var n int64
			if err := br.QueryRow().Scan(&n); err != nil {
				return writeError(w, err)
			}
			if err := w.rows(n); err != nil {
				return err
			}
		}
		return nil
	})
}

// pipelined sends the statements queue adds in one round trip (pgx's batch: the
// extended protocol's pipeline, one Sync) on the transaction's connection and
// gives the results, in order, to read. Raw holds the connection's lock for the
// callback; the open sql.Tx takes it only while one of its own calls runs, so
// none can interleave. After read, Close reads what is left of the pipeline (the
// results PostgreSQL skipped after a failure): the connection is then ready for
// the rollback.
func (t *Tx) pipelined(ctx context.Context, queue func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	var rerr error
	err := t.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("postgres: pipelining needs pgx's database/sql driver")
		}
		b := &pgx.Batch{}
		queue(b)
		br := c.Conn().SendBatch(ctx, b)
		rerr = read(br)
		if err := br.Close(); err != nil && rerr == nil {
			rerr = translate(err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, sql.ErrConnDone) {
			return &unavailableError{err}
		}
		return err
	}
	return rerr
}

// queuedRead is a query and what reads its rows.
type queuedRead struct {
	sql  string
	args []any
	read func(rows rowScanner) error
}

// rowScanner is what *sql.Rows and pgx.Rows share.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// readAll runs reads in order: in one pipelined round trip on the transaction's
// connection (InTxAs), else one round trip each. Each statement still runs on
// its own snapshot, after the one before it. A failure is returned as is (the
// transaction is then aborted).
func (t *Tx) readAll(ctx context.Context, reads ...queuedRead) error {
	if len(reads) == 1 || t.conn == nil {
		for _, r := range reads {
			rows, err := t.tx.Tx.QueryContext(ctx, r.sql, r.args...)
			if err := r.consume(rows, func() { rows.Close() }, err); err != nil {
				return err
			}
		}
		return nil
	}
	return t.pipelined(ctx, func(b *pgx.Batch) {
		for _, r := range reads {
			b.Queue(r.sql, r.args...)
		}
	}, func(br pgx.BatchResults) error {
		for _, r := range reads {
			rows, err := br.Query()
			if err := r.consume(rows, func() { rows.Close() }, err); err != nil {
				return err
			}
		}
		return nil
	})
}

// consume gives r's reader the rows of its query (which returned err), then
// closes them.
func (r queuedRead) consume(rows rowScanner, closeRows func(), err error) error {
	if err == nil {
		err = r.read(rows)
		closeRows()
		if err == nil {
			err = rows.Err()
		}
	}
	return translate(err)
}
