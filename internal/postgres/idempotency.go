package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/tallyhq/tally/ledger"
)

// IdempotencyTTL is how long a stored response is replayed (API.md §3: ≥ 24 h).
const IdempotencyTTL = 48 * time.Hour

// StoredResponse is the first response to an idempotent request.
type StoredResponse struct {
	StatusCode int
	Body       []byte
}

// ClaimIdempotencyKey makes the transaction the only one working on (business, key):
// another transaction holding it → idempotency_key_in_use. When a response is
// already stored for the key, it is returned for replay if requestHash matches and
// refused with idempotency_key_reused otherwise. The claim is a transaction-scoped
// advisory lock, so it ends with the transaction, crash included.
func (t *Tx) ClaimIdempotencyKey(ctx context.Context, business, key string, requestHash []byte) (*StoredResponse, error) {
	stored, errs, err := t.ClaimIdempotencyKeys(ctx, business, []string{key}, [][]byte{requestHash})
	if err != nil {
		return nil, err
	}
	return stored[0], errs[0]
}

// IdempotencyInUse is the refusal of a request whose key another request holds.
func IdempotencyInUse() error {
	return ledger.ParamErrorf(ledger.CodeIdempotencyInUse, "Idempotency-Key",
		"a request with this Idempotency-Key is still being processed; retry later")
}

// idempotencyLookupSQL reads the stored responses of keys ($2) of business $1.
// Each key is its own lookup on the primary key (a LATERAL subquery with LIMIT
// 1, which the planner cannot flatten), never `key = ANY($2)`: with statistics
// from before a business had keys, the planner estimates it has one row and
// scans all of the business's keys with the array as a filter (measured: 38 ms
// for 65,000 keys, growing with every request, until autovacuum analyzes the
// table). Likewise shareLockCustomersSQL and lockBalancesSQL; see
// TestKeyedLookupsIgnoreStaleStatistics.
const idempotencyLookupSQL = `SELECT i.key, i.request_hash, i.status_code, i.response
	FROM unnest($2::text[]) AS k(key)
	CROSS JOIN LATERAL (SELECT key, request_hash, status_code, response FROM idempotency_keys
		WHERE business_id = $1 AND key = k.key AND created_at > now() - $3::interval LIMIT 1) i`

// ClaimIdempotencyKeys is ClaimIdempotencyKey for many keys of one business, in
// two statements whatever their number (the combiner's batches; ClaimAndShareLock
// sends them in one round trip with the customers' locks). For key i, stored[i]
// is the response to replay and errs[i] its refusal (idempotency_key_in_use,
// idempotency_key_reused); both nil: the transaction holds the key. The caller
// must not pass one key twice.
func (t *Tx) ClaimIdempotencyKeys(ctx context.Context, business string, keys []string, hashes [][]byte) (stored []*StoredResponse, errs []error, err error) {
	c := newIdempotencyClaim(business, keys, hashes)
	if len(keys) > 0 {
		if err := t.readAll(ctx, c.reads()...); err != nil {
			return nil, nil, err
		}
	}
	return c.stored, c.errs, nil
}

// idempotencyClaim is the two statements of a claim and what they found.
type idempotencyClaim struct {
	business string
	keys     []string
	hashes   [][]byte
	held     []bool
	stored   []*StoredResponse
	errs     []error
}

func newIdempotencyClaim(business string, keys []string, hashes [][]byte) *idempotencyClaim {
	return &idempotencyClaim{business: business, keys: keys, hashes: hashes, held: make([]bool, len(keys)),
		stored: make([]*StoredResponse, len(keys)), errs: make([]error, len(keys))}
}

// reads are the claim's statements, in order: try-lock every key, then look every
// key up. The lookup is a statement of its own, after the locks: its snapshot
// sees a response that the previous holder committed just before releasing its
// lock. What it finds for a key the transaction could not lock is dropped.
func (c *idempotencyClaim) reads() []queuedRead {
	locks := make([]int64, len(c.keys))
	for i, k := range c.keys {
		locks[i] = advisoryKey(c.business, k)
	}
	index := make(map[string]int, len(c.keys))
	for i, k := range c.keys {
		index[k] = i
	}
	return []queuedRead{{
		sql: `SELECT u.ord, pg_try_advisory_xact_lock(u.k)
			FROM unnest($1::int8[]) WITH ORDINALITY AS u(k, ord) ORDER BY u.ord`,
		args: []any{locks},
		read: func(rows rowScanner) error {
			for rows.Next() {
				var ord int
				var got bool
				if err := rows.Scan(&ord, &got); err != nil {
					return err
				}
				c.held[ord-1] = got
				if !got {
					c.errs[ord-1] = IdempotencyInUse()
				}
			}
			return rows.Err()
		},
	}, {
		sql:  idempotencyLookupSQL,
		args: []any{c.business, c.keys, IdempotencyTTL.String()},
		read: func(rows rowScanner) error {
			for rows.Next() {
				var key string
				var hash []byte
				var r StoredResponse
				if err := rows.Scan(&key, &hash, &r.StatusCode, &r.Body); err != nil {
					return err
				}
				i, ok := index[key]
				if !ok || !c.held[i] {
					continue
				}
				if !bytes.Equal(hash, c.hashes[i]) {
					c.errs[i] = ledger.ParamErrorf(ledger.CodeIdempotencyReused, "Idempotency-Key",
						"this Idempotency-Key was used with a different request (method, path, profile or body)")
					continue
				}
				c.stored[i] = &r
			}
			return rows.Err()
		},
	}}
}

// PruneIdempotencyKeys deletes records older than the TTL, at most limit of them.
func (s *Store) PruneIdempotencyKeys(ctx context.Context, limit int) (int64, error) {
	res, err := s.db.NewRaw(`DELETE FROM idempotency_keys WHERE ctid IN (
		SELECT ctid FROM idempotency_keys WHERE created_at < now() - ?::interval LIMIT ?)`, IdempotencyTTL.String(), limit).Exec(ctx)
	if err != nil {
		return 0, translate(err)
	}
	return res.RowsAffected()
}

func advisoryKey(business, key string) int64 {
	h := sha256.Sum256([]byte("idem\x00" + business + "\x00" + key))
	return int64(binary.BigEndian.Uint64(h[:8]))
}
