package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/tallyhq/tally/ledger"
)

// WebhookEndpointCountMax bounds the live endpoints of one business, so one event
// fans out to a bounded number of deliveries.
const WebhookEndpointCountMax = 16

// WebhookEndpoint is a URL a business receives events at. Secret is the signing
// secret sealed by the webhook package; this package never sees it in plain text.
type WebhookEndpoint struct {
	Business  string
	ID        string
	URL       string
	Events    []string // empty: every type
	Secret    []byte
	CreatedAt time.Time
}

type webhookEndpointRow struct {
	bun.BaseModel `bun:"table:webhook_endpoints"`
	BusinessID    string     `bun:"business_id,pk"`
	ID            string     `bun:"id,pk"`
	URL           string     `bun:"url"`
	Events        []string   `bun:"events,array"`
	Secret        []byte     `bun:"secret"`
	CreatedAt     time.Time  `bun:"created_at"`
	DeletedAt     *time.Time `bun:"deleted_at"`
}

func (r webhookEndpointRow) domain() WebhookEndpoint {
	ev := r.Events
	if ev == nil {
		ev = []string{}
	}
	return WebhookEndpoint{Business: r.BusinessID, ID: r.ID, URL: r.URL, Events: ev, Secret: r.Secret, CreatedAt: r.CreatedAt.UTC()}
}

// CreateWebhookEndpoint inserts e. More than WebhookEndpointCountMax live endpoints
// is validation_failed.
func (t *Tx) CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) error {
	// Serialise creations per business so the count below cannot be raced past.
	if _, err := t.tx.NewRaw("SELECT pg_advisory_xact_lock(hashtextextended(?, 6))", "webhook_endpoints/"+e.Business).Exec(ctx); err != nil {
		return translate(err)
	}
	n, err := t.tx.NewSelect().Model((*webhookEndpointRow)(nil)).
		Where("business_id = ? AND deleted_at IS NULL", e.Business).Count(ctx)
	if err != nil {
		return translate(err)
	}
	if n >= WebhookEndpointCountMax {
		return ledger.Errorf(ledger.CodeValidation, "a business may have at most %d webhook endpoints; delete one first", WebhookEndpointCountMax)
	}
	events := e.Events
	if events == nil {
		events = []string{}
	}
	r := webhookEndpointRow{BusinessID: e.Business, ID: e.ID, URL: e.URL, Events: events, Secret: e.Secret, CreatedAt: e.CreatedAt}
	_, err = t.tx.NewInsert().Model(&r).Exec(ctx)
	return translate(err)
}

// FindWebhookEndpoint returns a live endpoint of business; a deleted one, another
// business's or an unknown id is not_found.
func (s *Store) FindWebhookEndpoint(ctx context.Context, business, id string) (WebhookEndpoint, error) {
	return readAs(ctx, s, business, func(s *Store) (WebhookEndpoint, error) {
		notFound := ledger.Errorf(ledger.CodeNotFound, "webhook endpoint %q not found", id)
		if !ledger.ValidID(id, ledger.PrefixWebhook) {
			return WebhookEndpoint{}, notFound
		}
		var r webhookEndpointRow
		err := s.q.NewSelect().Model(&r).Where("business_id = ? AND id = ? AND deleted_at IS NULL", business, id).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return WebhookEndpoint{}, notFound
		}
		if err != nil {
			return WebhookEndpoint{}, translate(err)
		}
		return r.domain(), nil
	})
}

// FindWebhookEndpoints returns up to page.Limit+1 live endpoints newest first, so
// the caller knows whether there is a next page.
func (s *Store) FindWebhookEndpoints(ctx context.Context, business string, page ledger.Page) ([]WebhookEndpoint, error) {
	return readAs(ctx, s, business, func(s *Store) ([]WebhookEndpoint, error) {
		var rows []webhookEndpointRow
		q := s.q.NewSelect().Model(&rows).Where("business_id = ? AND deleted_at IS NULL", business)
		if a := page.After; a != nil {
			q = q.Where("(created_at, id) < (?, ?)", a.CreatedAt, a.ID)
		}
		if err := scanOnce(ctx, s.raw, s.db, q.OrderExpr("created_at DESC, id DESC").Limit(int64(page.Limit)+1), &rows); err != nil {
			return nil, err
		}
		out := make([]WebhookEndpoint, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, nil
	})
}

// DeleteWebhookEndpoint soft-deletes a live endpoint and gives up its pending
// deliveries; not_found when there is no such live endpoint of business.
func (t *Tx) DeleteWebhookEndpoint(ctx context.Context, business, id string) error {
	notFound := ledger.Errorf(ledger.CodeNotFound, "webhook endpoint %q not found", id)
	if !ledger.ValidID(id, ledger.PrefixWebhook) {
		return notFound
	}
	res, err := t.tx.NewRaw(`UPDATE webhook_endpoints SET deleted_at = now()
		WHERE business_id = ? AND id = ? AND deleted_at IS NULL`, business, id).Exec(ctx)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound
	}
	_, err = t.tx.NewRaw(`UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted',
			claim_token = NULL, updated_at = now()
		WHERE business_id = ? AND endpoint_id = ? AND status = 'pending'`, business, id).Exec(ctx)
	return translate(err)
}

// Event is one stored outbox event.
type Event struct {
	Business  string
	ID        string
	Type      string
	ProfileID string
	Data      json.RawMessage
	CreatedAt time.Time
}

type eventRow struct {
	bun.BaseModel `bun:"table:events"`
	BusinessID    string          `bun:"business_id,pk"`
	ID            string          `bun:"id,pk"`
	Type          string          `bun:"type"`
	ProfileID     string          `bun:"profile_id"`
	Data          json.RawMessage `bun:"data,type:jsonb"`
	CreatedAt     time.Time       `bun:"created_at"`
}

func (r eventRow) domain() Event {
	return Event{Business: r.BusinessID, ID: r.ID, Type: r.Type, ProfileID: r.ProfileID, Data: r.Data, CreatedAt: r.CreatedAt.UTC()}
}

// EventFilter narrows an event list. Profile "" means every profile of the
// business (the main profile's view); a customer id means that customer's events.
type EventFilter struct {
	Profile string
	Type    string
}

// FindEvents returns up to page.Limit+1 events of business newest first.
func (s *Store) FindEvents(ctx context.Context, business string, f EventFilter, page ledger.Page) ([]Event, error) {
	return readAs(ctx, s, business, func(s *Store) ([]Event, error) {
		var rows []eventRow
		q := s.q.NewSelect().Model(&rows).Where("business_id = ?", business)
		if f.Profile != "" {
			q = q.Where("profile_id = ?", f.Profile)
		}
		if f.Type != "" {
			q = q.Where("type = ?", f.Type)
		}
		if a := page.After; a != nil {
			q = q.Where("(created_at, id) < (?, ?)", a.CreatedAt, a.ID)
		}
		if err := scanOnce(ctx, s.raw, s.db, q.OrderExpr("created_at DESC, id DESC").Limit(int64(page.Limit)+1), &rows); err != nil {
			return nil, err
		}
		out := make([]Event, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, nil
	})
}

// FindEvent returns one event of business; with profile set, only if it belongs to
// that profile. Anything else is not_found.
func (s *Store) FindEvent(ctx context.Context, business, profile, id string) (Event, error) {
	return readAs(ctx, s, business, func(s *Store) (Event, error) {
		notFound := ledger.Errorf(ledger.CodeNotFound, "event %q not found", id)
		if !ledger.ValidID(id, ledger.PrefixEvent) {
			return Event{}, notFound
		}
		var r eventRow
		q := s.q.NewSelect().Model(&r).Where("business_id = ? AND id = ?", business, id)
		if profile != "" {
			q = q.Where("profile_id = ?", profile)
		}
		err := q.Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return Event{}, notFound
		}
		if err != nil {
			return Event{}, translate(err)
		}
		return r.domain(), nil
	})
}

// WebhookDelivery is one queued delivery of an event to an endpoint.
type WebhookDelivery struct {
	Business   string    `bun:"business_id"`
	ID         string    `bun:"id"`
	EventID    string    `bun:"event_id"`
	EndpointID string    `bun:"endpoint_id"`
	Status     string    `bun:"status"`
	CreatedAt  time.Time `bun:"created_at"`
}

// RedeliverEvent queues a new delivery of the event to every live endpoint of
// business subscribed to its type and returns them. The event id, and so the body,
// is the same as the first delivery's.
func (t *Tx) RedeliverEvent(ctx context.Context, business string, e Event) ([]WebhookDelivery, error) {
	var out []WebhookDelivery
	err := t.tx.NewRaw(`INSERT INTO webhook_deliveries (business_id, id, event_id, endpoint_id, next_attempt_at, created_at, updated_at)
		SELECT e.business_id, 'dlv_' || replace(gen_random_uuid()::text, '-', ''), ?, e.id, now(), now(), now()
		FROM webhook_endpoints e
		WHERE e.business_id = ? AND e.deleted_at IS NULL AND (cardinality(e.events) = 0 OR ? = ANY (e.events))
		RETURNING business_id, id, event_id, endpoint_id, status, created_at`, e.ID, business, e.Type).Scan(ctx, &out)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, translate(err)
	}
	if out == nil {
		out = []WebhookDelivery{}
	}
	return out, nil
}

// WebhookAttempt is one HTTP attempt to deliver an event.
type WebhookAttempt struct {
	Business   string    `bun:"business_id"`
	ID         string    `bun:"id"`
	DeliveryID string    `bun:"delivery_id"`
	EventID    string    `bun:"event_id"`
	EndpointID string    `bun:"endpoint_id"`
	Attempt    int       `bun:"attempt"`
	URL        string    `bun:"url"`
	StatusCode *int      `bun:"status_code"`
	LatencyMS  int       `bun:"latency_ms"`
	Error      *string   `bun:"error"`
	CreatedAt  time.Time `bun:"created_at"`
}

// FindWebhookAttempts returns up to page.Limit+1 attempts for one event of
// business, newest first. The caller has already checked the event is visible.
func (s *Store) FindWebhookAttempts(ctx context.Context, business, event string, page ledger.Page) ([]WebhookAttempt, error) {
	return readAs(ctx, s, business, func(s *Store) ([]WebhookAttempt, error) {
		var out []WebhookAttempt
		q := s.q.NewSelect().Table("webhook_attempts").Column("business_id", "id", "delivery_id", "event_id", "endpoint_id",
			"attempt", "url", "status_code", "latency_ms", "error", "created_at").
			Where("business_id = ? AND event_id = ?", business, event)
		if a := page.After; a != nil {
			q = q.Where("(created_at, id) < (?, ?)", a.CreatedAt, a.ID)
		}
		if err := q.OrderExpr("created_at DESC, id DESC").Limit(int64(page.Limit)+1).Scan(ctx, &out); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, translate(err)
		}
		for i := range out {
			out[i].CreatedAt = out[i].CreatedAt.UTC()
		}
		return out, nil
	})
}

// ClaimedDelivery is a delivery a worker holds until its lease ends: the event to
// send, where to send it and the attempt number it is making.
type ClaimedDelivery struct {
	Business        string
	ID              string
	EndpointID      string
	Attempt         int
	Token           string
	CreatedAt       time.Time
	LeaseEnd        time.Time
	Event           Event
	URL             string
	Secret          []byte
	EndpointDeleted bool
	Mode            ledger.Mode
}

type claimedRow struct {
	BusinessID string          `bun:"business_id"`
	ID         string          `bun:"id"`
	EventID    string          `bun:"event_id"`
	EndpointID string          `bun:"endpoint_id"`
	Attempts   int             `bun:"attempts"`
	ClaimToken string          `bun:"claim_token"`
	CreatedAt  time.Time       `bun:"created_at"`
	LeaseEnd   time.Time       `bun:"next_attempt_at"`
	Type       string          `bun:"type"`
	ProfileID  string          `bun:"profile_id"`
	Data       json.RawMessage `bun:"data"`
	EventAt    time.Time       `bun:"event_created_at"`
	URL        string          `bun:"url"`
	Secret     []byte          `bun:"secret"`
	DeletedAt  *time.Time      `bun:"deleted_at"`
	Mode       string          `bun:"mode"`
}

// ClaimWebhookDeliveries claims up to limit due deliveries for lease and returns
// them. It is one autocommitted statement: FOR UPDATE SKIP LOCKED lets workers on
// several replicas claim disjoint rows without waiting on each other, and moving
// next_attempt_at past the lease keeps the row from being claimed again until the
// claimer records a result or dies. businesses, when not empty, restricts the claim
// to those businesses (a dedicated worker, or a test).
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, limit int, lease time.Duration, businesses []string) ([]ClaimedDelivery, error) {
	if limit <= 0 {
		return nil, nil
	}
	token := newClaimToken()
	var rows []claimedRow
	err := s.db.NewRaw(`WITH due AS (
			SELECT business_id, id FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= now() AND (? OR business_id = ANY (?::text[]))
			ORDER BY next_attempt_at
			LIMIT ?
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE webhook_deliveries d SET attempts = d.attempts + 1, claim_token = ?,
				next_attempt_at = now() + ?::interval, updated_at = now()
			FROM due WHERE d.business_id = due.business_id AND d.id = due.id
			RETURNING d.business_id, d.id, d.event_id, d.endpoint_id, d.attempts, d.claim_token, d.created_at, d.next_attempt_at
		)
		SELECT c.*, ev.type, ev.profile_id, ev.data, ev.created_at AS event_created_at, ep.url, ep.secret, ep.deleted_at, b.mode
		FROM claimed c
		JOIN events ev ON ev.business_id = c.business_id AND ev.id = c.event_id
		JOIN webhook_endpoints ep ON ep.business_id = c.business_id AND ep.id = c.endpoint_id
		JOIN businesses b ON b.id = c.business_id`,
		len(businesses) == 0, pgdialect.Array(businesses), limit, token, fmt.Sprintf("%d milliseconds", lease.Milliseconds())).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, translate(err)
	}
	out := make([]ClaimedDelivery, len(rows))
	for i, r := range rows {
		out[i] = ClaimedDelivery{
			Business: r.BusinessID, ID: r.ID, EndpointID: r.EndpointID, Attempt: r.Attempts, Token: r.ClaimToken,
			CreatedAt: r.CreatedAt.UTC(), LeaseEnd: r.LeaseEnd.UTC(),
			Event: Event{Business: r.BusinessID, ID: r.EventID, Type: r.Type, ProfileID: r.ProfileID, Data: r.Data, CreatedAt: r.EventAt.UTC()},
			URL:   r.URL, Secret: r.Secret, EndpointDeleted: r.DeletedAt != nil, Mode: ledger.Mode(r.Mode),
		}
	}
	return out, nil
}

// Delivery outcomes after an attempt.
const (
	DeliveryPending   = "pending"   // retry at NextAttemptAt
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // given up
)

// AttemptResult is what one attempt found and what happens next.
type AttemptResult struct {
	StatusCode    int // 0: no HTTP response
	Latency       time.Duration
	Error         string
	Status        string // DeliveryPending, DeliveryDelivered or DeliveryFailed
	NextAttemptAt time.Time
}

// attemptErrorLenMax bounds the error text kept per attempt.
const attemptErrorLenMax = 500

// RecordWebhookAttempt logs the attempt d made and moves the delivery to r.Status,
// in one transaction. The log row is always written (the HTTP request happened);
// the delivery changes only while d's claim is still current, so a worker whose
// lease ran out cannot overwrite a newer claim. It reports whether the claim was
// still current.
func (s *Store) RecordWebhookAttempt(ctx context.Context, d ClaimedDelivery, r AttemptResult) (bool, error) {
	var code *int
	if r.StatusCode != 0 {
		code = &r.StatusCode
	}
	var msg *string
	if r.Error != "" {
		e := r.Error
		if len(e) > attemptErrorLenMax {
			e = e[:attemptErrorLenMax]
		}
		msg = &e
	}
	current := false
	err := inTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.NewRaw(`INSERT INTO webhook_attempts (business_id, delivery_id, event_id, endpoint_id, attempt, url, status_code, latency_ms, error, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now()) ON CONFLICT (business_id, delivery_id, attempt) DO NOTHING`,
			d.Business, d.ID, d.Event.ID, d.EndpointID, d.Attempt, d.URL, code, r.Latency.Milliseconds(), msg).Exec(ctx)
		if err != nil {
			return err
		}
		var delivered *time.Time
		if r.Status == DeliveryDelivered {
			t := now()
			delivered = &t
		}
		res, err := tx.NewRaw(`UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, claim_token = NULL,
				last_status_code = ?, last_error = ?, delivered_at = ?, updated_at = now()
			WHERE business_id = ? AND id = ? AND claim_token = ? AND status = 'pending'`,
			r.Status, r.NextAttemptAt, code, msg, delivered, d.Business, d.ID, d.Token).Exec(ctx)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		current = n == 1
		return nil
	})
	return current, err
}

func newClaimToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}
