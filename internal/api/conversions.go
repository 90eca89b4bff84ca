package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

type quoteDTO struct {
	ID             string `json:"id"`
	ProfileID      string `json:"profile_id"`
	SourceCurrency string `json:"source_currency"`
	TargetCurrency string `json:"target_currency"`
	SourceAmount   string `json:"source_amount"`
	TargetAmount   string `json:"target_amount"`
	Rate           string `json:"rate"`
	Fee            string `json:"fee"`
	FeeCurrency    string `json:"fee_currency"`
	ExpiresAt      string `json:"expires_at"`
	Used           bool   `json:"used"`
	CreatedAt      string `json:"created_at"`
}

func toQuoteDTO(cs ledger.Currencies, q ledger.Quote) quoteDTO {
	return quoteDTO{ID: q.ID, ProfileID: q.ProfileID, SourceCurrency: q.SourceCurrency, TargetCurrency: q.TargetCurrency,
		SourceAmount: cs[q.SourceCurrency].Format(q.SourceAmount), TargetAmount: cs[q.TargetCurrency].Format(q.TargetAmount),
		Rate: q.Rate.String(), Fee: cs[q.TargetCurrency].Format(q.Fee), FeeCurrency: q.TargetCurrency,
		ExpiresAt: rfc3339(q.ExpiresAt), Used: q.UsedAt != nil, CreatedAt: rfc3339(q.CreatedAt)}
}

type quoteRequest struct {
	SourceCurrency string  `json:"source_currency"`
	TargetCurrency string  `json:"target_currency"`
	SourceAmount   *string `json:"source_amount"`
	TargetAmount   *string `json:"target_amount"`
}

func (s *Server) createQuote(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	var req quoteRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	var errs ledger.FieldErrors
	src, err := cs.Get(req.SourceCurrency, "source_currency")
	errs.AddErr("source_currency", err)
	dst, err := cs.Get(req.TargetCurrency, "target_currency")
	errs.AddErr("target_currency", err)
	if src.Code != "" && src.Code == dst.Code {
		errs.Add(ledger.CodeValidation, "target_currency", "target_currency must differ from source_currency")
	}
	var srcAmt, dstAmt *decimal.Decimal
	switch {
	case (req.SourceAmount == nil) == (req.TargetAmount == nil):
		errs.Add(ledger.CodeValidation, "source_amount", "send exactly one of source_amount and target_amount")
	case req.SourceAmount != nil && src.Code != "":
		v, err := src.ParseAmount(*req.SourceAmount)
		errs.AddErr("source_amount", err)
		srcAmt = &v
	case req.TargetAmount != nil && dst.Code != "":
		v, err := dst.ParseAmount(*req.TargetAmount)
		errs.AddErr("target_amount", err)
		dstAmt = &v
	}
	if err := errs.Err(); err != nil {
		return err
	}
	return s.write(c, fiber.StatusCreated, "Quote created", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		rate, err := tx.FindRate(ctx, src.Code, dst.Code)
		if err != nil {
			return nil, err
		}
		q, err := ledger.PriceQuote(rate, src, dst, srcAmt, dstAmt)
		if err != nil {
			return nil, err
		}
		q.ID, q.Business, q.ProfileID, q.CreatedAt = ledger.NewID(ledger.PrefixQuote), sc.Business.ID, sc.ProfileID(), nowUTC()
		q.ExpiresAt = q.CreatedAt.Add(s.cfg.QuoteTTL)
		return toQuoteDTO(cs, q), tx.CreateQuote(ctx, q)
	})
}

func (s *Server) getQuote(c *fiber.Ctx) error {
	return scopedGet(s, c, "Quote retrieved", s.store.FindQuote, toQuoteDTO)
}

type conversionDTO struct {
	ID             string `json:"id"`
	ProfileID      string `json:"profile_id"`
	QuoteID        string `json:"quote_id"`
	Status         string `json:"status"`
	SourceCurrency string `json:"source_currency"`
	TargetCurrency string `json:"target_currency"`
	SourceAmount   string `json:"source_amount"`
	TargetAmount   string `json:"target_amount"`
	Rate           string `json:"rate"`
	Fee            string `json:"fee"`
	CreatedAt      string `json:"created_at"`
}

func toConversionDTO(cs ledger.Currencies, v ledger.Conversion) conversionDTO {
	return conversionDTO{ID: v.ID, ProfileID: v.ProfileID, QuoteID: v.QuoteID, Status: v.Status,
		SourceCurrency: v.SourceCurrency, TargetCurrency: v.TargetCurrency,
		SourceAmount: cs[v.SourceCurrency].Format(v.SourceAmount), TargetAmount: cs[v.TargetCurrency].Format(v.TargetAmount),
		Rate: v.Rate.String(), Fee: cs[v.TargetCurrency].Format(v.Fee), CreatedAt: rfc3339(v.CreatedAt)}
}

type conversionRequest struct {
	QuoteID string `json:"quote_id"`
}

func (s *Server) createConversion(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	var req conversionRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.QuoteID == "" {
		return ledger.ParamErrorf(ledger.CodeValidation, "quote_id", "quote_id is required")
	}
	if err := sc.CanDebit(); err != nil {
		return err
	}
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	return s.write(c, fiber.StatusCreated, "Conversion completed", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		v, err := tx.Convert(ctx, sc.Business.ID, sc.ProfileID(), req.QuoteID)
		if err != nil {
			return nil, err
		}
		dto := toConversionDTO(cs, v)
		return dto, tx.Event(ctx, sc.Business.ID, "conversion.completed", v.ProfileID, dto)
	})
}

func (s *Server) listConversions(c *fiber.Ctx) error {
	return scopedList(s, c, "Conversions retrieved", s.store.ListConversions,
		func(v ledger.Conversion) (time.Time, string) { return v.CreatedAt, v.ID }, toConversionDTO)
}

func (s *Server) getConversion(c *fiber.Ctx) error {
	return scopedGet(s, c, "Conversion retrieved", s.store.FindConversion, toConversionDTO)
}
