package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/ledger"
)

type businessDTO struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Mode      string `json:"mode"`
	CreatedAt string `json:"created_at"`
}

func toBusinessDTO(b ledger.Business) businessDTO {
	return businessDTO{ID: b.ID, Name: b.Name, Mode: string(b.Mode), CreatedAt: rfc3339(b.CreatedAt)}
}

// getBusiness returns the authenticated business.
func (s *Server) getBusiness(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	return ok(c, fiber.StatusOK, "Business retrieved", toBusinessDTO(p.business))
}

type profileDTO struct {
	ProfileID string       `json:"profile_id"`
	Type      string       `json:"type"` // business or customer
	Status    string       `json:"status"`
	Customer  *customerDTO `json:"customer"`
}

// getProfile returns the profile the request acts for after X-BU-PROFILE-ID is
// resolved: a way for integrators to check the header before moving money.
func (s *Server) getProfile(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	d := profileDTO{ProfileID: sc.ProfileID(), Type: "business", Status: "active"}
	if sc.Customer != nil {
		cd := toCustomerDTO(*sc.Customer)
		d.Type, d.Status, d.Customer = "customer", string(sc.Customer.Status), &cd
	}
	return ok(c, fiber.StatusOK, "Profile retrieved", d)
}
