package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// watch starts st.WatchProfiles and waits until it listens; the test's end stops it.
func watch(t *testing.T, st *postgres.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.WatchProfiles(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if st.ProfileWatchPID() != 0 || st.ProfileCacheTTL() != postgres.ProfileTTL {
			t.Errorf("after WatchProfiles returned: pid %d, ttl %s; want 0, %s", st.ProfileWatchPID(), st.ProfileCacheTTL(), postgres.ProfileTTL)
		}
	})
	waitFor(t, "the listener", func() bool { return st.ProfileWatchPID() != 0 })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func profileCustomer(t *testing.T, st *postgres.Store, business string) ledger.Customer {
	t.Helper()
	email := "watch@example.com"
	c, err := ledger.NewCustomer(business, ledger.CustomerPatch{Type: ptr("individual"), Email: &email, FirstName: ptr("W"), LastName: ptr("L")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InTxAs(context.Background(), business, func(ctx context.Context, tx *postgres.Tx) error { return tx.CreateCustomer(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	return c
}

// While the listener runs, a profile stays cached past ProfileTTL, and a change
// committed by another process (here: another pool, no cache) is forgotten as
// soon as its notification arrives, long before ProfileTTLWatched.
func TestWatchProfilesForgetsChangesMadeElsewhere(t *testing.T) {
	ctx := context.Background()
	st := pgtest.Store(t)
	if st.ProfileCacheTTL() != postgres.ProfileTTL {
		t.Fatalf("before the listener: ttl %s, want %s", st.ProfileCacheTTL(), postgres.ProfileTTL)
	}
	watch(t, st)
	if st.ProfileCacheTTL() != postgres.ProfileTTLWatched {
		t.Fatalf("listening: ttl %s, want %s", st.ProfileCacheTTL(), postgres.ProfileTTLWatched)
	}
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	c := profileCustomer(t, st, b.ID)
	other := profileCustomer(t, st, b.ID)
	for _, id := range []string{c.ID, other.ID} {
		if _, err := st.ProfileCustomer(ctx, b.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(postgres.ProfileTTL + 200*time.Millisecond)
	if _, ok := st.CachedProfileCustomer(b.ID, c.ID); !ok {
		t.Fatalf("listening, a profile read %s ago should still be cached", postgres.ProfileTTL+200*time.Millisecond)
	}

	start := time.Now()
	if _, err := pgtest.DB(t).DB.ExecContext(ctx, `UPDATE customers SET status = 'suspended' WHERE business_id = $1 AND id = $2`, b.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification", func() bool {
		_, ok := st.CachedProfileCustomer(b.ID, c.ID)
		return !ok
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the change was forgotten after %s", d)
	}
	if got, err := st.ProfileCustomer(ctx, b.ID, c.ID); err != nil || got.Status != ledger.CustomerSuspended {
		t.Fatalf("after the change: status %q, err %v; want suspended", got.Status, err)
	}
	// Only the customer that changed was forgotten.
	if _, ok := st.CachedProfileCustomer(b.ID, other.ID); !ok {
		t.Fatal("a customer that did not change was forgotten")
	}
}

// When the listening connection dies, the cache is emptied and caches for
// ProfileTTL until a new connection listens; then it empties again and caches
// for ProfileTTLWatched. Nothing cached under the long TTL survives the gap, in
// which changes go unannounced.
func TestWatchProfilesSurvivesALostConnection(t *testing.T) {
	ctx := context.Background()
	st := pgtest.Store(t)
	watch(t, st)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	c := profileCustomer(t, st, b.ID)
	if _, err := st.ProfileCustomer(ctx, b.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	first := st.ProfileWatchPID()
	var killed bool
	if err := pgtest.DB(t).DB.QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, int(first)).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the listener: %v %v", killed, err)
	}
	waitFor(t, "a new listener", func() bool { pid := st.ProfileWatchPID(); return pid != 0 && pid != first })
	if _, ok := st.CachedProfileCustomer(b.ID, c.ID); ok {
		t.Fatal("a profile cached before the connection was lost is still cached")
	}
	if st.ProfileCacheTTL() != postgres.ProfileTTLWatched {
		t.Fatalf("listening again: ttl %s, want %s", st.ProfileCacheTTL(), postgres.ProfileTTLWatched)
	}
	// And the new connection hears changes.
	if _, err := st.ProfileCustomer(ctx, b.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pgtest.DB(t).DB.ExecContext(ctx, `UPDATE customers SET first_name = 'X' WHERE business_id = $1 AND id = $2`, b.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification on the new connection", func() bool {
		_, ok := st.CachedProfileCustomer(b.ID, c.ID)
		return !ok
	})
}

// A statement that changes more than 100 customers announces "forget all"
// rather than one notification per row; up to 100, each customer alone.
func TestWatchProfilesBulkChangeForgetsAll(t *testing.T) {
	ctx := context.Background()
	st := pgtest.Store(t)
	watch(t, st)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	bystander, _ := pgtest.Business(t, ledger.ModeSandbox)
	kept := profileCustomer(t, st, bystander.ID)
	if _, err := st.ProfileCustomer(ctx, bystander.ID, kept.ID); err != nil {
		t.Fatal(err)
	}
	// 101 customers of b, created by SQL as the benchmark's search load does.
	if _, err := pgtest.DB(t).DB.ExecContext(ctx, `INSERT INTO customers (business_id, id, type, email, first_name, last_name, created_at, updated_at)
		SELECT $1, 'CUS_' || lpad(upper(to_hex(g)), 26, '0'), 'individual', 'bulk' || g || '@example.com', 'B', 'L', now(), now()
		FROM generate_series(1, 101) g`, b.ID); err != nil {
		t.Fatal(err)
	}
	one := "CUS_" + strings.Repeat("0", 25) + "1" // the first of them
	if _, err := st.ProfileCustomer(ctx, b.ID, one); err != nil {
		t.Fatal(err)
	}

	// 100 rows: named one by one, so the bystander stays cached.
	if _, err := pgtest.DB(t).DB.ExecContext(ctx, `UPDATE customers SET note = 'a' WHERE business_id = $1 AND id <> 'CUS_' || lpad('2', 26, '0')`, b.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the per-customer notification", func() bool { _, ok := st.CachedProfileCustomer(b.ID, one); return !ok })
	if _, ok := st.CachedProfileCustomer(bystander.ID, kept.ID); !ok {
		t.Fatal("100 changed customers of one business made the cache forget another business's")
	}

	// 101 rows: everything is forgotten.
	if _, err := st.ProfileCustomer(ctx, b.ID, one); err != nil {
		t.Fatal(err)
	}
	if _, err := pgtest.DB(t).DB.ExecContext(ctx, `UPDATE customers SET note = 'b' WHERE business_id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "forget-all", func() bool { _, ok := st.CachedProfileCustomer(bystander.ID, kept.ID); return !ok })
	if _, ok := st.CachedProfileCustomer(b.ID, one); ok {
		t.Fatal("after a 101-row update a changed customer is still cached")
	}
}
