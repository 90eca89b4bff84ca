package postgres

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/ledger"
)

type quoteRow struct {
	bun.BaseModel  `bun:"table:quotes"`
	BusinessID     string          `bun:"business_id,pk"`
	ID             string          `bun:"id,pk"`
	ProfileID      string          `bun:"profile_id"`
	SourceCurrency string          `bun:"source_currency"`
	TargetCurrency string          `bun:"target_currency"`
	SourceAmount   decimal.Decimal `bun:"source_amount,type:numeric"`
	TargetAmount   decimal.Decimal `bun:"target_amount,type:numeric"`
	Rate           decimal.Decimal `bun:"rate,type:numeric"`
	Fee            decimal.Decimal `bun:"fee,type:numeric"`
	ExpiresAt      time.Time       `bun:"expires_at"`
	UsedAt         *time.Time      `bun:"used_at"`
	CreatedAt      time.Time       `bun:"created_at"`
}

func (r quoteRow) domain() ledger.Quote {
	return ledger.Quote{ID: r.ID, Business: r.BusinessID, ProfileID: r.ProfileID, SourceCurrency: r.SourceCurrency,
		TargetCurrency: r.TargetCurrency, SourceAmount: r.SourceAmount, TargetAmount: r.TargetAmount, Rate: r.Rate,
		Fee: r.Fee, ExpiresAt: r.ExpiresAt.UTC(), UsedAt: r.UsedAt, CreatedAt: r.CreatedAt.UTC()}
}

// CreateQuote stores a priced quote.
func (t *Tx) CreateQuote(ctx context.Context, q ledger.Quote) error {
	r := quoteRow{BusinessID: q.Business, ID: q.ID, ProfileID: q.ProfileID, SourceCurrency: q.SourceCurrency,
		TargetCurrency: q.TargetCurrency, SourceAmount: q.SourceAmount, TargetAmount: q.TargetAmount, Rate: q.Rate,
		Fee: q.Fee, ExpiresAt: q.ExpiresAt, CreatedAt: q.CreatedAt}
	_, err := t.tx.NewInsert().Model(&r).Exec(ctx)
	return translate(err)
}

// FindQuote returns one quote of a profile.
func (s *Store) FindQuote(ctx context.Context, business, profile, id string) (ledger.Quote, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.Quote, error) {
		var r quoteRow
		err := s.q.NewSelect().Model(&r).Where("business_id = ? AND profile_id = ? AND id = ?", business, profile, id).Scan(ctx)
		if err != nil {
			return ledger.Quote{}, notFound(err, "quote", id)
		}
		return r.domain(), nil
	})
}

type conversionRow struct {
	bun.BaseModel  `bun:"table:conversions"`
	BusinessID     string          `bun:"business_id,pk"`
	ID             string          `bun:"id,pk"`
	ProfileID      string          `bun:"profile_id"`
	QuoteID        string          `bun:"quote_id"`
	Status         string          `bun:"status"`
	SourceCurrency string          `bun:"source_currency"`
	TargetCurrency string          `bun:"target_currency"`
	SourceAmount   decimal.Decimal `bun:"source_amount,type:numeric"`
	TargetAmount   decimal.Decimal `bun:"target_amount,type:numeric"`
	Rate           decimal.Decimal `bun:"rate,type:numeric"`
	Fee            decimal.Decimal `bun:"fee,type:numeric"`
	EntryID        string          `bun:"entry_id"`
	CreatedAt      time.Time       `bun:"created_at"`
}

func (r conversionRow) domain() ledger.Conversion {
	return ledger.Conversion{ID: r.ID, Business: r.BusinessID, ProfileID: r.ProfileID, QuoteID: r.QuoteID, Status: r.Status,
		SourceCurrency: r.SourceCurrency, TargetCurrency: r.TargetCurrency, SourceAmount: r.SourceAmount,
		TargetAmount: r.TargetAmount, Rate: r.Rate, Fee: r.Fee, EntryID: r.EntryID, CreatedAt: r.CreatedAt.UTC()}
}

// Convert executes a quote of the profile exactly once, as one balanced entry
// through the business's fx accounts: the source amount leaves the profile into fx
// (source currency) and the target amount leaves fx into the profile (target
// currency). A used quote is quote_used; an expired one quote_expired.
func (t *Tx) Convert(ctx context.Context, business, profile, quoteID string) (ledger.Conversion, error) {
	var r quoteRow
	err := t.tx.NewSelect().Model(&r).Where("business_id = ? AND profile_id = ? AND id = ?", business, profile, quoteID).
		For("UPDATE").Scan(ctx)
	if err != nil {
		e := notFound(err, "quote", quoteID)
		if le, ok := e.(*ledger.Error); ok {
			le.Param = "quote_id"
		}
		return ledger.Conversion{}, e
	}
	q := r.domain()
	now := now()
	switch {
	case q.UsedAt != nil:
		return ledger.Conversion{}, ledger.ParamErrorf(ledger.CodeQuoteUsed, "quote_id", "quote %s was already used", q.ID)
	case !now.Before(q.ExpiresAt):
		return ledger.Conversion{}, ledger.ParamErrorf(ledger.CodeQuoteExpired, "quote_id", "quote %s expired at %s", q.ID, q.ExpiresAt.Format(time.RFC3339))
	}
	c := ledger.Conversion{ID: ledger.NewID(ledger.PrefixConversion), Business: business, ProfileID: profile, QuoteID: q.ID,
		Status: "completed", SourceCurrency: q.SourceCurrency, TargetCurrency: q.TargetCurrency, SourceAmount: q.SourceAmount,
		TargetAmount: q.TargetAmount, Rate: q.Rate, Fee: q.Fee, CreatedAt: now}
	e := ledger.Entry{ID: ledger.NewID(ledger.PrefixEntry), Business: business, Kind: "conversion", Phase: ledger.PhasePosted,
		ResourceID: c.ID, Description: "Conversion " + q.SourceCurrency + " to " + q.TargetCurrency, CreatedAt: now,
		Postings: []ledger.Posting{
			{Debit: ledger.ProfileAccount(profile, q.SourceCurrency), Credit: ledger.BusinessAccount(business, ledger.PurposeFX, q.SourceCurrency),
				Amount: q.SourceAmount, Type: ledger.LineConversion},
			{Debit: ledger.BusinessAccount(business, ledger.PurposeFX, q.TargetCurrency), Credit: ledger.ProfileAccount(profile, q.TargetCurrency),
				Amount: q.TargetAmount, Type: ledger.LineConversion},
		}}
	if _, err := t.Record(ctx, e); err != nil {
		return c, err
	}
	c.EntryID = e.ID
	if _, err := t.tx.NewUpdate().Model((*quoteRow)(nil)).Set("used_at = ?", now).
		Where("business_id = ? AND id = ?", business, q.ID).Exec(ctx); err != nil {
		return c, translate(err)
	}
	row := conversionRow{BusinessID: business, ID: c.ID, ProfileID: profile, QuoteID: q.ID, Status: c.Status,
		SourceCurrency: c.SourceCurrency, TargetCurrency: c.TargetCurrency, SourceAmount: c.SourceAmount,
		TargetAmount: c.TargetAmount, Rate: c.Rate, Fee: c.Fee, EntryID: c.EntryID, CreatedAt: now}
	_, err = t.tx.NewInsert().Model(&row).Exec(ctx)
	return c, translate(err)
}

// FindConversion returns one conversion of a profile.
func (s *Store) FindConversion(ctx context.Context, business, profile, id string) (ledger.Conversion, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.Conversion, error) {
		var r conversionRow
		err := s.q.NewSelect().Model(&r).Where("business_id = ? AND profile_id = ? AND id = ?", business, profile, id).Scan(ctx)
		if err != nil {
			return ledger.Conversion{}, notFound(err, "conversion", id)
		}
		return r.domain(), nil
	})
}

// ListConversions pages through a profile's conversions.
func (s *Store) ListConversions(ctx context.Context, business, profile string, p ledger.Page) ([]ledger.Conversion, error) {
	return readAs(ctx, s, business, func(s *Store) ([]ledger.Conversion, error) {
		var rows []conversionRow
		err := scanOnce(ctx, s.raw, s.db, keyset(s.q.NewSelect().Model(&rows).Where("business_id = ? AND profile_id = ?", business, profile), p), &rows)
		out := make([]ledger.Conversion, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, translate(err)
	})
}
