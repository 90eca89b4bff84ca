package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/ledger"
)

type businessRow struct {
	bun.BaseModel `bun:"table:businesses"`
	ID            string    `bun:"id,pk"`
	Name          string    `bun:"name"`
	Mode          string    `bun:"mode"`
	CreatedAt     time.Time `bun:"created_at"`
}

func (r businessRow) domain() ledger.Business {
	return ledger.Business{ID: r.ID, Name: r.Name, Mode: ledger.Mode(r.Mode), CreatedAt: r.CreatedAt}
}

type apiKeyRow struct {
	bun.BaseModel `bun:"table:api_keys"`
	BusinessID    string     `bun:"business_id,pk"`
	ID            string     `bun:"id,pk"`
	Name          string     `bun:"name"`
	Mode          string     `bun:"mode"`
	Hash          []byte     `bun:"hash"`
	Hint          string     `bun:"hint"`
	CreatedAt     time.Time  `bun:"created_at"`
	LastUsedAt    *time.Time `bun:"last_used_at"`
	RevokedAt     *time.Time `bun:"revoked_at"`
}

func (r apiKeyRow) domain() ledger.APIKey {
	return ledger.APIKey{ID: r.ID, Business: r.BusinessID, Name: r.Name, Mode: ledger.KeyMode(r.Mode),
		Hint: r.Hint, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt}
}

// CreateBusiness creates a tenant with its first full-access secret key and returns
// the key's secret, which is never stored.
func (s *Store) CreateBusiness(ctx context.Context, name string, mode ledger.Mode) (ledger.Business, string, error) {
	b := businessRow{ID: ledger.NewID(ledger.PrefixBusiness), Name: name, Mode: string(mode), CreatedAt: now()}
	var secret string
	err := inTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&b).Exec(ctx); err != nil {
			return err
		}
		var err error
		_, secret, err = createKey(ctx, tx, b.domain(), ledger.KeyFull, "default")
		return err
	})
	return b.domain(), secret, err
}

// FindBusiness returns one business by id (operator use; not tenant-scoped).
func (s *Store) FindBusiness(ctx context.Context, id string) (ledger.Business, error) {
	var b businessRow
	if err := s.db.NewSelect().Model(&b).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ledger.Business{}, ledger.Errorf(ledger.CodeNotFound, "business %s not found", id)
		}
		return ledger.Business{}, translate(err)
	}
	return b.domain(), nil
}

// CreateAPIKey creates a secret key for business and returns it with its secret.
func (s *Store) CreateAPIKey(ctx context.Context, business string, mode ledger.KeyMode, name string) (ledger.APIKey, string, error) {
	b, err := s.FindBusiness(ctx, business)
	if err != nil {
		return ledger.APIKey{}, "", err
	}
	var key ledger.APIKey
	var secret string
	key, secret, err = createKey(ctx, s.db, b, mode, name)
	return key, secret, err
}

// CreateAPIKey creates a secret key for b inside the transaction and returns it
// with its secret, which is never stored.
func (t *Tx) CreateAPIKey(ctx context.Context, b ledger.Business, mode ledger.KeyMode, name string) (ledger.APIKey, string, error) {
	return createKey(ctx, t.tx, b, mode, name)
}

func createKey(ctx context.Context, db bun.IDB, b ledger.Business, mode ledger.KeyMode, name string) (ledger.APIKey, string, error) {
	secret := ledger.NewSecret(ledger.SecretKeyPrefix(b.Mode))
	row := apiKeyRow{BusinessID: b.ID, ID: ledger.NewID(ledger.PrefixKey), Name: name, Mode: string(mode),
		Hash: ledger.HashSecret(secret), Hint: secret[len(secret)-4:], CreatedAt: now()}
	if _, err := db.NewInsert().Model(&row).Exec(ctx); err != nil {
		return ledger.APIKey{}, "", translate(err)
	}
	return row.domain(), secret, nil
}

// ListAPIKeys lists a business's keys, newest first, revoked ones included.
func (s *Store) ListAPIKeys(ctx context.Context, business string) ([]ledger.APIKey, error) {
	return readAs(ctx, s, business, func(s *Store) ([]ledger.APIKey, error) {
		var rows []apiKeyRow
		err := s.q.NewSelect().Model(&rows).Where("business_id = ?", business).
			OrderExpr("created_at DESC, id DESC").Limit(1000).Scan(ctx)
		if err != nil {
			return nil, translate(err)
		}
		out := make([]ledger.APIKey, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, nil
	})
}

// FindAPIKeys returns one page of a business's keys, newest first, revoked ones
// included, and whether more follow.
func (s *Store) FindAPIKeys(ctx context.Context, business string, page ledger.Page) ([]ledger.APIKey, bool, error) {
	rows, err := readAs(ctx, s, business, func(s *Store) ([]apiKeyRow, error) {
		var rows []apiKeyRow
		q := s.q.NewSelect().Model(&rows).Where("business_id = ?", business)
		if page.After != nil {
			q = q.Where("(created_at, id) < (?, ?)", page.After.CreatedAt, page.After.ID)
		}
		return rows, translate(q.OrderExpr("created_at DESC, id DESC").Limit(int64(page.Limit + 1)).Scan(ctx))
	})
	if err != nil {
		return nil, false, err
	}
	more := len(rows) > page.Limit
	if more {
		rows = rows[:page.Limit]
	}
	out := make([]ledger.APIKey, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, more, nil
}

// FindAPIKey returns one key of business (revoked ones included).
func (s *Store) FindAPIKey(ctx context.Context, business, id string) (ledger.APIKey, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.APIKey, error) {
		var r apiKeyRow
		err := s.q.NewSelect().Model(&r).Where("business_id = ? AND id = ?", business, id).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return ledger.APIKey{}, ledger.Errorf(ledger.CodeNotFound, "API key %q not found", id)
		}
		if err != nil {
			return ledger.APIKey{}, translate(err)
		}
		return r.domain(), nil
	})
}

// RevokeAPIKey revokes a key at once: it empties this process's key cache after
// the commit, so the next request with the key is unauthenticated (another
// process's cache trusts it for at most CredentialTTL more). Revoking a revoked key
// succeeds and keeps the first revoked_at. An unknown key, or with business set
// another business's key, is not_found. With business empty (operator CLI) any key
// matches.
func (s *Store) RevokeAPIKey(ctx context.Context, business, id string) error {
	inTx := s.InTx // the operator CLI: any business's key
	if business != "" {
		inTx = func(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
			return s.InTxAs(ctx, business, fn)
		}
	}
	defer s.creds.forget()
	return inTx(ctx, func(ctx context.Context, tx *Tx) error {
		q := tx.tx.NewUpdate().Model((*apiKeyRow)(nil)).Set("revoked_at = COALESCE(revoked_at, now())").Where("id = ?", id)
		if business != "" {
			q = q.Where("business_id = ?", business)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return translate(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ledger.Errorf(ledger.CodeNotFound, "API key %s not found", id)
		}
		return nil
	})
}

// Credential is what a valid secret key resolves to.
type Credential struct {
	Business ledger.Business
	Key      ledger.APIKey
}

// lastUsedGranularity limits last_used_at writes to one per key per minute.
const lastUsedGranularity = time.Minute

// Authenticate resolves a secret key by its hash. Unknown and revoked keys are both
// unauthenticated. A key found valid within CredentialTTL is answered from the
// cache without a query. It touches last_used_at at most once a minute.
func (s *Store) Authenticate(ctx context.Context, secret string) (Credential, error) {
	var hash [32]byte
	copy(hash[:], ledger.HashSecret(secret))
	t := time.Now()
	cred, ok, gen := s.creds.get(hash, t)
	if ok {
		return cred, nil
	}
	cred, err := s.authenticate(ctx, hash[:])
	if err == nil {
		s.creds.put(hash, cred, gen, t)
	}
	return cred, err
}

// CachedCredential is Authenticate's answer when the cache holds a valid key for
// secret: no database, so the caller needs no deadline for it.
func (s *Store) CachedCredential(secret string) (Credential, bool) {
	var hash [32]byte
	copy(hash[:], ledger.HashSecret(secret))
	cred, ok, _ := s.creds.get(hash, time.Now())
	return cred, ok
}

func (s *Store) authenticate(ctx context.Context, hash []byte) (Credential, error) {
	var row apiKeyRow
	var b ledger.Business
	var mode string
	err := s.db.DB.QueryRowContext(ctx, `SELECT k.business_id, k.id, k.name, k.mode, k.hint, k.created_at, k.last_used_at,
			k.revoked_at, b.name, b.mode, b.created_at
		FROM api_keys k JOIN businesses b ON b.id = k.business_id WHERE k.hash = $1`, hash).
		Scan(&row.BusinessID, &row.ID, &row.Name, &row.Mode, &row.Hint, &row.CreatedAt, &row.LastUsedAt, &row.RevokedAt,
			&b.Name, &mode, &b.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && row.RevokedAt != nil) {
		return Credential{}, ledger.Errorf(ledger.CodeUnauthenticated, "invalid or revoked API key")
	}
	if err != nil {
		return Credential{}, translate(err)
	}
	b.ID, b.Mode = row.BusinessID, ledger.Mode(mode)
	if row.LastUsedAt == nil || time.Since(*row.LastUsedAt) > lastUsedGranularity {
		_, _ = s.db.NewUpdate().Model((*apiKeyRow)(nil)).Set("last_used_at = now()").
			Where("business_id = ? AND id = ?", row.BusinessID, row.ID).Exec(ctx)
	}
	return Credential{Business: b, Key: row.domain()}, nil
}
