package api

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

type beneficiaryDTO struct {
	Name        string `json:"name"`
	Address     string `json:"address"`
	Country     string `json:"country"`
	Institution string `json:"institution"`
}

type payoutDTO struct {
	ID            string            `json:"id"`
	ProfileID     string            `json:"profile_id"`
	Status        string            `json:"status"`
	Currency      string            `json:"currency"`
	Network       string            `json:"network"`
	Amount        string            `json:"amount"`
	Fee           string            `json:"fee"`
	Total         string            `json:"total"`
	Address       string            `json:"address"`
	WalletID      *string           `json:"wallet_id"`
	Beneficiary   *beneficiaryDTO   `json:"beneficiary"`
	TxHash        *string           `json:"tx_hash"`
	FailureReason *string           `json:"failure_reason"`
	Reference     *string           `json:"reference"`
	Description   *string           `json:"description"`
	Metadata      map[string]string `json:"metadata"`
	CreatedAt     string            `json:"created_at"`
	UpdatedAt     string            `json:"updated_at"`
}

func toPayoutDTO(cs ledger.Currencies, p ledger.Payout) payoutDTO {
	cur := cs[p.Currency]
	d := payoutDTO{ID: p.ID, ProfileID: p.ProfileID, Status: p.Status, Currency: p.Currency, Network: p.Network,
		Amount: cur.Format(p.Amount), Fee: cur.Format(p.Fee), Total: cur.Format(p.Total()), Address: p.Address,
		WalletID: strPtr(p.WalletID), TxHash: strPtr(p.TxHash), FailureReason: strPtr(p.FailureReason),
		Reference: strPtr(p.Reference), Description: strPtr(p.Description), Metadata: p.Metadata,
		CreatedAt: rfc3339(p.CreatedAt), UpdatedAt: rfc3339(p.UpdatedAt)}
	if b := p.Beneficiary; b != nil {
		d.Beneficiary = &beneficiaryDTO{b.Name, b.Address, b.Country, b.Institution}
	}
	if d.Metadata == nil {
		d.Metadata = map[string]string{}
	}
	return d
}

type payoutRequest struct {
	Currency    string            `json:"currency"`
	Amount      string            `json:"amount"`
	Network     string            `json:"network"`
	Address     string            `json:"address"`
	WalletID    string            `json:"wallet_id"`
	Beneficiary *beneficiaryDTO   `json:"beneficiary"`
	Reference   string            `json:"reference"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

// validate checks a payout request's own fields and returns the payout it asks
// for; the rules that need the database (wallet, risk list, fee, funds) come after.
func (r payoutRequest) validate(cs ledger.Currencies, sc ledger.Scope) (ledger.Payout, ledger.Currency, error) {
	var errs ledger.FieldErrors
	p := ledger.Payout{ID: ledger.NewID(ledger.PrefixPayout), Business: sc.Business.ID, ProfileID: sc.ProfileID(),
		Reference: r.Reference, Description: r.Description, WalletID: r.WalletID}
	cur, err := cs.Get(r.Currency, "currency")
	if r.Currency == "" {
		errs.Add(ledger.CodeValidation, "currency", "currency is required")
	} else {
		errs.AddErr("currency", err)
	}
	p.Currency = cur.Code
	if r.Network == "" && len(cur.Networks) == 1 {
		r.Network = cur.Networks[0].Name
	}
	var net ledger.Network
	if cur.Code != "" {
		if r.Network == "" {
			errs.Add(ledger.CodeValidation, "network", "network is required for %s", cur.Code)
		} else if _, n, err := cs.GetNetwork(cur.Code, r.Network); err != nil {
			errs.AddErr("network", err)
		} else {
			net = n
		}
	}
	p.Network = r.Network
	if r.Amount == "" {
		errs.Add(ledger.CodeValidation, "amount", "amount is required")
	} else if cur.Code != "" {
		amt, err := cur.ParseAmount(r.Amount)
		errs.AddErr("amount", err)
		p.Amount = amt
	}
	switch {
	case r.Address == "" && r.WalletID == "":
		errs.Add(ledger.CodeValidation, "address", "address or wallet_id is required")
	case r.Address != "" && r.WalletID != "":
		errs.Add(ledger.CodeValidation, "wallet_id", "send either address or wallet_id, not both")
	case r.Address != "" && net.Name != "":
		addr, err := ledger.ValidateAddress(net.Name, r.Address)
		errs.AddErr("address", err)
		p.Address = addr
	}
	if len(r.Reference) > 255 {
		errs.Add(ledger.CodeValidation, "reference", "reference must be at most 255 characters")
	}
	if len(r.Description) > 1000 {
		errs.Add(ledger.CodeValidation, "description", "description must be at most 1000 characters")
	}
	if b := r.Beneficiary; b != nil {
		for param, v := range map[string]string{"beneficiary.name": b.Name, "beneficiary.address": b.Address,
			"beneficiary.institution": b.Institution} {
			if len(v) > 255 {
				errs.Add(ledger.CodeValidation, param, "%s must be at most 255 characters", param)
			}
		}
		country := strings.ToUpper(strings.TrimSpace(b.Country))
		if country != "" && !ledger.ValidCountry(country) {
			errs.Add(ledger.CodeValidation, "beneficiary.country", "beneficiary.country must be an ISO 3166-1 alpha-2 code")
		}
		p.Beneficiary = &ledger.Beneficiary{Name: strings.TrimSpace(b.Name), Address: b.Address, Country: country, Institution: b.Institution}
	}
	md, err := ledger.ValidateMetadata(r.Metadata)
	errs.AddErr("metadata", err)
	p.Metadata = md
	if err := errs.Err(); err != nil {
		return p, cur, err
	}
	// Business rules, in the order an integrator can act on them.
	if p.Amount.LessThan(net.MinPayout) {
		return p, cur, ledger.ParamErrorf(ledger.CodeBelowMinimum, "amount", "the minimum payout on %s is %s %s", net.Name, cur.Format(net.MinPayout), cur.Code)
	}
	if p.Amount.GreaterThanOrEqual(cur.TravelRuleThreshold) && (p.Beneficiary == nil || p.Beneficiary.Name == "") {
		return p, cur, ledger.ParamErrorf(ledger.CodeTravelRule, "beneficiary.name",
			"payouts of %s %s or more need beneficiary.name (travel rule)", cur.Format(cur.TravelRuleThreshold), cur.Code)
	}
	return p, cur, nil
}

func (s *Server) createPayout(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	var req payoutRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, cur, cs, err := s.validatePayout(c.UserContext(), sc, req)
	if err != nil {
		return err
	}
	return s.combine(c, sc, &moneyJob{kind: kindPayout, payout: p, scale: cur.Scale, cs: cs})
}

// validatePayout checks what a payout request can be judged on without the
// database: the paying profile may send, the fields are valid.
func (s *Server) validatePayout(ctx context.Context, sc ledger.Scope, req payoutRequest) (ledger.Payout, ledger.Currency, ledger.Currencies, error) {
	if err := sc.CanDebit(); err != nil {
		return ledger.Payout{}, ledger.Currency{}, nil, err
	}
	cs, err := s.currencies(ctx)
	if err != nil {
		return ledger.Payout{}, ledger.Currency{}, nil, err
	}
	p, cur, err := req.validate(cs, sc)
	return p, cur, cs, err
}

// PayoutForm is a payout request made outside the JSON API (the dashboard's form):
// the fields of POST /v1/payouts that a person types.
type PayoutForm struct {
	Currency, Amount, Network, Address, Reference, Description string
	BeneficiaryName, BeneficiaryCountry                        string
}

// PlacePayoutStep is the transactional half of a payout create: it holds amount and
// fee, stores the payout and writes its payout.pending event, and returns the
// payout as the API renders it.
type PlacePayoutStep func(ctx context.Context, tx *postgres.Tx) (any, error)

// PreparePayout validates f exactly as POST /v1/payouts validates its body
// (profile_inactive, currency, network, amount, address, minimum, travel rule) and
// returns the step that places it; the caller runs the step in its transaction.
func (s *Server) PreparePayout(ctx context.Context, sc ledger.Scope, f PayoutForm) (PlacePayoutStep, error) {
	req := payoutRequest{Currency: f.Currency, Amount: f.Amount, Network: f.Network, Address: f.Address,
		Reference: f.Reference, Description: f.Description}
	if f.BeneficiaryName != "" || f.BeneficiaryCountry != "" {
		req.Beneficiary = &beneficiaryDTO{Name: f.BeneficiaryName, Country: f.BeneficiaryCountry}
	}
	return s.preparePayout(ctx, sc, req)
}

// preparePayout checks a payout request's own fields and returns the step that
// applies the rules needing the database (wallet, risk list, fee, funds) and
// places the payout.
func (s *Server) preparePayout(ctx context.Context, sc ledger.Scope, req payoutRequest) (PlacePayoutStep, error) {
	p, cur, cs, err := s.validatePayout(ctx, sc, req)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *postgres.Tx) (any, error) {
		p := p // the transaction may be retried
		if p.WalletID != "" {
			addr, err := tx.WalletAddress(ctx, sc.Business.ID, sc.ProfileID(), p.WalletID, p.Network)
			if err != nil {
				return nil, err
			}
			p.Address = addr
		}
		risky, fee, err := tx.PayoutTerms(ctx, sc.Business.ID, cur.Code, p.Network, p.Address)
		if err != nil {
			return nil, err
		}
		if risky {
			return nil, ledger.ParamErrorf(ledger.CodeHighRiskAddress, "address", "the destination address is on the risk list")
		}
		p.Fee = fee.For(p.Amount, cur.Scale)
		if p, err = tx.CreatePayout(ctx, p); err != nil {
			return nil, err
		}
		dto := toPayoutDTO(cs, p)
		return dto, tx.Event(ctx, sc.Business.ID, "payout.pending", p.ProfileID, dto)
	}, nil
}

func (s *Server) listPayouts(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	return s.payoutList(c, sc.Business.ID, sc.ProfileID(), c.Query("status"))
}

// payoutList serves both a profile's list and the rail's (business "").
func (s *Server) payoutList(c *fiber.Ctx, business, profile, status string) error {
	if status != "" && !allowedPayoutStatus[status] {
		return ledger.ParamErrorf(ledger.CodeValidation, "status", "status must be pending, processing, completed, failed or cancelled")
	}
	pg, err := pageParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	cs, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	items, err := s.store.ListPayouts(ctx, business, profile, status, pg)
	if err != nil {
		return err
	}
	items, next := pageOf(items, pg.Limit, func(p ledger.Payout) (time.Time, string) { return p.CreatedAt, p.ID })
	out := make([]payoutDTO, len(items))
	for i, p := range items {
		out[i] = toPayoutDTO(cs, p)
	}
	return okList(c, "Payouts retrieved", out, pg.Limit, next)
}

var allowedPayoutStatus = map[string]bool{ledger.PayoutPending: true, ledger.PayoutProcessing: true,
	ledger.PayoutCompleted: true, ledger.PayoutFailed: true, ledger.PayoutCancelled: true}

func (s *Server) getPayout(c *fiber.Ctx) error {
	return scopedGet(s, c, "Payout retrieved", s.store.FindPayout, toPayoutDTO)
}

// cancelPayout cancels a pending payout and releases its hold in full.
func (s *Server) cancelPayout(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	return s.advancePayout(c, sc.Business.ID, sc.ProfileID(), c.Params("id"), postgres.PayoutTransition{To: ledger.PayoutCancelled}, "Payout cancelled")
}

// advancePayout applies one lifecycle step and writes its event.
func (s *Server) advancePayout(c *fiber.Ctx, business, profile, id string, tr postgres.PayoutTransition, message string) error {
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	return s.write(c, fiber.StatusOK, message, func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		p, dto, err := advancePayoutTx(ctx, tx, cs, business, profile, id, tr)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(p.ProfileID, ledger.PrefixCustomer) {
			ch.customer, ch.business = p.ProfileID, p.Business
		}
		return dto, nil
	})
}

// CancelPayout cancels a pending payout inside tx exactly as POST
// /v1/payouts/{id}/cancel does: the hold is released in full and payout.cancelled
// is written. profile "" matches any profile of business.
func (s *Server) CancelPayout(ctx context.Context, tx *postgres.Tx, business, profile, id string) (ledger.Payout, error) {
	cs, err := s.currencies(ctx)
	if err != nil {
		return ledger.Payout{}, err
	}
	p, _, err := advancePayoutTx(ctx, tx, cs, business, profile, id, postgres.PayoutTransition{To: ledger.PayoutCancelled})
	return p, err
}

func advancePayoutTx(ctx context.Context, tx *postgres.Tx, cs ledger.Currencies, business, profile, id string, tr postgres.PayoutTransition) (ledger.Payout, payoutDTO, error) {
	p, err := tx.AdvancePayout(ctx, business, profile, id, tr)
	if err != nil {
		return p, payoutDTO{}, err
	}
	dto := toPayoutDTO(cs, p)
	return p, dto, tx.Event(ctx, p.Business, "payout."+p.Status, p.ProfileID, dto)
}
