package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/uptrace/bun"

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

// insertEvent writes one outbox event in the caller's transaction, so the event
// exists exactly when the change it reports does. data is the resource's API
// representation, rendered by the caller.
func insertEvent(ctx context.Context, db bun.IDB, business, typ, profile string, data any) (string, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("encode event %s: %w", typ, err)
	}
	id := ledger.NewID(ledger.PrefixEvent)
	_, err = db.NewRaw(`INSERT INTO events (business_id, id, type, profile_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		business, id, typ, profile, json.RawMessage(raw), now()).Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("insert event %s: %w", typ, err)
	}
	return id, nil
}

// insertAudit records a mutating request against one customer.
func insertAudit(ctx context.Context, db bun.IDB, business, customer string, a Audit) error {
	if a.RequestID == "" {
		return nil // operator and worker changes carry no request
	}
	_, err := db.NewRaw(`INSERT INTO audit_log (business_id, customer_id, request_id, method, path, key_id, status_code, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, business, customer, a.RequestID, a.Method, a.Path, a.KeyID, a.StatusCode, now()).Exec(ctx)
	if err != nil {
		return fmt.Errorf("insert audit: %w", err)
	}
	return nil
}
