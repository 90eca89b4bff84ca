// Package postgres is Tally's storage: bun rows, SQL, transactions and the
// translation of driver errors into ledger codes. Every query is scoped by the
// business resolved from the credential.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/migrate"

	"github.com/tallyhq/tally/ledger"
	"github.com/tallyhq/tally/migrations"
)

// retryCountMax bounds the retries of a transaction that lost a deadlock or a
// serialization conflict.
const retryCountMax = 3

// statementCacheCapacity bounds pgx's per-connection cache of prepared statements
// (pgx's default is 512). bun writes every value into the SQL text, so each bun
// query is a statement pgx has never seen: a large cache only keeps hundreds of
// never-reused statements (and their SQL, event payloads included) alive per
// connection. At 32 connections that was ~100 MB of the server's RSS in the load
// benchmark (bench/results), with no throughput gained over 32 entries. A
// statement_cache_capacity in DATABASE_URL still wins.
const statementCacheCapacity = 32

// scanOnce runs a query bun built — bun writes every value into the SQL text —
// in one round trip, and scans its rows into dst. Through database/sql, pgx would
// prepare the text first (a round trip of its own) and cache a statement that is
// never run again, evicting, and later deallocating, one that might be.
// pgx.QueryExecModeExec sends it unnamed with the extended protocol instead, which
// also keeps the one-statement-per-query rule of that protocol.
func scanOnce(ctx context.Context, raw rawDB, db *bun.DB, q *bun.SelectQuery, dst any) error {
	return scanAll(ctx, raw, db, dst, q.String(), pgx.QueryExecModeExec)
}

// scanAll runs query on raw and scans every row into dst with bun's row mapping.
func scanAll(ctx context.Context, raw rawDB, db *bun.DB, dst any, query string, args ...any) error {
	rows, err := raw.QueryContext(ctx, query, args...)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	return translate(db.ScanRows(ctx, rows, dst))
}

// Options tune the connection pool.
type Options struct {
	PoolSize         int
	StatementTimeout time.Duration
}

// Open connects to PostgreSQL through pgx's database/sql driver and wraps the pool in
// bun. It does not touch the schema; see Migrate.
func Open(ctx context.Context, url string, opt Options) (*bun.DB, error) {
	return open(ctx, url, opt, "")
}

func open(ctx context.Context, url string, opt Options, role string) (*bun.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if role != "" {
		// A startup option, so every connection of the pool is this role from
		// its first statement on: nothing runs between login and the switch.
		cfg.RuntimeParams["options"] = strings.TrimSpace(cfg.RuntimeParams["options"] + " -c role=" + role)
	}
	if opt.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = fmt.Sprint(opt.StatementTimeout.Milliseconds())
		cfg.RuntimeParams["lock_timeout"] = fmt.Sprint(opt.StatementTimeout.Milliseconds())
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(opt.StatementTimeout.Milliseconds() * 3)
	}
	if !strings.Contains(url, "statement_cache_capacity") {
		cfg.StatementCacheCapacity = statementCacheCapacity
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	sqldb := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(registerArrayCodecs))
	if opt.PoolSize > 0 {
		sqldb.SetMaxOpenConns(opt.PoolSize)
		sqldb.SetMaxIdleConns(opt.PoolSize)
	}
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, pgdialect.New())
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return db, nil
}

func newMigrator(db *bun.DB) (*migrate.Migrator, error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(migrations.FS); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return migrate.NewMigrator(db, ms), nil
}

// Migrate applies every pending migration under bun/migrate's lock, so several
// replicas starting at once apply each file once. It returns the names applied.
func Migrate(ctx context.Context, db *bun.DB) ([]string, error) {
	m, err := newMigrator(db)
	if err != nil {
		return nil, err
	}
	// Two processes may race to create bun's own tables; the loser retries.
	for attempt := 0; ; attempt++ {
		err = m.Init(ctx)
		if err == nil || attempt >= retryCountMax {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("init migrations: %w", err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		if err = m.Lock(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock migrations: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer m.Unlock(context.WithoutCancel(ctx)) //nolint:errcheck // best effort; the lock row is ours
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply migrations: %w", err)
	}
	var names []string
	for _, mg := range group.Migrations {
		names = append(names, mg.Name)
	}
	return names, nil
}

// Rollback undoes the last applied group of migrations (for the up → down → up test).
func Rollback(ctx context.Context, db *bun.DB) error {
	m, err := newMigrator(db)
	if err != nil {
		return err
	}
	if err := m.Lock(ctx); err != nil {
		return err
	}
	defer m.Unlock(context.WithoutCancel(ctx)) //nolint:errcheck
	_, err = m.Rollback(ctx)
	return err
}

// MigrationFiles lists the embedded migration files (for documentation and tests).
func MigrationFiles() ([]string, error) {
	return fs.Glob(migrations.FS, "*.up.sql")
}

// txRunner is *bun.DB or bun.Conn.
type txRunner interface {
	RunInTx(ctx context.Context, opts *sql.TxOptions, fn func(ctx context.Context, tx bun.Tx) error) error
}

// inTx runs fn in one READ COMMITTED transaction, retrying a bounded number of times
// when PostgreSQL aborts it for a deadlock or serialization failure.
func inTx(ctx context.Context, db txRunner, fn func(ctx context.Context, tx bun.Tx) error) error {
	var err error
	for attempt := 0; attempt <= retryCountMax; attempt++ {
		err = db.RunInTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, fn)
		if !retryable(err) {
			return translate(err)
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return translate(err)
}

func retryable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40001" || pg.Code == "40P01")
}

// translate turns driver errors into ledger codes by SQLSTATE and constraint name,
// never by message text. Errors that already carry a code pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var le *ledger.Error
	if errors.As(err, &le) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Errorf(ledger.CodeNotFound, "not found")
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "57014" || pg.Code == "55P03": // query_canceled, lock_not_available
			return &unavailableError{err}
		case strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P03":
			return &unavailableError{err}
		}
		return err
	}
	if isConnError(err) {
		return &unavailableError{err}
	}
	return err
}

// unavailableError marks a failure of the database itself (down, timed out): the
// API answers 503 and the client may retry.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "database unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Unavailable reports whether err means the database could not be reached in time.
func Unavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u) || isConnError(err)
}

func isConnError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now; 57014: canceled.
		return strings.HasPrefix(pg.Code, "08") || strings.HasPrefix(pg.Code, "57P0") || pg.Code == "57014"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) {
		return true
	}
	// The server went away mid-conversation: a dropped socket surfaces as EOF,
	// a reset, or database/sql's bad-connection marker.
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), "conn closed")
}

// constraint returns the violated constraint of a unique/check violation, or "".
func constraint(err error, code string) string {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == code {
		return pg.ConstraintName
	}
	return ""
}
