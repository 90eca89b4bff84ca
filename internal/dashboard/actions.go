package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/api"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// mutation is a dashboard change inside one transaction; it returns the profile it
// touched (a customer id, or the business id for business-wide changes), which
// names the audit entry.
type mutation func(ctx context.Context, tx *postgres.Tx) (string, error)

// change runs fn and its audit entry in one transaction, so the change and its
// record of who made it commit together. The entry's key_id is the user (USR_…)
// and its status the dashboard's answer, 303. A refusal (not a missing record, not
// an internal error) against a known subject is recorded in its own statement, as
// the API records refused requests.
func (d *Dashboard) change(c *fiber.Ctx, r *request, subject string, fn mutation) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	audit := postgres.Audit{RequestID: requestID(c), Method: c.Method(), Path: c.Path(), KeyID: r.user.ID, StatusCode: fiber.StatusSeeOther}
	err := d.store.InTxAs(ctx, r.business.ID, func(ctx context.Context, tx *postgres.Tx) error {
		touched, err := fn(ctx, tx)
		if err != nil {
			return err
		}
		if touched == "" {
			touched = subject
		}
		return tx.Audit(ctx, r.business.ID, touched, audit)
	})
	if err != nil && subject != "" {
		d.auditRefusal(c, r, subject, audit, err)
	}
	return err
}

func (d *Dashboard) auditRefusal(c *fiber.Ctx, r *request, subject string, a postgres.Audit, err error) {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code == ledger.CodeNotFound || le.Code == ledger.CodeInternal || le.Code == ledger.CodeUnavailable {
		return
	}
	a.StatusCode = statusOf(le.Code)
	ctx, cancel := d.ctx(c)
	defer cancel()
	_ = d.store.InTxAs(ctx, r.business.ID, func(ctx context.Context, tx *postgres.Tx) error {
		return tx.Audit(ctx, r.business.ID, subject, a)
	})
}

// refused turns a domain refusal into a message on the page the user came from;
// anything else (missing record, internal error) goes to the error page.
func (d *Dashboard) refused(c *fiber.Ctx, back string, err error) error {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code == ledger.CodeNotFound || le.Code == ledger.CodeProfileNotFound ||
		le.Code == ledger.CodeInternal || le.Code == ledger.CodeUnavailable {
		return err
	}
	msg := le.Message
	if len(le.Fields) > 1 {
		keys := make([]string, 0, len(le.Fields))
		for k := range le.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = le.Fields[k]
		}
		msg = strings.Join(parts, "; ")
	}
	return d.redirect(c, back, "error", msg)
}

// customerFields are the profile fields the edit form carries.
var customerFields = []string{"email", "first_name", "last_name", "business_name", "phone", "country", "external_id",
	"note", "status", "kyc_status"}

// updateCustomer applies the edit form through api.PatchCustomer, the code of
// PATCH /v1/customers/{id}. Only fields whose value differs from the profile as
// shown are sent, so an untouched field is never rewritten.
func (d *Dashboard) updateCustomer(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	cur, err := d.store.FindCustomer(ctx, r.business.ID, c.Params("id"))
	if err != nil {
		return err
	}
	old := map[string]string{"email": cur.Email, "first_name": cur.FirstName, "last_name": cur.LastName,
		"business_name": cur.BusinessName, "phone": cur.Phone, "country": cur.Country, "external_id": cur.ExternalID,
		"note": cur.Note, "status": string(cur.Status), "kyc_status": cur.KYCStatus}
	var p ledger.CustomerPatch
	dst := map[string]**string{"email": &p.Email, "first_name": &p.FirstName, "last_name": &p.LastName,
		"business_name": &p.BusinessName, "phone": &p.Phone, "country": &p.Country, "external_id": &p.ExternalID,
		"note": &p.Note, "status": &p.Status, "kyc_status": &p.KYCStatus}
	changed := 0
	for _, k := range customerFields {
		if !c.Request().PostArgs().Has(k) {
			continue
		}
		v := strings.Clone(c.FormValue(k))
		if v != old[k] {
			*dst[k] = &v
			changed++
		}
	}
	back := "/dashboard/customers/" + cur.ID
	if changed == 0 {
		return d.redirect(c, back, "ok", "Nothing changed.")
	}
	err = d.change(c, r, cur.ID, func(ctx context.Context, tx *postgres.Tx) (string, error) {
		_, err := api.PatchCustomer(ctx, tx, r.business.ID, cur.ID, p)
		return cur.ID, err
	})
	if err != nil {
		return d.refused(c, back, err)
	}
	return d.redirect(c, back, "ok", "Customer updated.")
}

// closeCustomer closes the customer through api.CloseCustomer (balance_not_zero
// while any balance is non-zero).
func (d *Dashboard) closeCustomer(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	cust, err := d.store.FindCustomer(ctx, r.business.ID, c.Params("id"))
	if err != nil {
		return err
	}
	back := "/dashboard/customers/" + cust.ID
	err = d.change(c, r, cust.ID, func(ctx context.Context, tx *postgres.Tx) (string, error) {
		_, _, err := api.CloseCustomer(ctx, tx, r.business.ID, cust.ID)
		return cust.ID, err
	})
	if err != nil {
		return d.refused(c, back, err)
	}
	return d.redirect(c, back, "ok", "Customer closed.")
}

// createPayout sends a payout from the customer's balance through the API's
// payout code (validation, risk list, fee, hold, event).
func (d *Dashboard) createPayout(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	cust, err := d.store.FindCustomer(ctx, r.business.ID, c.Params("id"))
	if err != nil {
		return err
	}
	back := "/dashboard/customers/" + cust.ID + "?tab=assets"
	form := api.PayoutForm{Currency: strings.ToUpper(strings.TrimSpace(c.FormValue("currency"))),
		Amount: strings.TrimSpace(c.FormValue("amount")), Network: strings.TrimSpace(c.FormValue("network")),
		Address: strings.TrimSpace(c.FormValue("address")), Reference: c.FormValue("reference"),
		Description: c.FormValue("description"), BeneficiaryName: c.FormValue("beneficiary_name"),
		BeneficiaryCountry: c.FormValue("beneficiary_country")}
	place, err := d.domain.PreparePayout(ctx, ledger.Scope{Business: r.business, Customer: &cust}, form)
	if err != nil {
		d.auditRefusal(c, r, cust.ID, postgres.Audit{RequestID: requestID(c), Method: c.Method(), Path: c.Path(), KeyID: r.user.ID}, err)
		return d.refused(c, back, err)
	}
	var created struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	err = d.change(c, r, cust.ID, func(ctx context.Context, tx *postgres.Tx) (string, error) {
		dto, err := place(ctx, tx)
		if err != nil {
			return "", err
		}
		raw, err := json.Marshal(dto) // the API's rendering of the payout
		if err != nil {
			return "", err
		}
		return cust.ID, json.Unmarshal(raw, &created)
	})
	if err != nil {
		return d.refused(c, back, err)
	}
	return d.redirect(c, "/dashboard/payouts", "ok", fmt.Sprintf("Payout %s created (%s).", created.ID, created.Status))
}

// cancelPayout cancels a pending payout of any profile of the business.
func (d *Dashboard) cancelPayout(c *fiber.Ctx, r *request) error {
	id := strings.Clone(c.Params("id"))
	if !ledger.ValidID(id, ledger.PrefixPayout) {
		return ledger.Errorf(ledger.CodeNotFound, "payout not found")
	}
	err := d.change(c, r, "", func(ctx context.Context, tx *postgres.Tx) (string, error) {
		p, err := d.domain.CancelPayout(ctx, tx, r.business.ID, "", id)
		return p.ProfileID, err
	})
	if err != nil {
		return d.refused(c, "/dashboard/payouts", err)
	}
	return d.redirect(c, "/dashboard/payouts", "ok", "Payout "+id+" cancelled; its hold is released.")
}

// redeliver queues an event again to every live endpoint subscribed to it, as
// POST /v1/events/{id}/redeliver does.
func (d *Dashboard) redeliver(c *fiber.Ctx, r *request) error {
	ctx, cancel := d.ctx(c)
	defer cancel()
	e, err := d.store.FindEvent(ctx, r.business.ID, "", c.Params("id"))
	if err != nil {
		return err
	}
	var n int
	err = d.change(c, r, e.ProfileID, func(ctx context.Context, tx *postgres.Tx) (string, error) {
		ds, err := tx.RedeliverEvent(ctx, r.business.ID, e)
		n = len(ds)
		return e.ProfileID, err
	})
	if err != nil {
		return d.refused(c, "/dashboard/webhooks", err)
	}
	return d.redirect(c, "/dashboard/webhooks", "ok", fmt.Sprintf("Event %s queued for %d endpoint(s).", e.ID, n))
}

// createAPIKey creates a secret key and shows it on this response only.
func (d *Dashboard) createAPIKey(c *fiber.Ctx, r *request) error {
	mode, name, err := api.ValidateAPIKey(c.FormValue("mode"), c.FormValue("name"))
	if err != nil {
		return d.refused(c, "/dashboard/api-keys", err)
	}
	var key ledger.APIKey
	var secret string
	err = d.change(c, r, r.business.ID, func(ctx context.Context, tx *postgres.Tx) (string, error) {
		var err error
		key, secret, err = tx.CreateAPIKey(ctx, r.business, mode, name)
		return r.business.ID, err
	})
	if err != nil {
		return d.refused(c, "/dashboard/api-keys", err)
	}
	return d.renderAPIKeys(c, r, fiber.StatusCreated, map[string]string{"ID": key.ID, "Secret": secret})
}

// revokeAPIKey revokes a key at once, with the store call DELETE /v1/api-keys/{id}
// makes; the audit entry follows in its own transaction.
func (d *Dashboard) revokeAPIKey(c *fiber.Ctx, r *request) error {
	id := strings.Clone(c.Params("id"))
	if !ledger.ValidID(id, ledger.PrefixKey) {
		return ledger.Errorf(ledger.CodeNotFound, "API key not found")
	}
	ctx, cancel := d.ctx(c)
	defer cancel()
	if err := d.store.RevokeAPIKey(ctx, r.business.ID, id); err != nil {
		return err
	}
	err := d.change(c, r, r.business.ID, func(context.Context, *postgres.Tx) (string, error) { return r.business.ID, nil })
	if err != nil {
		return err
	}
	return d.redirect(c, "/dashboard/api-keys", "ok", "API key "+id+" revoked.")
}
