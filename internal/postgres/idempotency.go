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
// two statements whatever their number (the combiner's batches). For
// key i, stored[i] is the response to replay and errs[i] its refusal
// (idempotency_key_in_use, idempotency_key_reused); both nil: the transaction
// holds the key. The caller must not pass one key twice.
func (t *Tx) ClaimIdempotencyKeys(ctx context.Context, business string, keys []string, hashes [][]byte) (stored []*StoredResponse, errs []error, err error) {
	stored, errs = make([]*StoredResponse, len(keys)), make([]error, len(keys))
	if len(keys) == 0 {
		return stored, errs, nil
	}
	locks := make([]int64, len(keys))
	for i, k := range keys {
		locks[i] = advisoryKey(business, k)
	}
	rows, err := t.tx.Tx.QueryContext(ctx, `SELECT u.ord, pg_try_advisory_xact_lock(u.k)
		FROM unnest($1::int8[]) WITH ORDINALITY AS u(k, ord) ORDER BY u.ord`, locks)
	if err != nil {
		return nil, nil, translate(err)
	}
	var held []string
	for rows.Next() {
		var ord int
		var got bool
		if err := rows.Scan(&ord, &got); err != nil {
			rows.Close()
			return nil, nil, translate(err)
		}
		if !got {
			errs[ord-1] = IdempotencyInUse()
			continue
		}
		held = append(held, keys[ord-1])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, translate(err)
	}
	if len(held) == 0 {
		return stored, errs, nil
	}
	// A statement of its own, after the locks: its snapshot sees a response that
	// the previous holder committed just before releasing its lock.
	rows, err = t.tx.Tx.QueryContext(ctx, idempotencyLookupSQL, business, held, IdempotencyTTL.String())
	if err != nil {
		return nil, nil, translate(err)
	}
	defer rows.Close()
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k] = i
	}
	for rows.Next() {
		var key string
		var hash []byte
		var r StoredResponse
		if err := rows.Scan(&key, &hash, &r.StatusCode, &r.Body); err != nil {
			return nil, nil, translate(err)
		}
		i := index[key]
		if !bytes.Equal(hash, hashes[i]) {
			errs[i] = ledger.ParamErrorf(ledger.CodeIdempotencyReused, "Idempotency-Key",
				"this Idempotency-Key was used with a different request (method, path, profile or body)")
			continue
		}
		stored[i] = &r
	}
	return stored, errs, translate(rows.Err())
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
