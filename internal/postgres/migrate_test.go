package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
)

// TestMigrationsUpDownUp applies every migration to a scratch database, rolls
// them all back, and applies them again: down files must undo their up files.
func TestMigrationsUpDownUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := pgtest.DB(t)
	name := fmt.Sprintf("tally_migrate_%d", time.Now().UnixNano())
	if _, err := admin.DB.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.DB.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := withDatabase(pgtest.URL(t), name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, u, postgres.Options{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files, err := postgres.MigrationFiles()
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		applied, err := postgres.Migrate(ctx, db)
		if err != nil {
			t.Fatalf("round %d up: %v", round, err)
		}
		if len(applied) != len(files) {
			t.Fatalf("round %d applied %d of %d migrations", round, len(applied), len(files))
		}
		if round == 0 {
			if err := postgres.Rollback(ctx, db); err != nil {
				t.Fatalf("down: %v", err)
			}
			var tables int
			if err := db.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'
				AND tablename NOT LIKE 'bun_%'`).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Fatalf("%d tables left after rolling everything back", tables)
			}
		}
	}
}

// withDatabase returns the URL u pointing at another database.
func withDatabase(u, name string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(p.Path, "/") || p.Path == "" {
		p.Path = "/" + name
	}
	return p.String(), nil
}
