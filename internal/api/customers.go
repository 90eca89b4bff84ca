package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

func (s *Server) customerRoutes(v1 fiber.Router) {
	v1.Post("/customers", s.createCustomer)
	v1.Get("/customers/:id", s.getCustomer)
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
	cust, err := ledger.NewCustomer(p.business.ID, req.patch(), time.Now().UTC().Truncate(time.Microsecond))
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
