package api

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/internal/rails"
	"github.com/tallyhq/tally/ledger"
)

// AddressProvider derives deposit addresses (DESIGN.md §6).
type AddressProvider interface {
	Address(network, id string) (string, error)
}

func (s *Server) addressProvider() AddressProvider {
	if s.addresses != nil {
		return s.addresses
	}
	return rails.Sandbox{}
}

type depositAddressDTO struct {
	ID        string `json:"id"`
	ProfileID string `json:"profile_id"`
	Currency  string `json:"currency"`
	Network   string `json:"network"`
	Address   string `json:"address"`
	CreatedAt string `json:"created_at"`
}

func toDepositAddressDTO(a ledger.DepositAddress) depositAddressDTO {
	return depositAddressDTO{ID: a.ID, ProfileID: a.ProfileID, Currency: a.Currency, Network: a.Network,
		Address: a.Address, CreatedAt: rfc3339(a.CreatedAt)}
}

type depositAddressRequest struct {
	Currency string `json:"currency"`
	Network  string `json:"network"`
}

func (s *Server) createDepositAddress(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	var req depositAddressRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	if req.Currency == "" {
		return ledger.ParamErrorf(ledger.CodeValidation, "currency", "currency is required")
	}
	cur, err := cs.Get(req.Currency, "currency")
	if err != nil {
		return err
	}
	if req.Network == "" && len(cur.Networks) == 1 {
		req.Network = cur.Networks[0].Name
	}
	if req.Network == "" {
		return ledger.ParamErrorf(ledger.CodeValidation, "network", "network is required for %s", cur.Code)
	}
	if _, _, err := cs.GetNetwork(cur.Code, req.Network); err != nil {
		return err
	}
	if sc.Customer != nil && sc.Customer.Status == ledger.CustomerClosed {
		return ledger.Errorf(ledger.CodeProfileInactive, "customer %s is closed", sc.Customer.ID)
	}
	a := ledger.DepositAddress{ID: ledger.NewID(ledger.PrefixAddress), Business: sc.Business.ID, ProfileID: sc.ProfileID(),
		Currency: cur.Code, Network: req.Network, CreatedAt: nowUTC()}
	if a.Address, err = s.addressProvider().Address(a.Network, a.ID); err != nil {
		return err
	}
	return s.write(c, fiber.StatusCreated, "Deposit address created", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		return toDepositAddressDTO(a), tx.CreateDepositAddress(ctx, a)
	})
}

func (s *Server) listDepositAddresses(c *fiber.Ctx) error {
	return scopedList(s, c, "Deposit addresses retrieved", s.store.ListDepositAddresses,
		func(a ledger.DepositAddress) (time.Time, string) { return a.CreatedAt, a.ID },
		func(_ ledger.Currencies, a ledger.DepositAddress) depositAddressDTO { return toDepositAddressDTO(a) })
}

type depositDTO struct {
	ID                    string  `json:"id"`
	ProfileID             *string `json:"profile_id"`
	Status                string  `json:"status"`
	Currency              string  `json:"currency"`
	Network               string  `json:"network"`
	Amount                string  `json:"amount"`
	ToAddress             string  `json:"to_address"`
	FromAddress           string  `json:"from_address"`
	TxHash                string  `json:"tx_hash"`
	OutputIndex           int     `json:"output_index"`
	Confirmations         int     `json:"confirmations"`
	RequiredConfirmations int     `json:"required_confirmations"`
	CreatedAt             string  `json:"created_at"`
	UpdatedAt             string  `json:"updated_at"`
	CompletedAt           *string `json:"completed_at"`
}

func toDepositDTO(cs ledger.Currencies, d ledger.Deposit) depositDTO {
	return depositDTO{ID: d.ID, ProfileID: strPtr(d.ProfileID), Status: d.Status, Currency: d.Currency, Network: d.Network,
		Amount: cs[d.Currency].Format(d.Amount), ToAddress: d.ToAddress, FromAddress: d.FromAddress, TxHash: d.TxHash,
		OutputIndex: d.OutputIndex, Confirmations: d.Confirmations, RequiredConfirmations: d.RequiredConfirmations,
		CreatedAt: rfc3339(d.CreatedAt), UpdatedAt: rfc3339(d.UpdatedAt), CompletedAt: rfc3339Ptr(d.CompletedAt)}
}

func (s *Server) listDeposits(c *fiber.Ctx) error {
	return scopedList(s, c, "Deposits retrieved", s.store.ListDeposits,
		func(d ledger.Deposit) (time.Time, string) { return d.CreatedAt, d.ID }, toDepositDTO)
}

func (s *Server) getDeposit(c *fiber.Ctx) error {
	return scopedGet(s, c, "Deposit retrieved", s.store.FindDeposit, toDepositDTO)
}

// depositRequest is the body of a rail's deposit report and of a sandbox deposit.
type depositRequest struct {
	Network       string  `json:"network"`
	Currency      string  `json:"currency"`
	Amount        string  `json:"amount"`
	ToAddress     string  `json:"to_address"`
	TxHash        string  `json:"tx_hash"`
	OutputIndex   *int    `json:"output_index"`
	Confirmations *int    `json:"confirmations"`
	FromAddress   *string `json:"from_address"`
}

// report validates a deposit report and turns it into the store's form.
func (r depositRequest) report(cs ledger.Currencies, sandbox bool) (postgres.DepositReport, error) {
	var errs ledger.FieldErrors
	out := postgres.DepositReport{Network: r.Network, ToAddress: strings.TrimSpace(r.ToAddress), TxHash: strings.TrimSpace(r.TxHash)}
	cur, net, err := cs.GetNetwork(r.Currency, r.Network)
	if r.Currency == "" {
		errs.Add(ledger.CodeValidation, "currency", "currency is required")
	} else if r.Network == "" {
		errs.Add(ledger.CodeValidation, "network", "network is required")
	} else if err != nil {
		errs.AddErr(ledger.ErrorParam(err), err)
	}
	out.Currency = cur
	if r.Amount == "" {
		errs.Add(ledger.CodeValidation, "amount", "amount is required")
	} else if cur.Code != "" {
		amt, err := cur.ParseAmount(r.Amount)
		errs.AddErr("amount", err)
		out.Amount = amt
	}
	if out.ToAddress == "" || len(out.ToAddress) > 128 {
		errs.Add(ledger.CodeValidation, "to_address", "to_address is required (at most 128 characters)")
	}
	if out.TxHash == "" && sandbox {
		out.TxHash = "sandbox_" + strings.ToLower(ledger.NewID(""))
	}
	if out.TxHash == "" || len(out.TxHash) > 128 {
		errs.Add(ledger.CodeValidation, "tx_hash", "tx_hash is required (at most 128 characters)")
	}
	if r.OutputIndex != nil {
		if *r.OutputIndex < 0 || *r.OutputIndex > 1_000_000 {
			errs.Add(ledger.CodeValidation, "output_index", "output_index must be from 0 to 1000000")
		}
		out.OutputIndex = *r.OutputIndex
	}
	switch {
	case r.Confirmations != nil && (*r.Confirmations < 0 || *r.Confirmations > 1_000_000):
		errs.Add(ledger.CodeValidation, "confirmations", "confirmations must be from 0 to 1000000")
	case r.Confirmations != nil:
		out.Confirmations = *r.Confirmations
	case sandbox:
		out.Confirmations = net.Confirmations // a sandbox deposit confirms at once unless told otherwise
	default:
		errs.Add(ledger.CodeValidation, "confirmations", "confirmations is required")
	}
	if r.FromAddress != nil {
		if len(*r.FromAddress) > 128 {
			errs.Add(ledger.CodeValidation, "from_address", "from_address must be at most 128 characters")
		}
		out.FromAddress = strings.TrimSpace(*r.FromAddress)
	}
	return out, errs.Err()
}

// sandboxDeposit lets a sandbox business simulate a rail's deposit report to one
// of its own deposit addresses.
func (s *Server) sandboxDeposit(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	if sc.Business.Mode != ledger.ModeSandbox {
		return ledger.Errorf(ledger.CodeForbidden, "simulated deposits are only for sandbox businesses")
	}
	var req depositRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	r, err := req.report(cs, true)
	if err != nil {
		return err
	}
	r.OnlyBusiness = sc.Business.ID
	return s.reportDeposit(c, cs, r)
}

// reportDeposit books a report: 201 for a new deposit, 200 with the current state
// for a known one.
func (s *Server) reportDeposit(c *fiber.Ctx, cs ledger.Currencies, r postgres.DepositReport) error {
	return s.write(c, fiber.StatusCreated, "Deposit recorded", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		out, err := tx.ReportDeposit(ctx, r)
		if err != nil {
			return nil, err
		}
		d := out.Deposit
		dto := toDepositDTO(cs, d)
		if !out.Created {
			ch.status, ch.message = fiber.StatusOK, "Deposit already recorded"
		}
		if strings.HasPrefix(d.ProfileID, ledger.PrefixCustomer) {
			ch.customer, ch.business = d.ProfileID, d.Business
		}
		if out.Event != "" {
			if err := tx.Event(ctx, d.Business, out.Event, d.ProfileID, dto); err != nil {
				return nil, err
			}
		}
		return dto, nil
	})
}

// pageOf trims a limit+1 result to the page and returns the next cursor.
func pageOf[T any](items []T, limit int, key func(T) (time.Time, string)) ([]T, string) {
	return pageAt(items, limit, func(i int) (time.Time, string) { return key(items[i]) })
}

// pageAt is pageOf with the keyset position of row i given by index.
func pageAt[T any](items []T, limit int, key func(i int) (time.Time, string)) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	return items[:limit], encodeCursor(key(limit - 1))
}

func nowUTC() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
