package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

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
	return findCustomer(ctx, s.db, business, id, false)
}

// FindCustomer reads a customer inside the transaction; forUpdate locks its row.
func (t *Tx) FindCustomer(ctx context.Context, business, id string, forUpdate bool) (ledger.Customer, error) {
	return findCustomer(ctx, t.tx, business, id, forUpdate)
}

func findCustomer(ctx context.Context, db bun.IDB, business, id string, forUpdate bool) (ledger.Customer, error) {
	if !ledger.ValidID(id, ledger.PrefixCustomer) {
		return ledger.Customer{}, ledger.Errorf(ledger.CodeNotFound, "customer %q not found", id)
	}
	var r customerRow
	q := db.NewSelect().Model(&r).Where("business_id = ? AND id = ?", business, id)
	if forUpdate {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ledger.Customer{}, ledger.Errorf(ledger.CodeNotFound, "customer %q not found", id)
		}
		return ledger.Customer{}, translate(err)
	}
	return r.domain(), nil
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
