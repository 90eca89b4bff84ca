package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/pgtest"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// A valid key is answered from the cache for CredentialTTL: a revocation made
// behind the Store's back (another process) takes effect within it, and one made
// through the Store at once.
func TestAuthenticateCachesValidKeys(t *testing.T) {
	ctx := context.Background()
	st := pgtest.Store(t)
	b, secret := pgtest.Business(t, ledger.ModeSandbox)
	if _, err := st.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	// Another process revokes the key.
	if _, err := pgtest.DB(t).DB.ExecContext(ctx, `UPDATE api_keys SET revoked_at = now() WHERE business_id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := st.Authenticate(ctx, secret); err != nil && time.Since(start) < postgres.CredentialTTL/2 {
		t.Fatalf("within the TTL the cached key should still authenticate: %v", err)
	}
	time.Sleep(postgres.CredentialTTL + 50*time.Millisecond)
	if _, err := st.Authenticate(ctx, secret); ledger.ErrorCode(err) != ledger.CodeUnauthenticated {
		t.Fatalf("after the TTL a key revoked elsewhere: err = %v, want unauthenticated", err)
	}

	// Revoked through the Store: refused on the very next request.
	key, secret2, err := st.CreateAPIKey(ctx, b.ID, ledger.KeyFull, "second")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(ctx, secret2); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeAPIKey(ctx, b.ID, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(ctx, secret2); ledger.ErrorCode(err) != ledger.CodeUnauthenticated {
		t.Fatalf("right after RevokeAPIKey: err = %v, want unauthenticated", err)
	}
	// Unknown secrets are never cached as valid.
	if _, err := st.Authenticate(ctx, secret2+"x"); ledger.ErrorCode(err) != ledger.CodeUnauthenticated {
		t.Fatalf("unknown key: err = %v", err)
	}
}

// The customer X-BU-PROFILE-ID names is cached for ProfileTTL: an update through
// the Store is seen at once, one behind its back (another replica) within the
// TTL, and another business never sees it.
func TestProfileCustomerCache(t *testing.T) {
	ctx := context.Background()
	st := pgtest.Store(t)
	b, _ := pgtest.Business(t, ledger.ModeSandbox)
	other, _ := pgtest.Business(t, ledger.ModeSandbox)
	email := "cache@example.com"
	c, err := ledger.NewCustomer(b.ID, ledger.CustomerPatch{Type: ptr("individual"), Email: &email, FirstName: ptr("A"), LastName: ptr("B")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InTxAs(ctx, b.ID, func(ctx context.Context, tx *postgres.Tx) error { return tx.CreateCustomer(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ProfileCustomer(ctx, b.ID, c.ID); err != nil || got.Email != email {
		t.Fatalf("first read: %v %v", got.Email, err)
	}
	if _, err := st.ProfileCustomer(ctx, other.ID, c.ID); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("another business: err = %v, want not_found", err)
	}
	// Through the Store: seen at once.
	c.Email = "changed@example.com"
	if err := st.InTxAs(ctx, b.ID, func(ctx context.Context, tx *postgres.Tx) error { return tx.UpdateCustomer(ctx, c) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ProfileCustomer(ctx, b.ID, c.ID); got.Email != "changed@example.com" {
		t.Fatalf("after UpdateCustomer: email %q", got.Email)
	}
	// Behind its back: the cached customer until the TTL ends.
	start := time.Now()
	if _, err := pgtest.DB(t).DB.ExecContext(ctx, `UPDATE customers SET status = 'closed' WHERE business_id = $1 AND id = $2`, b.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ProfileCustomer(ctx, b.ID, c.ID); got.Status != ledger.CustomerActive && time.Since(start) < postgres.ProfileTTL/2 {
		t.Fatalf("within the TTL: status %q, want the cached active", got.Status)
	}
	time.Sleep(postgres.ProfileTTL + 50*time.Millisecond)
	if got, _ := st.ProfileCustomer(ctx, b.ID, c.ID); got.Status != ledger.CustomerClosed {
		t.Fatalf("after the TTL: status %q, want closed", got.Status)
	}
}

func ptr[T any](v T) *T { return &v }
