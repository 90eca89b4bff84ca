package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// moneyRoutes registers balances, history, deposits, payouts, transfers and
// conversions (API.md §5–7); p resolves X-BU-PROFILE-ID.
func (s *Server) moneyRoutes(v1, p fiber.Router) {
	v1.Get("/currencies", s.listCurrencies)
	p.Get("/balances", s.listBalances)
	p.Get("/balances/:currency", s.getBalance)
	p.Get("/transactions", s.listTransactions)
	p.Get("/transactions/export.csv", s.exportTransactions)

	p.Post("/deposit-addresses", s.createDepositAddress)
	p.Get("/deposit-addresses", s.listDepositAddresses)
	p.Get("/deposits", s.listDeposits)
	p.Get("/deposits/:id", s.getDeposit)
	p.Post("/sandbox/deposits", s.sandboxDeposit)

	p.Post("/payouts", s.createPayout)
	p.Get("/payouts", s.listPayouts)
	p.Get("/payouts/:id", s.getPayout)
	p.Post("/payouts/:id/cancel", s.cancelPayout)

	p.Post("/transfers", s.createTransfer)
	p.Post("/transfers/batch", s.createTransferBatch)
	p.Get("/transfers", s.listTransfers)
	p.Get("/transfers/:id", s.getTransfer)

	p.Post("/quotes", s.createQuote)
	p.Get("/quotes/:id", s.getQuote)
	p.Post("/conversions", s.createConversion)
	p.Get("/conversions", s.listConversions)
	p.Get("/conversions/:id", s.getConversion)
}

func (s *Server) currencies(ctx context.Context) (ledger.Currencies, error) {
	return s.store.Currencies(ctx)
}

// currenciesOf is currencies for a handler that needs no deadline otherwise:
// the request's deadline is made only when the cache must be reloaded.
func (s *Server) currenciesOf(c *fiber.Ctx) (ledger.Currencies, error) {
	if cs, ok := s.store.CachedCurrencies(); ok {
		return cs, nil
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	return s.currencies(ctx)
}

type networkDTO struct {
	Network       string `json:"network"`
	Confirmations int    `json:"confirmations"`
	MinPayout     string `json:"min_payout"`
}

type currencyDTO struct {
	Code                string       `json:"code"`
	Name                string       `json:"name"`
	Type                string       `json:"type"`
	Scale               int32        `json:"scale"`
	TravelRuleThreshold string       `json:"travel_rule_threshold"`
	Networks            []networkDTO `json:"networks"`
}

func (s *Server) listCurrencies(c *fiber.Ctx) error {
	ctx, cancel := s.requestContext(c)
	defer cancel()
	cs, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	out := []currencyDTO{}
	for _, cur := range cs.Sorted() {
		d := currencyDTO{Code: cur.Code, Name: cur.Name, Type: string(cur.Type), Scale: cur.Scale,
			TravelRuleThreshold: cur.TravelRuleThreshold.String(), Networks: []networkDTO{}}
		for _, n := range cur.Networks {
			d.Networks = append(d.Networks, networkDTO{n.Name, n.Confirmations, cur.Format(n.MinPayout)})
		}
		out = append(out, d)
	}
	return ok(c, fiber.StatusOK, "Currencies retrieved", out)
}

type balanceDTO struct {
	Currency  string `json:"currency"`
	Type      string `json:"type"`
	Available string `json:"available"`
	Held      string `json:"held"`
	Pending   string `json:"pending"`
	Total     string `json:"total"`
}

func toBalanceDTO(cur ledger.Currency, b ledger.Balance) balanceDTO {
	return balanceDTO{Currency: cur.Code, Type: string(cur.Type), Available: cur.Format(b.Available()),
		Held: cur.Format(b.Held()), Pending: cur.Format(b.Pending()), Total: cur.Format(b.Total())}
}

func (s *Server) listBalances(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	cs, err := s.currenciesOf(c)
	if err != nil {
		return err
	}
	bs, err := s.reads.balances(sc.Business.ID, sc.ProfileID())
	if err != nil {
		return err
	}
	out := make([]balanceDTO, 0, len(bs))
	for _, b := range bs {
		out = append(out, toBalanceDTO(cs[b.Currency], b.Balance))
	}
	return ok(c, fiber.StatusOK, "Balances retrieved", out)
}

func (s *Server) getBalance(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	cs, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	cur, err := cs.Get(c.Params("currency"), "currency")
	if err != nil {
		return err
	}
	b, err := s.store.AccountBalance(ctx, sc.Business.ID, ledger.ProfileAccount(sc.ProfileID(), cur.Code))
	if err != nil {
		return err
	}
	return ok(c, fiber.StatusOK, "Balance retrieved", toBalanceDTO(cur, b))
}

type transactionDTO struct {
	ID           string  `json:"id"`
	ProfileID    string  `json:"profile_id"`
	Type         string  `json:"type"`
	Direction    string  `json:"direction"`
	Amount       string  `json:"amount"`
	Currency     string  `json:"currency"`
	BalanceAfter *string `json:"balance_after"`
	ResourceID   string  `json:"resource_id"`
	Description  string  `json:"description"`
	CreatedAt    string  `json:"created_at"`
}

func toTransactionDTO(cs ledger.Currencies, profile string, l postgres.Line) transactionDTO {
	cur := cs[l.Account.Currency]
	d := transactionDTO{ID: l.ID, ProfileID: profile, Type: string(l.Type), Amount: cur.Format(l.Amount),
		Currency: l.Account.Currency, ResourceID: l.ResourceID, Description: l.Description, CreatedAt: rfc3339(l.CreatedAt)}
	// The profile's view: a line that raised its available balance is a credit.
	d.Direction = string(ledger.Credit)
	if ledger.Delta(l.Direction, l.Phase, l.Amount).Available().IsNegative() {
		d.Direction = string(ledger.Debit)
	}
	if l.AvailableAfter != nil {
		v := cur.Format(*l.AvailableAfter)
		d.BalanceAfter = &v
	}
	return d
}

var lineTypes = map[string]bool{"deposit": true, "payout": true, "payout_fee": true, "payout_reversal": true,
	"transfer": true, "conversion": true, "adjustment": true}

// historyFilter reads the filters of GET /v1/transactions.
func historyFilter(c *fiber.Ctx, cs ledger.Currencies) (postgres.HistoryFilter, error) {
	var f postgres.HistoryFilter
	var errs ledger.FieldErrors
	if v := c.Query("currency"); v != "" {
		if _, err := cs.Get(v, "currency"); err != nil {
			errs.AddErr("currency", err)
		}
		f.Currency = strings.ToUpper(v)
	}
	if v := c.Query("type"); v != "" {
		if !lineTypes[v] {
			errs.Add(ledger.CodeValidation, "type", "type must be one of deposit, payout, payout_fee, payout_reversal, transfer, conversion, adjustment")
		}
		f.Type = v
	}
	var err error
	if f.CreatedAfter, err = parseTimeFilter(c, "created_after"); err != nil {
		errs.AddErr("created_after", err)
	}
	if f.CreatedBefore, err = parseTimeFilter(c, "created_before"); err != nil {
		errs.AddErr("created_before", err)
	}
	return f, errs.Err()
}

func (s *Server) listTransactions(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	cs, err := s.currencies(ctx)
	if err != nil {
		return err
	}
	f, err := historyFilter(c, cs)
	if err != nil {
		return err
	}
	pg, err := pageParams(c)
	if err != nil {
		return err
	}
	lines, err := s.store.History(ctx, sc.Business.ID, sc.ProfileID(), f, pg)
	if err != nil {
		return err
	}
	lines, next := pageAt(lines, pg.Limit, func(i int) (time.Time, string) { return lines[i].CreatedAt, lines[i].ID })
	out := make([]transactionDTO, len(lines))
	for i, l := range lines {
		out[i] = toTransactionDTO(cs, sc.ProfileID(), l)
	}
	return okList(c, "Transactions retrieved", out, pg.Limit, next)
}

// exportPageSize is how many lines an export reads per query: memory stays
// constant however long the history is.
const exportPageSize = 500

// exportTransactions streams the profile's history as CSV, page by page.
func (s *Server) exportTransactions(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	f, err := historyFilter(c, cs)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="transactions.csv"`)
	store, business, profile := s.store, sc.Business.ID, sc.ProfileID()
	log := s.log
	reqID := requestID(c)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"id", "type", "direction", "amount", "currency", "balance_after", "resource_id", "description", "created_at"})
		pg := ledger.Page{Limit: exportPageSize}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
			lines, err := store.History(ctx, business, profile, f, pg)
			cancel()
			if err != nil {
				log.Error("export transactions", "request_id", reqID, "err", err.Error())
				return
			}
			more := len(lines) > pg.Limit
			if more {
				lines = lines[:pg.Limit]
			}
			for _, l := range lines {
				d := toTransactionDTO(cs, profile, l)
				after := ""
				if d.BalanceAfter != nil {
					after = *d.BalanceAfter
				}
				_ = cw.Write(csvCells(d.ID, d.Type, d.Direction, d.Amount, d.Currency, after, d.ResourceID, d.Description, d.CreatedAt))
			}
			cw.Flush()
			if !more || w.Flush() != nil {
				return
			}
			last := lines[len(lines)-1]
			pg.After = &ledger.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
	})
	return nil
}

// csvCells guards every cell against spreadsheet formula injection (csvSafe).
func csvCells(cells ...string) []string {
	for i, v := range cells {
		cells[i] = csvSafe(v)
	}
	return cells
}
