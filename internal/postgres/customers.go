package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/tallyhq/tally/ledger"
)

type addressJSON struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

type customerRow struct {
	bun.BaseModel `bun:"table:customers"`
	BusinessID    string            `bun:"business_id,pk"`
	ID            string            `bun:"id,pk"`
	Type          string            `bun:"type"`
	Status        string            `bun:"status"`
	KYCStatus     string            `bun:"kyc_status"`
	ExternalID    *string           `bun:"external_id"`
	Email         string            `bun:"email"`
	FirstName     *string           `bun:"first_name"`
	LastName      *string           `bun:"last_name"`
	BusinessName  *string           `bun:"business_name"`
	Phone         *string           `bun:"phone"`
	BirthDate     *string           `bun:"birth_date"`
	TaxID         *string           `bun:"tax_id"`
	Address       *addressJSON      `bun:"address,type:jsonb"`
	Country       *string           `bun:"country"`
	Note          *string           `bun:"note"`
	Metadata      map[string]string `bun:"metadata,type:jsonb"`
	CreatedAt     time.Time         `bun:"created_at"`
	UpdatedAt     time.Time         `bun:"updated_at"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func customerToRow(c ledger.Customer) customerRow {
	r := customerRow{
		BusinessID: c.Business, ID: c.ID, Type: string(c.Type), Status: string(c.Status), KYCStatus: c.KYCStatus,
		ExternalID: nullable(c.ExternalID), Email: c.Email, FirstName: nullable(c.FirstName), LastName: nullable(c.LastName),
		BusinessName: nullable(c.BusinessName), Phone: nullable(c.Phone), BirthDate: nullable(c.BirthDate),
		TaxID: nullable(c.TaxID), Country: nullable(c.Country), Note: nullable(c.Note), Metadata: c.Metadata,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	if a := c.Address; a != nil {
		r.Address = &addressJSON{a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country}
	}
	return r
}

func (r customerRow) domain() ledger.Customer {
	c := ledger.Customer{
		ID: r.ID, Business: r.BusinessID, Type: ledger.CustomerType(r.Type), Status: ledger.CustomerStatus(r.Status),
		KYCStatus: r.KYCStatus, ExternalID: deref(r.ExternalID), Email: r.Email, FirstName: deref(r.FirstName),
		LastName: deref(r.LastName), BusinessName: deref(r.BusinessName), Phone: deref(r.Phone),
		BirthDate: deref(r.BirthDate), TaxID: deref(r.TaxID), Country: deref(r.Country), Note: deref(r.Note),
		Metadata: r.Metadata, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	if a := r.Address; a != nil {
		c.Address = &ledger.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
	}
	return c
}

// FindCustomer returns one customer of business. A customer of another business is
// not_found, exactly like one that never existed.
func (s *Store) FindCustomer(ctx context.Context, business, id string) (ledger.Customer, error) {
	return readAs(ctx, s, business, func(s *Store) (ledger.Customer, error) {
		return queryCustomer(ctx, s.raw, s.db, business, id, "")
	})
}

// profileKey names a customer of a business in the profile cache.
type profileKey struct{ business, id string }

// ProfileCustomer is FindCustomer for resolving X-BU-PROFILE-ID: a customer found
// lately is answered from the cache (one round trip less on every request on
// behalf of a customer). Updates made through this Store are seen at once;
// another replica's as soon as WatchProfiles hears of them, or within ProfileTTL
// while it does not listen (profilewatch.go). Handlers that act on the customer
// itself (update, close, wallets) read it fresh, most under a row lock.
func (s *Store) ProfileCustomer(ctx context.Context, business, id string) (ledger.Customer, error) {
	k := profileKey{business, id}
	t := time.Now()
	c, ok, gen := s.profiles.get(k, t)
	if !ok {
		var err error
		if c, err = s.FindCustomer(ctx, business, id); err != nil {
			return c, err
		}
		s.profiles.put(k, c, gen, t)
	}
	return c.Clone(), nil // the cached value is shared: the caller gets its own
}

// CachedProfileCustomer is ProfileCustomer's answer when the cache has one: no
// database, so the caller needs no deadline for it.
func (s *Store) CachedProfileCustomer(business, id string) (ledger.Customer, bool) {
	c, ok, _ := s.profiles.get(profileKey{business, id}, time.Now())
	if !ok {
		return c, false
	}
	return c.Clone(), true
}

// FindCustomer reads a customer inside the transaction; forUpdate locks its row.
func (t *Tx) FindCustomer(ctx context.Context, business, id string, forUpdate bool) (ledger.Customer, error) {
	lock := ""
	if forUpdate {
		lock = "UPDATE"
	}
	return queryCustomer(ctx, t.tx.Tx, t.db, business, id, lock)
}

// customerSelect reads one customer by primary key (a row lock may follow).
// Plain $n parameters let pgx prepare it once per connection: it runs on every
// request that names a customer.
const customerSelect = `SELECT * FROM customers WHERE business_id = $1 AND id = $2`

// queryCustomer reads a customer with an optional row lock (UPDATE or SHARE) and
// scans it with bun into the row model.
func queryCustomer(ctx context.Context, q queryer, scan *bun.DB, business, id, lock string) (ledger.Customer, error) {
	if !ledger.ValidID(id, ledger.PrefixCustomer) {
		return ledger.Customer{}, ledger.Errorf(ledger.CodeNotFound, "customer %q not found", id)
	}
	query := customerSelect
	if lock != "" {
		query += " FOR " + lock
	}
	rows, err := q.QueryContext(ctx, query, business, id)
	if err != nil {
		return ledger.Customer{}, translate(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return ledger.Customer{}, translate(err)
		}
		return ledger.Customer{}, ledger.Errorf(ledger.CodeNotFound, "customer %q not found", id)
	}
	var r customerRow
	if err := scan.ScanRow(ctx, rows, &r); err != nil {
		return ledger.Customer{}, translate(err)
	}
	return r.domain(), nil
}

// ShareLockCustomer reads a customer that money is about to reach, holding a share
// lock until the transaction ends: closing the customer (which locks the row FOR
// UPDATE and checks every balance is zero) waits for the credit, so no closed
// customer ever holds money.
func (t *Tx) ShareLockCustomer(ctx context.Context, business, id string) (ledger.Customer, error) {
	return queryCustomer(ctx, t.tx.Tx, t.db, business, id, "SHARE")
}

// CreateCustomer inserts c. A taken external_id is customer_exists naming the
// customer that holds it.
func (t *Tx) CreateCustomer(ctx context.Context, c ledger.Customer) error {
	r := customerToRow(c)
	// ON CONFLICT DO NOTHING keeps the transaction usable when external_id is taken.
	res, err := t.tx.NewInsert().Model(&r).On("CONFLICT DO NOTHING").Exec(ctx)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var existing string
	err = t.tx.NewSelect().Table("customers").Column("id").
		Where("business_id = ? AND external_id = ?", c.Business, c.ExternalID).Scan(ctx, &existing)
	if err != nil {
		return translate(err)
	}
	e := ledger.ParamErrorf(ledger.CodeCustomerExists, "external_id", "a customer with external_id %q already exists: %s", c.ExternalID, existing)
	e.Details = map[string]any{"customer_id": existing}
	return e
}

// UpdateCustomer stores every field of c (after ledger.Customer.Patch).
func (t *Tx) UpdateCustomer(ctx context.Context, c ledger.Customer) error {
	t.touched = append(t.touched, profileKey{c.Business, c.ID})
	r := customerToRow(c)
	_, err := t.tx.NewUpdate().Model(&r).WherePK().ExcludeColumn("business_id", "id", "created_at").Exec(ctx)
	if constraint(err, "23505") == "customers_business_external_id" {
		var existing string
		_ = t.tx.NewSelect().Table("customers").Column("id").
			Where("business_id = ? AND external_id = ?", c.Business, c.ExternalID).Scan(ctx, &existing)
		e := ledger.ParamErrorf(ledger.CodeCustomerExists, "external_id", "a customer with external_id %q already exists: %s", c.ExternalID, existing)
		e.Details = map[string]any{"customer_id": existing}
		return e
	}
	return translate(err)
}

// customerSearchExpr is the text `q` searches: the exact expression of the trigram
// index customers_search_trgm (migration 20261122000400), so the planner can use it.
const customerSearchExpr = `lower(coalesce(email, '') || ' ' || coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' ||
		coalesce(business_name, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(external_id, ''))`

// emailLocalMin is how much of a local part an email fragment needs before its
// "@" for the 5-gram condition (customers_email_grams, whose expression
// tally_grams(email, 5) the query repeats exactly).
const emailLocalMin = 4

// Grams returns the distinct substrings of n characters of s, as the SQL
// function tally_grams(s, n) of migration 20261122001500 does (in another order,
// which containment ignores).
func Grams(s string, n int) []string {
	r := []rune(s)
	seen := map[string]bool{}
	out := []string{}
	for i := 0; i+n <= len(r); i++ {
		if g := string(r[i : i+n]); !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// emailGrams returns the 5-grams of q when q is an email fragment with enough of a
// local part for them (see customerQuery).
func emailGrams(q string) ([]string, bool) {
	q = strings.ToLower(q)
	local, _, found := strings.Cut(q, "@")
	if !found || utf8.RuneCountInString(local) < emailLocalMin {
		return nil, false
	}
	return Grams(q, 5), true
}

// likeEscaper makes user input literal inside a LIKE pattern (backslash is the
// default escape character).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// SearchPattern returns the LIKE pattern for q: a lowercased, escaped substring.
func SearchPattern(q string) string {
	return "%" + likeEscaper.Replace(strings.ToLower(q)) + "%"
}

// customerQuery builds the filtered, keyset-paginated select of a customer list,
// newest first. It selects one row more than the page to tell whether another
// page exists.
func customerQuery(db bun.IDB, business string, f ledger.CustomerFilter, page ledger.Page, rows *[]customerRow) *bun.SelectQuery {
	q := db.NewSelect().Model(rows).Where("business_id = ?", business)
	switch {
	case strings.Contains(f.Query, "@"):
		// An email fragment searches emails only (documented in openapi.yaml and
		// docs/customers.md): the email column's own trigram index answers it two
		// to three times faster than the combined one (migration
		// 20261122001400). Phones cannot hold an "@"; a name, business name or
		// external id that does is found by any fragment without it.
		if grams, ok := emailGrams(f.Query); ok {
			// Enough of a local part for 5-grams that are rare (migration
			// 20261122001500). A fragment without one ("@gmail.com") matches a
			// large share of the customers; the planner then walks the newest-first
			// index instead, which its estimate for the grams would hide.
			//
			// The grams come from Go (Grams: tally_grams's twin), so the planner
			// does not run the SQL function while planning every search. LIKE then
			// only rechecks, on an expression no index has: every trigram of the
			// fragment lies inside one of its 5-grams, so the trigram index cannot
			// narrow what the grams found, yet the planner would read it too
			// (BitmapAnd) and cost it on every search — planning and execution
			// measured about halved without it at a million customers.
			q = q.Where("tally_grams(email, 5) @> ?::text[]", pgdialect.Array(grams))
			q = q.Where("(email || '') LIKE ?", SearchPattern(f.Query))
			break
		}
		q = q.Where("email LIKE ?", SearchPattern(f.Query))
	case f.Query != "":
		q = q.Where(customerSearchExpr+" LIKE ?", SearchPattern(f.Query))
	}
	if f.Type != "" {
		q = q.Where("type = ?", string(f.Type))
	}
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.KYCStatus != "" {
		q = q.Where("kyc_status = ?", f.KYCStatus)
	}
	if f.Email != "" {
		q = q.Where("email = ?", f.Email)
	}
	if f.ExternalID != "" {
		q = q.Where("external_id = ?", f.ExternalID)
	}
	if f.CreatedAfter != nil {
		q = q.Where("created_at > ?", *f.CreatedAfter)
	}
	if f.CreatedBefore != nil {
		q = q.Where("created_at < ?", *f.CreatedBefore)
	}
	if c := page.After; c != nil {
		q = q.Where("(created_at, id) < (?, ?)", c.CreatedAt, c.ID)
	}
	return q.OrderExpr("created_at DESC, id DESC").Limit(int64(page.Limit + 1))
}

// FindCustomers returns up to page.Limit+1 customers of business matching f, newest
// first, strictly after page.After: the caller shows Limit and knows from the extra
// row that another page exists.
func (s *Store) FindCustomers(ctx context.Context, business string, f ledger.CustomerFilter, page ledger.Page) ([]ledger.Customer, error) {
	confined := business
	if f.Query != "" {
		// A search runs on the login role's pool, walled by its business_id
		// filter only. Under row-level security PostgreSQL must apply the policy
		// before any qual that is not LEAKPROOF, and LIKE is not, so the trigram
		// indexes could not serve q: measured at a million customers, p50 went
		// from 4–10 ms to over 300 ms. docs/scaling.md §6 says what replaces this.
		confined = ""
	}
	return readAs(ctx, s, confined, func(s *Store) ([]ledger.Customer, error) {
		var rows []customerRow
		if grams, ok := emailGrams(f.Query); ok && f == (ledger.CustomerFilter{Query: f.Query}) {
			// The email search alone: the same statement as customerQuery's,
			// planned once per connection (migration 20261207000100).
			if err := emailSearch(ctx, s.raw, s.db, business, grams, SearchPattern(f.Query), page, &rows); err != nil {
				return nil, err
			}
		} else if err := scanOnce(ctx, s.raw, s.db, customerQuery(s.q, business, f, page, &rows), &rows); err != nil {
			return nil, err
		}
		out := make([]ledger.Customer, len(rows))
		for i, r := range rows {
			out[i] = r.domain()
		}
		return out, nil
	})
}

// emailSearchSQL calls tally_email_search: a constant statement, so pgx prepares it
// once per connection too.
const emailSearchSQL = `SELECT * FROM tally_email_search($1, $2::text[], $3, $4, $5, $6)`

func emailSearch(ctx context.Context, raw rawDB, db *bun.DB, business string, grams []string, pattern string, page ledger.Page, rows *[]customerRow) error {
	var afterAt *time.Time
	var afterID *string
	if c := page.After; c != nil {
		afterAt, afterID = &c.CreatedAt, &c.ID
	}
	return scanAll(ctx, raw, db, rows, emailSearchSQL, business, grams, pattern, afterAt, afterID, page.Limit+1)
}

// CustomerSearchSQL returns the SQL of a list query, for EXPLAIN in tests and
// benchmarks.
func (s *Store) CustomerSearchSQL(business string, f ledger.CustomerFilter, page ledger.Page) string {
	var rows []customerRow
	return customerQuery(s.db, business, f, page, &rows).String()
}

// AuditEntry is one recorded request against a customer.
type AuditEntry struct {
	ID         int64
	RequestID  string
	Method     string
	Path       string
	KeyID      string
	StatusCode int
	CreatedAt  time.Time
}

// FindAuditLog returns up to page.Limit+1 audit entries of one customer, newest
// first. The cursor id is the entry's numeric id in decimal.
func (s *Store) FindAuditLog(ctx context.Context, business, customer string, page ledger.Page) ([]AuditEntry, error) {
	return readAs(ctx, s, business, func(s *Store) ([]AuditEntry, error) {
		q := s.q.NewSelect().Table("audit_log").
			Column("id", "request_id", "method", "path", "key_id", "status_code", "created_at").
			Where("business_id = ? AND customer_id = ?", business, customer)
		if c := page.After; c != nil {
			id, err := strconv.ParseInt(c.ID, 10, 64)
			if err != nil {
				return nil, ledger.ParamErrorf(ledger.CodeValidation, "cursor", "cursor is not valid; use next_cursor from a previous page")
			}
			q = q.Where("(created_at, id) < (?, ?)", c.CreatedAt, id)
		}
		var out []AuditEntry
		err := q.OrderExpr("created_at DESC, id DESC").Limit(int64(page.Limit+1)).Scan(ctx, &out)
		for i := range out {
			out[i].CreatedAt = out[i].CreatedAt.UTC()
		}
		return out, translate(err)
	})
}
