// Package pgtest gives tests a real, migrated PostgreSQL database: DATABASE_URL
// when set, else the embedded cluster under .data/postgres (database tally_test).
// Tests never truncate; each creates its own business, so they run in parallel.
package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/internal/devdb"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

var (
	once   sync.Once
	url    string
	db     *bun.DB
	appDB  *bun.DB // sessions of postgres.AppRole; nil where the role is not set up
	setErr error
)

// URL returns the test database URL, starting the embedded cluster if needed.
func URL(tb testing.TB) string {
	tb.Helper()
	setup()
	if setErr != nil {
		tb.Fatalf("test database: %v", setErr)
	}
	return url
}

// DB returns the shared, migrated pool.
func DB(tb testing.TB) *bun.DB {
	tb.Helper()
	URL(tb)
	return db
}

// Store returns a Store on the shared pools, as the server builds it.
func Store(tb testing.TB) *postgres.Store { return postgres.New(DB(tb)).WithApp(appDB) }

func setup() {
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		url = os.Getenv("DATABASE_URL")
		if url == "" {
			url, setErr = startEmbedded()
			if setErr != nil {
				return
			}
		}
		// 40 connections per test process in all (two packages run at once, and a
		// server's default max_connections is 100): 16 for the login role's pool,
		// 24 for the application pool.
		db, setErr = postgres.Open(ctx, url, postgres.Options{PoolSize: 16, StatementTimeout: 30 * time.Second})
		if setErr != nil {
			return
		}
		if _, setErr = postgres.Migrate(ctx, db); setErr != nil {
			return
		}
		appDB, setErr = postgres.OpenApp(ctx, db, url, postgres.Options{PoolSize: 24, StatementTimeout: 30 * time.Second})
	})
}

// startEmbedded starts the cluster under a file lock, since `go test ./...` runs
// one process per package.
func startEmbedded() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	c, err := devdb.Find(root)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(root, ".data"), 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(root, ".data", "devdb.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck
	return c.Start("tally_test")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return dir, nil
		}
	}
}

// Business creates a fresh business with a full-access key and returns both.
func Business(tb testing.TB, mode ledger.Mode) (ledger.Business, string) {
	tb.Helper()
	b, secret, err := Store(tb).CreateBusiness(context.Background(), "Test "+tb.Name(), mode)
	if err != nil {
		tb.Fatalf("create business: %v", err)
	}
	return b, secret
}

// Fund credits amount of currency to profile's main account of business, as an
// adjustment against the business's bank settlement account (tests only).
func Fund(tb testing.TB, business, profile, currency, amount string) {
	tb.Helper()
	amt, err := ledger.ParseDecimal(amount)
	if err != nil {
		tb.Fatalf("fund: %v", err)
	}
	err = Store(tb).InTx(context.Background(), func(ctx context.Context, tx *postgres.Tx) error {
		_, err := tx.Record(ctx, ledger.Entry{
			ID: ledger.NewID(ledger.PrefixEntry), Business: business, Kind: "adjustment", Phase: ledger.PhasePosted,
			Description: "test funding",
			Postings: []ledger.Posting{{
				Debit:  ledger.Account{Owner: business, Purpose: ledger.SettlementPurpose("test"), Currency: currency},
				Credit: ledger.Account{Owner: profile, Purpose: ledger.PurposeMain, Currency: currency},
				Amount: amt, Type: ledger.LineAdjustment,
			}},
		})
		return err
	})
	if err != nil {
		tb.Fatalf("fund %s %s %s: %v", profile, amount, currency, err)
	}
}
