package dashboard

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// assetRow is one currency's balance, formatted exactly as GET /v1/balances
// renders it (ledger.Currency.Format at the currency's scale).
type assetRow struct {
	Currency, Type, Available, Held, Pending, Total string
}

func assetRows(cs ledger.Currencies, bs []postgres.CurrencyBalance) []assetRow {
	out := make([]assetRow, 0, len(bs))
	for _, b := range bs {
		cur := cs[b.Currency]
		out = append(out, assetRow{Currency: b.Currency, Type: string(cur.Type), Available: cur.Format(b.Available()),
			Held: cur.Format(b.Held()), Pending: cur.Format(b.Pending()), Total: cur.Format(b.Total())})
	}
	return out
}

type eventRow struct {
	ID, Type, ProfileID string
	CreatedAt           time.Time
}

func eventRows(es []postgres.Event, limit int) []eventRow {
	if len(es) > limit {
		es = es[:limit]
	}
	out := make([]eventRow, len(es))
	for i, e := range es {
		out[i] = eventRow{ID: e.ID, Type: e.Type, ProfileID: e.ProfileID, CreatedAt: e.CreatedAt}
	}
	return out
}

func (d *Dashboard) overview(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	b := r.business.ID
	cs, err := d.store.Currencies(ctx)
	if err != nil {
		return err
	}
	mainBal, err := d.store.ProfileBalances(ctx, b, b)
	if err != nil {
		return err
	}
	totals, err := postgres.ReadAs(ctx, d.store, b, func(db bun.IDB) ([]postgres.CurrencyBalance, error) { return customerTotals(ctx, db, b) })
	if err != nil {
		return err
	}
	counts, err := postgres.ReadAs(ctx, d.store, b, func(db bun.IDB) (customerCounts, error) { return countCustomers(ctx, db, b) })
	if err != nil {
		return err
	}
	events, err := d.store.FindEvents(ctx, b, postgres.EventFilter{}, ledger.Page{Limit: 10})
	if err != nil {
		return err
	}
	return d.render(c, fiber.StatusOK, "overview", r, "Overview", "overview", map[string]any{
		"Main": assetRows(cs, mainBal), "Customers": assetRows(cs, totals), "Counts": counts, "Events": eventRows(events, 10),
	})
}

type customerRow struct {
	ID, Name, Email, Type, Status, KYCStatus string
	CreatedAt                                time.Time
}

func displayName(c ledger.Customer) string {
	if c.Type == ledger.CustomerBusiness || (c.FirstName == "" && c.LastName == "") {
		return c.BusinessName
	}
	return strings.TrimSpace(c.FirstName + " " + c.LastName)
}

// customers lists the business's customers with the API's filters (q searches
// email, names, business name, phone and external id) and keyset pagination.
func (d *Dashboard) customers(c *fiber.Ctx, r *request) error {
	q := func(k string) string { return c.Query(k) }
	data := map[string]any{"Q": c.Query("q"), "Status": c.Query("status"), "KYC": c.Query("kyc_status"), "Type": c.Query("type")}
	f, err := ledger.ParseCustomerFilter(q)
	if err != nil {
		data["Error"] = ledger.Errorf(ledger.CodeValidation, "%v", err).Message
		var le *ledger.Error
		if errors.As(err, &le) {
			data["Error"] = le.Message
		}
		return d.render(c, fiber.StatusBadRequest, "customers", r, "Customers", "customers", data)
	}
	ctx, cancel := d.ctx(c)
	defer cancel()
	list, err := d.store.FindCustomers(ctx, r.business.ID, f, ledger.Page{Limit: listLimit, After: decodeCursor(c.Query("cursor"))})
	if err != nil {
		return err
	}
	list, next := trim(list, listLimit, func(cu ledger.Customer) (time.Time, string) { return cu.CreatedAt, cu.ID })
	rows := make([]customerRow, len(list))
	for i, cu := range list {
		rows[i] = customerRow{ID: cu.ID, Name: displayName(cu), Email: cu.Email, Type: string(cu.Type),
			Status: string(cu.Status), KYCStatus: cu.KYCStatus, CreatedAt: cu.CreatedAt}
	}
	filters := url.Values{}
	for _, k := range []string{"q", "status", "kyc_status", "type"} {
		if v := c.Query(k); v != "" {
			filters.Set(k, v)
		}
	}
	data["Rows"] = rows
	data["Export"] = "/dashboard/customers/export.csv?" + filters.Encode()
	if next != "" {
		filters.Set("cursor", next)
		data["Next"] = "/dashboard/customers?" + filters.Encode()
	}
	return d.render(c, fiber.StatusOK, "customers", r, "Customers", "customers", data)
}

// exportCustomers answers the API's own CSV export for the signed-in business.
func (d *Dashboard) exportCustomers(c *fiber.Ctx, r *request) error {
	return d.domain.ExportCustomers(c, r.business.ID)
}

var tabs = map[string]bool{"transactions": true, "addresses": true, "assets": true, "audit": true}

type txRow struct {
	ID, Type, Direction, Amount, Currency, BalanceAfter, ResourceID, Description string
	CreatedAt                                                                    time.Time
}

// customer shows one customer's profile with its tabs. Another business's id is
// not_found, rendered as the 404 page.
func (d *Dashboard) customer(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	b := r.business.ID
	cust, err := d.store.FindCustomer(ctx, b, c.Params("id"))
	if err != nil {
		return err
	}
	cs, err := d.store.Currencies(ctx)
	if err != nil {
		return err
	}
	tab := c.Query("tab")
	if !tabs[tab] {
		tab = "transactions"
	}
	after := decodeCursor(c.Query("cursor"))
	data := map[string]any{"C": cust, "Name": displayName(cust), "Tab": tab, "Currencies": cs.Sorted()}
	var next string
	switch tab {
	case "transactions":
		lines, err := d.store.History(ctx, b, cust.ID, postgres.HistoryFilter{}, ledger.Page{Limit: listLimit, After: after})
		if err != nil {
			return err
		}
		lines, next = trim(lines, listLimit, func(l postgres.Line) (time.Time, string) { return l.CreatedAt, l.ID })
		rows := make([]txRow, len(lines))
		for i, l := range lines {
			cur := cs[l.Account.Currency]
			row := txRow{ID: l.ID, Type: string(l.Type), Direction: string(ledger.Credit), Amount: cur.Format(l.Amount),
				Currency: cur.Code, ResourceID: l.ResourceID, Description: l.Description, CreatedAt: l.CreatedAt}
			// The profile's view, as GET /v1/transactions: a line that lowered available is a debit.
			if ledger.Delta(l.Direction, l.Phase, l.Amount).Available().IsNegative() {
				row.Direction = string(ledger.Debit)
			}
			if l.AvailableAfter != nil {
				row.BalanceAfter = cur.Format(*l.AvailableAfter)
			}
			rows[i] = row
		}
		data["Rows"] = rows
	case "addresses":
		wallets, err := d.store.FindWallets(ctx, b, cust.ID, ledger.Page{Limit: 100})
		if err != nil {
			return err
		}
		addrs, err := d.store.ListDepositAddresses(ctx, b, cust.ID, ledger.Page{Limit: 100})
		if err != nil {
			return err
		}
		data["Wallets"], data["Addresses"] = wallets, addrs
	case "assets":
		bs, err := d.store.ProfileBalances(ctx, b, cust.ID)
		if err != nil {
			return err
		}
		data["Assets"] = assetRows(cs, bs)
	case "audit":
		entries, err := d.store.FindAuditLog(ctx, b, cust.ID, ledger.Page{Limit: listLimit, After: after})
		if err != nil {
			return err
		}
		entries, next = trim(entries, listLimit, func(e postgres.AuditEntry) (time.Time, string) {
			return e.CreatedAt, strconv.FormatInt(e.ID, 10)
		})
		data["Audit"] = entries
	}
	if next != "" {
		data["Next"] = "/dashboard/customers/" + cust.ID + "?" + url.Values{"tab": {tab}, "cursor": {next}}.Encode()
	}
	return d.render(c, fiber.StatusOK, "customer", r, displayName(cust), "customers", data)
}

func (d *Dashboard) deposits(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	cs, err := d.store.Currencies(ctx)
	if err != nil {
		return err
	}
	items, err := postgres.ReadAs(ctx, d.store, r.business.ID, func(db bun.IDB) ([]depositItem, error) {
		return listDeposits(ctx, db, r.business.ID, decodeCursor(c.Query("cursor")))
	})
	if err != nil {
		return err
	}
	items, next := trim(items, listLimit, func(x depositItem) (time.Time, string) { return x.CreatedAt, x.ID })
	rows := make([]map[string]any, len(items))
	for i, x := range items {
		rows[i] = map[string]any{"X": x, "Amount": cs[x.Currency].Format(x.Amount)}
	}
	return d.render(c, fiber.StatusOK, "deposits", r, "Deposits", "deposits", map[string]any{"Rows": rows, "Next": nextLink("/dashboard/deposits", nil, next)})
}

var payoutStatuses = []string{ledger.PayoutPending, ledger.PayoutProcessing, ledger.PayoutCompleted, ledger.PayoutFailed, ledger.PayoutCancelled}

func (d *Dashboard) payouts(c *fiber.Ctx, r *request) error {
	status := c.Query("status")
	valid := status == ""
	for _, s := range payoutStatuses {
		valid = valid || s == status
	}
	if !valid {
		return ledger.ParamErrorf(ledger.CodeValidation, "status", "status must be pending, processing, completed, failed or cancelled")
	}
	ctx, cancel := d.ctx(c)
	defer cancel()
	cs, err := d.store.Currencies(ctx)
	if err != nil {
		return err
	}
	items, err := postgres.ReadAs(ctx, d.store, r.business.ID, func(db bun.IDB) ([]payoutItem, error) {
		return listPayouts(ctx, db, r.business.ID, status, decodeCursor(c.Query("cursor")))
	})
	if err != nil {
		return err
	}
	items, next := trim(items, listLimit, func(x payoutItem) (time.Time, string) { return x.CreatedAt, x.ID })
	rows := make([]map[string]any, len(items))
	for i, x := range items {
		cur := cs[x.Currency]
		rows[i] = map[string]any{"X": x, "Amount": cur.Format(x.Amount), "Fee": cur.Format(x.Fee)}
	}
	var keep url.Values
	if status != "" {
		keep = url.Values{"status": {status}}
	}
	return d.render(c, fiber.StatusOK, "payouts", r, "Payouts", "payouts", map[string]any{"Rows": rows, "Status": status,
		"Statuses": payoutStatuses, "Next": nextLink("/dashboard/payouts", keep, next)})
}

func (d *Dashboard) transfers(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	cs, err := d.store.Currencies(ctx)
	if err != nil {
		return err
	}
	items, err := postgres.ReadAs(ctx, d.store, r.business.ID, func(db bun.IDB) ([]transferItem, error) {
		return listTransfers(ctx, db, r.business.ID, decodeCursor(c.Query("cursor")))
	})
	if err != nil {
		return err
	}
	items, next := trim(items, listLimit, func(x transferItem) (time.Time, string) { return x.CreatedAt, x.ID })
	rows := make([]map[string]any, len(items))
	for i, x := range items {
		rows[i] = map[string]any{"X": x, "Amount": cs[x.Currency].Format(x.Amount)}
	}
	return d.render(c, fiber.StatusOK, "transfers", r, "Transfers", "transfers", map[string]any{"Rows": rows, "Next": nextLink("/dashboard/transfers", nil, next)})
}

func nextLink(path string, keep url.Values, cursor string) string {
	if cursor == "" {
		return ""
	}
	v := url.Values{}
	for k, vs := range keep {
		v[k] = vs
	}
	v.Set("cursor", cursor)
	return path + "?" + v.Encode()
}

func (d *Dashboard) webhooks(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	endpoints, err := d.store.FindWebhookEndpoints(ctx, r.business.ID, ledger.Page{Limit: postgres.WebhookEndpointCountMax})
	if err != nil {
		return err
	}
	deliveries, err := postgres.ReadAs(ctx, d.store, r.business.ID, func(db bun.IDB) ([]deliveryItem, error) { return listDeliveries(ctx, db, r.business.ID) })
	if err != nil {
		return err
	}
	events, err := d.store.FindEvents(ctx, r.business.ID, postgres.EventFilter{}, ledger.Page{Limit: listLimit})
	if err != nil {
		return err
	}
	return d.render(c, fiber.StatusOK, "webhooks", r, "Webhooks", "webhooks", map[string]any{
		"Endpoints": endpoints, "Deliveries": deliveries, "Events": eventRows(events, listLimit)})
}

func (d *Dashboard) apiKeys(c *fiber.Ctx, r *request) error {
	return d.renderAPIKeys(c, r, fiber.StatusOK, nil)
}

func (d *Dashboard) renderAPIKeys(c *fiber.Ctx, r *request, status int, created map[string]string) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	keys, _, err := d.store.FindAPIKeys(ctx, r.business.ID, ledger.Page{Limit: 100})
	if err != nil {
		return err
	}
	return d.render(c, status, "apikeys", r, "API keys", "api-keys", map[string]any{"Keys": keys, "Created": created})
}
