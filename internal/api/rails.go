package api

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// railRoutes registers the rail API (API.md §6–7): what a money rail calls to
// report deposits and settle payouts. Only rail keys (rk_…) may call it.
func (s *Server) railRoutes(app *fiber.App) {
	r := app.Group("/v1/rails", s.railAuth, s.hygiene)
	r.Post("/deposits", s.railDeposit)
	r.Get("/deposits", s.railUnmatchedDeposits)
	r.Get("/payouts", s.railPayouts)
	r.Post("/payouts/:id/processing", s.railPayoutStep(postgres.PayoutTransition{To: ledger.PayoutProcessing}, "Payout processing"))
	r.Post("/payouts/:id/complete", s.railPayoutStep(postgres.PayoutTransition{To: ledger.PayoutCompleted}, "Payout completed"))
	r.Post("/payouts/:id/fail", s.railPayoutStep(postgres.PayoutTransition{To: ledger.PayoutFailed}, "Payout failed"))
	// Anything else under /v1/rails is an unknown route, not a business route.
	r.Use(func(c *fiber.Ctx) error { return fiber.ErrNotFound })
}

// railAuth accepts rail keys only; a valid business credential is forbidden here.
func (s *Server) railAuth(c *fiber.Ctx) error {
	bearer, found := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	bearer = strings.TrimSpace(bearer)
	if !found || bearer == "" {
		return ledger.Errorf(ledger.CodeUnauthenticated, "missing credential: send Authorization: Bearer <rail key>")
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	if strings.HasPrefix(bearer, "rk_") {
		id, err := s.store.AuthenticateRail(ctx, bearer)
		if err != nil {
			return err
		}
		c.Locals(keyPrincipal, &principal{keyID: id, rail: true})
		return c.Next()
	}
	if strings.HasPrefix(bearer, "sk_") {
		if _, err := s.store.Authenticate(ctx, bearer); err != nil {
			return err
		}
	}
	return ledger.Errorf(ledger.CodeForbidden, "rail endpoints need a rail key (rk_…)")
}

func (s *Server) railDeposit(c *fiber.Ctx) error {
	var req depositRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	r, err := req.report(cs, false)
	if err != nil {
		return err
	}
	return s.reportDeposit(c, cs, r)
}

// railUnmatchedDeposits lists deposits to addresses nobody owns (operator only).
func (s *Server) railUnmatchedDeposits(c *fiber.Ctx) error {
	if st := c.Query("status", ledger.DepositUnmatched); st != ledger.DepositUnmatched {
		return ledger.ParamErrorf(ledger.CodeValidation, "status", "only status=unmatched can be listed here")
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
	items, err := s.store.ListUnmatchedDeposits(ctx, pg)
	if err != nil {
		return err
	}
	items, next := pageAt(items, pg.Limit, func(i int) (time.Time, string) { return items[i].CreatedAt, items[i].ID })
	out := make([]depositDTO, len(items))
	for i, d := range items {
		out[i] = toDepositDTO(cs, d)
	}
	return okList(c, "Unmatched deposits retrieved", out, pg.Limit, next)
}

func (s *Server) railPayouts(c *fiber.Ctx) error {
	return s.payoutList(c, "", "", c.Query("status"))
}

type railPayoutRequest struct {
	TxHash        string `json:"tx_hash"`
	FailureReason string `json:"failure_reason"`
}

// railPayoutStep returns the handler of one rail-driven payout transition.
func (s *Server) railPayoutStep(tr postgres.PayoutTransition, message string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var req railPayoutRequest
		if len(c.Body()) > 0 {
			if err := decode(c, &req); err != nil {
				return err
			}
		}
		step := tr
		switch tr.To {
		case ledger.PayoutCompleted:
			if len(req.TxHash) > 128 {
				return ledger.ParamErrorf(ledger.CodeValidation, "tx_hash", "tx_hash must be at most 128 characters")
			}
			step.TxHash = req.TxHash
		case ledger.PayoutFailed:
			if len(req.FailureReason) > 500 {
				return ledger.ParamErrorf(ledger.CodeValidation, "failure_reason", "failure_reason must be at most 500 characters")
			}
			step.FailureReason = req.FailureReason
			if step.FailureReason == "" {
				step.FailureReason = "rejected by the rail"
			}
		}
		return s.advancePayout(c, "", "", c.Params("id"), step, message)
	}
}
