package api

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

func (s *Server) walletRoutes(v1 fiber.Router) {
	v1.Post("/customers/:id/wallets", s.createWallet)
	v1.Get("/customers/:id/wallets", s.listWallets)
	v1.Delete("/customers/:id/wallets/:wallet_id", s.deleteWallet)
}

type walletDTO struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	CustomerID string  `json:"customer_id"`
	ProfileID  string  `json:"profile_id"`
	Network    string  `json:"network"`
	Address    string  `json:"address"`
	Label      *string `json:"label"`
	CreatedAt  string  `json:"created_at"`
}

func toWalletDTO(w ledger.Wallet) walletDTO {
	return walletDTO{ID: w.ID, Object: "wallet", CustomerID: w.Customer, ProfileID: w.Customer, Network: w.Network,
		Address: w.Address, Label: strPtr(w.Label), CreatedAt: rfc3339(w.CreatedAt)}
}

type walletRequest struct {
	Network *string `json:"network"`
	Address *string `json:"address"`
	Label   *string `json:"label"`
}

func walletField(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// createWallet registers an address the customer owns (API.md §4). The customer
// is looked up before the body is judged, so another business's customer is 404
// whatever the body says; a closed customer takes no new wallets (409
// invalid_state).
func (s *Server) createWallet(c *fiber.Ctx) error {
	var req walletRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, _ := principalFrom(c)
	id := strings.Clone(c.Params("id"))
	return s.write(c, fiber.StatusCreated, "Wallet created", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		cust, err := tx.FindCustomer(ctx, p.business.ID, id, true)
		if err != nil {
			return nil, err
		}
		ch.customer = cust.ID
		if cust.Status == ledger.CustomerClosed {
			return nil, ledger.Errorf(ledger.CodeInvalidState, "customer %s is closed and cannot take new wallets", cust.ID)
		}
		w, err := ledger.NewWallet(p.business.ID, cust.ID, walletField(req.Network), walletField(req.Address), walletField(req.Label), nowMicro())
		if err != nil {
			return nil, err
		}
		if err := tx.CreateWallet(ctx, w); err != nil {
			return nil, err
		}
		return toWalletDTO(w), nil
	})
}

// listWallets lists one customer's wallets, newest first.
func (s *Server) listWallets(c *fiber.Ctx) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	p, _ := principalFrom(c)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	cust, err := s.store.FindCustomer(ctx, p.business.ID, c.Params("id"))
	if err != nil {
		return err
	}
	ws, err := s.store.FindWallets(ctx, p.business.ID, cust.ID, page)
	if err != nil {
		return err
	}
	ws, next := pageAt(ws, page.Limit, func(i int) (time.Time, string) { return ws[i].CreatedAt, ws[i].ID })
	out := make([]walletDTO, len(ws))
	for i, w := range ws {
		out[i] = toWalletDTO(w)
	}
	return okList(c, "Wallets retrieved", out, page.Limit, next)
}

// deleteWallet removes a wallet (204). It works on closed customers too, so an
// address can be moved to another customer.
func (s *Server) deleteWallet(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	id, walletID := strings.Clone(c.Params("id")), strings.Clone(c.Params("wallet_id"))
	return s.write(c, fiber.StatusNoContent, "Wallet removed", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		cust, err := tx.FindCustomer(ctx, p.business.ID, id, true)
		if err != nil {
			return nil, err
		}
		ch.customer = cust.ID
		_, err = tx.DeleteWallet(ctx, p.business.ID, cust.ID, walletID)
		return nil, err
	})
}
