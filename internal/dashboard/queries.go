package dashboard

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// The dashboard's own queries are read-only views across a whole business, which
// the API (always in one profile's context) never needs: totals over all customers,
// counts, and business-wide lists. Every one says WHERE business_id = ?. Changes
// never happen here; they go through the API's code (see Domain).

// listLimit is the page size of every dashboard list.
const listLimit = 25

// customerTotals sums every customer's main balances per currency.
func customerTotals(ctx context.Context, db bun.IDB, business string) ([]postgres.CurrencyBalance, error) {
	var rows []struct {
		Currency       string
		DebitsPosted   decimal.Decimal
		CreditsPosted  decimal.Decimal
		DebitsPending  decimal.Decimal
		CreditsPending decimal.Decimal
	}
	err := db.NewRaw(`SELECT currency, sum(debits_posted) AS debits_posted, sum(credits_posted) AS credits_posted,
			sum(debits_pending) AS debits_pending, sum(credits_pending) AS credits_pending
		FROM ledger_balances WHERE business_id = ? AND purpose = 'main' AND owner_id LIKE 'CUS\_%'
		GROUP BY currency ORDER BY currency`, business).Scan(ctx, &rows)
	out := make([]postgres.CurrencyBalance, len(rows))
	for i, r := range rows {
		out[i].Currency = r.Currency
		out[i].Balance = ledger.Balance{DebitsPosted: r.DebitsPosted, CreditsPosted: r.CreditsPosted,
			DebitsPending: r.DebitsPending, CreditsPending: r.CreditsPending}
	}
	return out, err
}

// customerCounts counts a business's customers by status.
type customerCounts struct {
	Total, Active, Suspended, Closed int
}

func countCustomers(ctx context.Context, db bun.IDB, business string) (customerCounts, error) {
	var rows []struct {
		Status string
		N      int
	}
	err := db.NewRaw(`SELECT status, count(*) AS n FROM customers WHERE business_id = ? GROUP BY status`, business).Scan(ctx, &rows)
	var c customerCounts
	for _, r := range rows {
		c.Total += r.N
		switch ledger.CustomerStatus(r.Status) {
		case ledger.CustomerActive:
			c.Active = r.N
		case ledger.CustomerSuspended:
			c.Suspended = r.N
		case ledger.CustomerClosed:
			c.Closed = r.N
		}
	}
	return c, err
}

type payoutItem struct {
	ID            string
	ProfileID     string
	Status        string
	Currency      string
	Network       string
	Address       string
	Amount        decimal.Decimal
	Fee           decimal.Decimal
	FailureReason string
	CreatedAt     time.Time
}

type depositItem struct {
	ID            string
	ProfileID     string
	Status        string
	Currency      string
	Network       string
	Amount        decimal.Decimal
	ToAddress     string
	TxHash        string
	Confirmations int
	CreatedAt     time.Time
}

type transferItem struct {
	ID            string
	FromProfileID string
	ToProfileID   string
	Status        string
	Currency      string
	Amount        decimal.Decimal
	Description   string
	CreatedAt     time.Time
}

type deliveryItem struct {
	ID             string
	EventID        string
	EventType      string
	EndpointID     string
	Status         string
	Attempts       int
	LastStatusCode *int
	LastError      string
	CreatedAt      time.Time
}

// page applies keyset pagination, newest first, to a business-wide select.
func page(q *bun.SelectQuery, after *ledger.Cursor, prefix string) *bun.SelectQuery {
	if after != nil {
		q = q.Where("("+prefix+"created_at, "+prefix+"id) < (?, ?)", after.CreatedAt, after.ID)
	}
	return q.OrderExpr(prefix + "created_at DESC, " + prefix + "id DESC").Limit(listLimit + 1)
}

func listPayouts(ctx context.Context, db bun.IDB, business, status string, after *ledger.Cursor) ([]payoutItem, error) {
	var out []payoutItem
	q := db.NewSelect().Table("payouts").Column("id", "profile_id", "status", "currency", "network", "address", "amount", "fee", "created_at").
		ColumnExpr("coalesce(failure_reason, '') AS failure_reason").Where("business_id = ?", business)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	err := page(q, after, "").Scan(ctx, &out)
	return out, err
}

func listDeposits(ctx context.Context, db bun.IDB, business string, after *ledger.Cursor) ([]depositItem, error) {
	var out []depositItem
	q := db.NewSelect().Table("deposits").Column("id", "profile_id", "status", "currency", "network", "amount", "to_address",
		"tx_hash", "confirmations", "created_at").Where("business_id = ?", business)
	err := page(q, after, "").Scan(ctx, &out)
	return out, err
}

func listTransfers(ctx context.Context, db bun.IDB, business string, after *ledger.Cursor) ([]transferItem, error) {
	var out []transferItem
	q := db.NewSelect().Table("transfers").Column("id", "from_profile_id", "to_profile_id", "status", "currency", "amount", "created_at").
		ColumnExpr("coalesce(description, '') AS description").Where("business_id = ?", business)
	err := page(q, after, "").Scan(ctx, &out)
	return out, err
}

func listDeliveries(ctx context.Context, db bun.IDB, business string) ([]deliveryItem, error) {
	var out []deliveryItem
	err := db.NewSelect().TableExpr("webhook_deliveries AS d").
		Join("JOIN events AS e ON e.business_id = d.business_id AND e.id = d.event_id").
		ColumnExpr("d.id, d.event_id, e.type AS event_type, d.endpoint_id, d.status, d.attempts, d.last_status_code").
		ColumnExpr("coalesce(d.last_error, '') AS last_error, d.created_at").
		Where("d.business_id = ?", business).OrderExpr("d.created_at DESC, d.id DESC").Limit(listLimit).Scan(ctx, &out)
	return out, err
}

// encodeCursor and decodeCursor make the opaque cursor of a list link.
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + id))
}

func decodeCursor(s string) *ledger.Cursor {
	if s == "" || len(s) > 200 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || id == "" {
		return nil
	}
	return &ledger.Cursor{CreatedAt: t, ID: id}
}

// trim cuts a list fetched with one extra row to the page and returns the cursor
// of the next page ("" when this is the last).
func trim[T any](items []T, limit int, key func(T) (time.Time, string)) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	t, id := key(items[limit-1])
	return items, encodeCursor(t, id)
}
