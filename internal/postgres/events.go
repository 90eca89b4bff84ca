package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tallyhq/tally/ledger"
)

// Audit describes the API request behind a change, recorded in the customer's audit
// log in the same transaction as the change.
type Audit struct {
	RequestID  string
	Method     string
	Path       string
	KeyID      string
	StatusCode int
}

// The transaction's bookkeeping rows (outbox events, audit entries, the idempotency
// record) are buffered in the Tx and written by one statement just before commit:
// they still commit exactly with the change, at the cost of one round trip
// instead of three.

type pendingEvent struct {
	business, id, typ, profile, data string
	at                               time.Time
}

type pendingAudit struct {
	business, customer string
	a                  Audit
	at                 time.Time
}

type pendingIdempotency struct {
	business, key string
	hash          []byte
	r             StoredResponse
}

// Event records one outbox event of the transaction: it exists exactly when the
// change it reports does. data is the resource's API representation.
func (t *Tx) Event(ctx context.Context, business, typ, profile string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", typ, err)
	}
	t.events = append(t.events, pendingEvent{business: business, id: ledger.NewID(ledger.PrefixEvent), typ: typ,
		profile: profile, data: string(raw), at: now()})
	return nil
}

// Audit records a mutating request against one customer. Changes made by the
// operator or a worker carry no request and are not audited.
func (t *Tx) Audit(ctx context.Context, business, customer string, a Audit) error {
	if a.RequestID != "" {
		t.audits = append(t.audits, pendingAudit{business: business, customer: customer, a: a, at: now()})
	}
	return nil
}

// SaveIdempotentResponse stores the response in the transaction that made the
// effect, replacing an expired record of the same key.
func (t *Tx) SaveIdempotentResponse(ctx context.Context, business, key string, requestHash []byte, r StoredResponse) error {
	t.idem = append(t.idem, pendingIdempotency{business: business, key: key, hash: requestHash, r: r})
	return nil
}

const flushSQL = `WITH ev AS (
	INSERT INTO events (business_id, id, type, profile_id, data, created_at)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[])
), au AS (
	INSERT INTO audit_log (business_id, customer_id, request_id, method, path, key_id, status_code, created_at)
	SELECT * FROM unnest($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[], $14::timestamptz[])
), ik AS (
	INSERT INTO idempotency_keys (business_id, key, request_hash, status_code, response, created_at)
	SELECT *, now() FROM unnest($15::text[], $16::text[], $17::bytea[], $18::int[], $19::bytea[])
	ON CONFLICT (business_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
		status_code = EXCLUDED.status_code, response = EXCLUDED.response, created_at = EXCLUDED.created_at
)
SELECT 1`

// flush writes the buffered events, audit entries and idempotency records.
func (t *Tx) flush(ctx context.Context) error {
	if len(t.events) == 0 && len(t.audits) == 0 && len(t.idem) == 0 {
		return t.sendQueued(ctx)
	}
	n := len(t.events)
	eb, eid, et, ep, ed := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	eat := make([]time.Time, n)
	for i, e := range t.events {
		eb[i], eid[i], et[i], ep[i], ed[i], eat[i] = e.business, e.id, e.typ, e.profile, e.data, e.at
	}
	m := len(t.audits)
	ab, ac, ar, am, ap, ak := make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m)
	as, aat := make([]int32, m), make([]time.Time, m)
	for i, a := range t.audits {
		ab[i], ac[i], ar[i], am[i], ap[i], ak[i] = a.business, a.customer, a.a.RequestID, a.a.Method, a.a.Path, a.a.KeyID
		as[i], aat[i] = int32(a.a.StatusCode), a.at
	}
	k := len(t.idem)
	ib, ikey, ihash, ibody, istatus := make([]string, k), make([]string, k), make([][]byte, k), make([][]byte, k), make([]int32, k)
	for i, r := range t.idem {
		ib[i], ikey[i], ihash[i], ibody[i], istatus[i] = r.business, r.key, r.hash, r.r.Body, int32(r.r.StatusCode)
	}
	t.queued = append(t.queued, queuedWrite{sql: flushSQL, what: "write events, audit and idempotency record",
		args: []any{eb, eid, et, ep, ed, eat, ab, ac, ar, am, ap, ak, as, aat, ib, ikey, ihash, istatus, ibody}})
	if err := t.sendQueued(ctx); err != nil {
		return err
	}
	t.events, t.audits, t.idem = nil, nil, nil
	return nil
}
