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
