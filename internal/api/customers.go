package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// customerRoutes registers API.md §4 except customer tokens. export.csv comes
// before /customers/:id, which would otherwise capture it as an id.
func (s *Server) customerRoutes(v1 fiber.Router) {
	v1.Post("/customers", s.createCustomer)
	v1.Get("/customers", s.listCustomers)
	v1.Get("/customers/export.csv", s.exportCustomers)
	v1.Get("/customers/:id", s.getCustomer)
	v1.Patch("/customers/:id", s.updateCustomer)
	v1.Delete("/customers/:id", s.closeCustomer)
	v1.Get("/customers/:id/audit-log", s.customerAuditLog)
	s.walletRoutes(v1)
}

type addressDTO struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

type customerDTO struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	BusinessID   string            `json:"business_id"`
	Type         string            `json:"type"`
	Status       string            `json:"status"`
	KYCStatus    string            `json:"kyc_status"`
	ExternalID   *string           `json:"external_id"`
	Email        string            `json:"email"`
	FirstName    *string           `json:"first_name"`
	LastName     *string           `json:"last_name"`
	BusinessName *string           `json:"business_name"`
	Phone        *string           `json:"phone"`
	BirthDate    *string           `json:"birth_date"`
	TaxID        *string           `json:"tax_id"`
	Address      *addressDTO       `json:"address"`
	Country      *string           `json:"country"`
	Note         *string           `json:"note"`
	Metadata     map[string]string `json:"metadata"`
	CreatedAt    string            `json:"created_at"`
	UpdatedAt    string            `json:"updated_at"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toCustomerDTO(c ledger.Customer) customerDTO {
	d := customerDTO{
		ID: c.ID, Object: "customer", BusinessID: c.Business, Type: string(c.Type), Status: string(c.Status),
		KYCStatus: c.KYCStatus, ExternalID: strPtr(c.ExternalID), Email: c.Email, FirstName: strPtr(c.FirstName),
		LastName: strPtr(c.LastName), BusinessName: strPtr(c.BusinessName), Phone: strPtr(c.Phone),
		BirthDate: strPtr(c.BirthDate), TaxID: strPtr(c.TaxID), Country: strPtr(c.Country), Note: strPtr(c.Note),
		Metadata: c.Metadata, CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt),
	}
	if d.Metadata == nil {
		d.Metadata = map[string]string{}
	}
	if a := c.Address; a != nil {
		d.Address = &addressDTO{a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country}
	}
	return d
}

// customerRequest is the body of create and update; absent fields are nil.
type customerRequest struct {
	Type         *string           `json:"type"`
	Status       *string           `json:"status"`
	KYCStatus    *string           `json:"kyc_status"`
	ExternalID   *string           `json:"external_id"`
	Email        *string           `json:"email"`
	FirstName    *string           `json:"first_name"`
	LastName     *string           `json:"last_name"`
	BusinessName *string           `json:"business_name"`
	Phone        *string           `json:"phone"`
	BirthDate    *string           `json:"birth_date"`
	TaxID        *string           `json:"tax_id"`
	Address      *addressDTO       `json:"address"`
	Country      *string           `json:"country"`
	Note         *string           `json:"note"`
	Metadata     map[string]string `json:"metadata"`
}

func (r customerRequest) patch() ledger.CustomerPatch {
	p := ledger.CustomerPatch{
		Type: r.Type, Status: r.Status, KYCStatus: r.KYCStatus, ExternalID: r.ExternalID, Email: r.Email,
		FirstName: r.FirstName, LastName: r.LastName, BusinessName: r.BusinessName, Phone: r.Phone,
		BirthDate: r.BirthDate, TaxID: r.TaxID, Country: r.Country, Note: r.Note, Metadata: r.Metadata,
	}
	if a := r.Address; a != nil {
		p.Address = &ledger.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
	}
	return p
}

func (s *Server) createCustomer(c *fiber.Ctx) error {
	var req customerRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, _ := principalFrom(c)
	cust, err := ledger.NewCustomer(p.business.ID, req.patch(), nowMicro())
	if err != nil {
		return err
	}
	return s.write(c, fiber.StatusCreated, "Customer created", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		if err := tx.CreateCustomer(ctx, cust); err != nil {
			return nil, err
		}
		ch.customer = cust.ID
		dto := toCustomerDTO(cust)
		return dto, tx.Event(ctx, cust.Business, "customer.created", cust.ID, dto)
	})
}

func (s *Server) getCustomer(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	cust, err := s.store.FindCustomer(ctx, p.business.ID, c.Params("id"))
	if err != nil {
		return err
	}
	return ok(c, fiber.StatusOK, "Customer retrieved", toCustomerDTO(cust))
}

// nowMicro is the timestamp of a change, at PostgreSQL's microsecond precision so the
// response equals what a later read returns.
func nowMicro() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// updateCustomer applies a partial update (API.md §4): metadata merges and a key
// set to "" is removed; updated_at moves and customer.updated is emitted only
// when something changed.
func (s *Server) updateCustomer(c *fiber.Ctx) error {
	var req customerRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, _ := principalFrom(c)
	id := strings.Clone(c.Params("id"))
	return s.write(c, fiber.StatusOK, "Customer updated", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		cust, err := PatchCustomer(ctx, tx, p.business.ID, id, req.patch())
		ch.customer = cust.ID
		if err != nil {
			return nil, err
		}
		return toCustomerDTO(cust), nil
	})
}

// PatchCustomer applies a partial update inside tx exactly as PATCH
// /v1/customers/{id} does: the row is locked, ledger.Customer.Patch validates, and
// only a real change is stored with its customer.updated event. The customer is
// returned with its id set once it was found, also when the patch is refused.
func PatchCustomer(ctx context.Context, tx *postgres.Tx, business, id string, patch ledger.CustomerPatch) (ledger.Customer, error) {
	cust, err := tx.FindCustomer(ctx, business, id, true)
	if err != nil {
		return ledger.Customer{}, err
	}
	changed, err := cust.Patch(patch, nowMicro())
	if err != nil {
		return ledger.Customer{ID: cust.ID}, err
	}
	if !changed {
		return cust, nil
	}
	if err := tx.UpdateCustomer(ctx, cust); err != nil {
		return cust, err
	}
	return cust, tx.Event(ctx, cust.Business, "customer.updated", cust.ID, toCustomerDTO(cust))
}

// closeCustomer closes a customer whose every balance is zero (DELETE answers 200
// with the closed customer, API.md §11). The customer row is locked first, so a
// concurrent change to it waits. Closing a closed customer is idempotent: 200 with
// the customer as it is, no second event.
func (s *Server) closeCustomer(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	id := strings.Clone(c.Params("id"))
	return s.write(c, fiber.StatusOK, "Customer closed", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		cust, already, err := CloseCustomer(ctx, tx, p.business.ID, id)
		ch.customer = cust.ID
		if err != nil {
			return nil, err
		}
		if already {
			ch.message = "Customer already closed"
		}
		return toCustomerDTO(cust), nil
	})
}

// CloseCustomer closes a customer inside tx exactly as DELETE /v1/customers/{id}
// does: the row is locked, every balance must be zero (balance_not_zero), and
// customer.closed is written. Closing a closed customer changes nothing and
// reports already. The customer's id is set once it was found.
func CloseCustomer(ctx context.Context, tx *postgres.Tx, business, id string) (cust ledger.Customer, already bool, err error) {
	cust, err = tx.FindCustomer(ctx, business, id, true)
	if err != nil {
		return ledger.Customer{}, false, err
	}
	if cust.Status == ledger.CustomerClosed {
		return cust, true, nil
	}
	zero, err := tx.BalancesZero(ctx, business, cust.ID)
	if err != nil {
		return ledger.Customer{ID: cust.ID}, false, err
	}
	if !zero {
		return ledger.Customer{ID: cust.ID}, false, ledger.Errorf(ledger.CodeBalanceNotZero,
			"customer %s still has money (available, held or pending); bring every balance to zero before closing", cust.ID)
	}
	cust.Close(nowMicro())
	if err := tx.UpdateCustomer(ctx, cust); err != nil {
		return cust, false, err
	}
	return cust, false, tx.Event(ctx, cust.Business, "customer.closed", cust.ID, toCustomerDTO(cust))
}

// listParams reads the page and the filters, reporting every invalid parameter
// at once.
func listParams(c *fiber.Ctx) (ledger.Page, ledger.CustomerFilter, error) {
	page, perr := pageParams(c)
	f, ferr := ledger.ParseCustomerFilter(func(k string) string { return c.Query(k) })
	return page, f, joinFieldErrors(perr, ferr)
}

// joinFieldErrors merges validation errors into one that names every field; the
// first error's param stays first. A non-field error is returned as it is.
func joinFieldErrors(errs ...error) error {
	var fe ledger.FieldErrors
	for _, err := range errs {
		if err == nil {
			continue
		}
		var e *ledger.Error
		if !errors.As(err, &e) || len(e.Fields) == 0 {
			return err
		}
		fe.Add(e.Code, e.Param, "%s", e.Fields[e.Param])
		for k, v := range e.Fields {
			fe.Add(e.Code, k, "%s", v)
		}
	}
	return fe.Err()
}

// listCustomers lists customers newest first with keyset pagination and the
// filters of API.md §4.
func (s *Server) listCustomers(c *fiber.Ctx) error {
	page, f, err := listParams(c)
	if err != nil {
		return err
	}
	p, _ := principalFrom(c)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	if err := s.searches.enter(ctx); err != nil { // the request's time ran out in the queue
		return ledger.Errorf(ledger.CodeUnavailable, "the server is too busy to run this list in time; retry")
	}
	custs, err := func() ([]ledger.Customer, error) {
		defer s.searches.leave() // even if the read panics: a lost place would never come back
		return s.store.FindCustomers(ctx, p.business.ID, f, page)
	}()
	if err != nil {
		return err
	}
	custs, next := pageAt(custs, page.Limit, func(i int) (time.Time, string) { return custs[i].CreatedAt, custs[i].ID })
	out := make([]customerDTO, len(custs))
	for i, cu := range custs {
		out[i] = toCustomerDTO(cu)
	}
	return okList(c, "Customers retrieved", out, page.Limit, next)
}

// exportBatchSize is how many customers the export reads per query: memory stays
// constant however many customers match.
const exportBatchSize = 500

// customerCSVHeader names the export's columns.
var customerCSVHeader = []string{"id", "type", "status", "kyc_status", "external_id", "email", "first_name", "last_name",
	"business_name", "phone", "birth_date", "tax_id", "country", "address_line1", "address_line2", "address_city",
	"address_state", "address_postal_code", "address_country", "note", "metadata", "created_at", "updated_at"}

func customerCSVRow(c ledger.Customer) []string {
	var a ledger.Address
	if c.Address != nil {
		a = *c.Address
	}
	meta, _ := json.Marshal(c.Metadata) // map[string]string always encodes
	row := []string{c.ID, string(c.Type), string(c.Status), c.KYCStatus, c.ExternalID, c.Email, c.FirstName, c.LastName,
		c.BusinessName, c.Phone, c.BirthDate, c.TaxID, c.Country, a.Line1, a.Line2, a.City, a.State, a.PostalCode,
		a.Country, c.Note, string(meta), rfc3339(c.CreatedAt), rfc3339(c.UpdatedAt)}
	for i, v := range row {
		row[i] = csvSafe(v)
	}
	return row
}

// csvSafe defuses formula injection: a spreadsheet runs a cell that starts with
// = + - @ (or a tab or carriage return before one) as a formula, so such a cell is
// prefixed with a single quote (OWASP "CSV Injection"). E.164 phones start with +
// and therefore export as '+234…; the quote is visible in a text editor only.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// exportCustomers streams every matching customer as CSV (API.md §4). The first
// batch is read before the response starts, so a failing database is still a
// proper error; later batches are read by keyset pagination while the body
// streams, each in its own short query, so nothing is loaded in full and no
// transaction stays open for the length of the download.
func (s *Server) exportCustomers(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	return s.ExportCustomers(c, p.business.ID)
}

// ExportCustomers answers c with the CSV of business's customers matching the
// filters in c's query string: the response of GET /v1/customers/export.csv.
func (s *Server) ExportCustomers(c *fiber.Ctx, business string) error {
	f, err := ledger.ParseCustomerFilter(func(k string) string { return c.Query(k) })
	if err != nil {
		return err
	}
	reqID := requestID(c)
	ctx, cancel := s.requestContext(c)
	first, err := s.store.FindCustomers(ctx, business, f, ledger.Page{Limit: exportBatchSize})
	cancel()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="customers.csv"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Status(fiber.StatusOK)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		if err := s.streamCustomers(w, business, f, first); err != nil {
			s.log.Warn("customer export stopped", "request_id", reqID, "err", err.Error())
		}
	})
	return nil
}

// streamCustomers writes the header and every batch, flushing after each so the
// client receives rows as they are read. It stops at the first write error (the
// client went away) or query error; the status line is already sent by then.
func (s *Server) streamCustomers(w *bufio.Writer, business string, f ledger.CustomerFilter, batch []ledger.Customer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(customerCSVHeader); err != nil {
		return err
	}
	for {
		more := len(batch) > exportBatchSize
		if more {
			batch = batch[:exportBatchSize]
		}
		for _, cu := range batch {
			if err := cw.Write(customerCSVRow(cu)); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if !more {
			return nil
		}
		last := batch[len(batch)-1]
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
		var err error
		batch, err = s.store.FindCustomers(ctx, business, f, ledger.Page{Limit: exportBatchSize,
			After: &ledger.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}})
		cancel()
		if err != nil {
			return err
		}
	}
}

type auditEntryDTO struct {
	Object     string `json:"object"`
	RequestID  string `json:"request_id"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	KeyID      string `json:"key_id"`
	StatusCode int    `json:"status_code"`
	CreatedAt  string `json:"created_at"`
}

// customerAuditLog lists the mutating requests that touched one customer, newest
// first, including refused ones.
func (s *Server) customerAuditLog(c *fiber.Ctx) error {
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
	entries, err := s.store.FindAuditLog(ctx, p.business.ID, cust.ID, page)
	if err != nil {
		return err
	}
	entries, next := pageAt(entries, page.Limit, func(i int) (time.Time, string) { return entries[i].CreatedAt, strconv.FormatInt(entries[i].ID, 10) })
	out := make([]auditEntryDTO, len(entries))
	for i, e := range entries {
		out[i] = auditEntryDTO{Object: "audit_entry", RequestID: e.RequestID, Method: e.Method, Path: e.Path,
			KeyID: e.KeyID, StatusCode: e.StatusCode, CreatedAt: rfc3339(e.CreatedAt)}
	}
	return okList(c, "Audit log retrieved", out, page.Limit, next)
}
