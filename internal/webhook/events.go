// Package webhook signs and delivers Tally's events to the endpoints businesses
// register (API.md §8): the signature scheme and its verification helper, the
// encryption of signing secrets at rest, the rules for endpoint URLs, and the
// Worker that delivers the queue kept in PostgreSQL.
package webhook

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/tallyhq/tally/internal/postgres"
)

// EventTypes lists every event type of API.md §8, in documentation order.
var EventTypes = []string{
	"customer.created", "customer.updated", "customer.closed",
	"deposit.pending", "deposit.completed", "deposit.rejected",
	"payout.pending", "payout.processing", "payout.completed", "payout.failed", "payout.cancelled",
	"transfer.completed",
	"conversion.completed",
}

// ValidEventType reports whether t is one of EventTypes.
func ValidEventType(t string) bool { return slices.Contains(EventTypes, t) }

// Event is the Event object of API.md §8: what GET /v1/events returns and, byte for
// byte, the body of every delivery of that event.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	CreatedAt  string          `json:"created_at"`
	BusinessID string          `json:"business_id"`
	ProfileID  string          `json:"profile_id"`
	Data       json.RawMessage `json:"data"`
}

// EventOf renders a stored event.
func EventOf(e postgres.Event) Event {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return Event{ID: e.ID, Type: e.Type, CreatedAt: e.CreatedAt.UTC().Format(time.RFC3339Nano),
		BusinessID: e.Business, ProfileID: e.ProfileID, Data: data}
}

// Body is the delivery body of e. It is a pure function of the stored event, so
// every attempt and every redelivery sends the same bytes.
func Body(e postgres.Event) ([]byte, error) {
	return json.Marshal(EventOf(e))
}
