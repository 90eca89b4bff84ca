package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// transferBatchMax bounds POST /v1/transfers/batch.
const transferBatchMax = 1000

type transferDTO struct {
	ID          string            `json:"id"`
	ProfileID   string            `json:"profile_id"`
	ToProfileID string            `json:"to_profile_id"`
	Status      string            `json:"status"`
	Currency    string            `json:"currency"`
	Amount      string            `json:"amount"`
	Description *string           `json:"description"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   string            `json:"created_at"`
}

func toTransferDTO(cs ledger.Currencies, t ledger.Transfer) transferDTO {
	d := transferDTO{ID: t.ID, ProfileID: t.FromProfileID, ToProfileID: t.ToProfileID, Status: t.Status, Currency: t.Currency,
		Amount: cs[t.Currency].Format(t.Amount), Description: strPtr(t.Description), Metadata: t.Metadata, CreatedAt: rfc3339(t.CreatedAt)}
	if d.Metadata == nil {
		d.Metadata = map[string]string{}
	}
	return d
}

type transferRequest struct {
	Currency    string            `json:"currency"`
	Amount      string            `json:"amount"`
	ToProfileID string            `json:"to_profile_id"`
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
}

// validate checks a transfer's own fields; prefix names fields inside a batch.
func (r transferRequest) validate(cs ledger.Currencies, sc ledger.Scope, prefix string) (ledger.Transfer, error) {
	var errs ledger.FieldErrors
	t := ledger.Transfer{ID: ledger.NewID(ledger.PrefixTransfer), Business: sc.Business.ID, FromProfileID: sc.ProfileID(),
		ToProfileID: strings.TrimSpace(r.ToProfileID), Description: r.Description}
	cur, err := cs.Get(r.Currency, prefix+"currency")
	if r.Currency == "" {
		errs.Add(ledger.CodeValidation, prefix+"currency", "currency is required")
	} else {
		errs.AddErr(prefix+"currency", err)
	}
	t.Currency = cur.Code
	if r.Amount == "" {
		errs.Add(ledger.CodeValidation, prefix+"amount", "amount is required")
	} else if cur.Code != "" {
		amt, err := cur.ParseAmount(r.Amount)
		errs.AddErr(prefix+"amount", err)
		t.Amount = amt
	}
	switch {
	case t.ToProfileID == "":
		errs.Add(ledger.CodeValidation, prefix+"to_profile_id", "to_profile_id is required")
	case t.ToProfileID == t.FromProfileID:
		errs.Add(ledger.CodeValidation, prefix+"to_profile_id", "to_profile_id must differ from the sending profile")
	}
	if len(r.Description) > 1000 {
		errs.Add(ledger.CodeValidation, prefix+"description", "description must be at most 1000 characters")
	}
	md, err := ledger.ValidateMetadata(r.Metadata)
	errs.AddErr(prefix+"metadata", err)
	t.Metadata = md
	return t, errs.Err()
}

func (s *Server) createTransfer(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	var req transferRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := sc.CanDebit(); err != nil {
		return err
	}
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	t, err := req.validate(cs, sc, "")
	if err != nil {
		return err
	}
	return s.combine(c, sc, &moneyJob{kind: kindTransfer, transfer: t, cs: cs})
}

type transferBatchRequest struct {
	Transfers []transferRequest `json:"transfers"`
	Atomic    *bool             `json:"atomic"`
}

type batchResult struct {
	Index    int          `json:"index"`
	Status   string       `json:"status"` // completed or failed
	Transfer *transferDTO `json:"transfer"`
	Error    *errorBody   `json:"error"`
}

// createTransferBatch books up to 1,000 transfers in one database transaction:
// one commit instead of a thousand. atomic (default true) refuses the whole batch
// on the first invalid transfer; atomic=false books the valid ones and reports
// each failure, still in one commit.
func (s *Server) createTransferBatch(c *fiber.Ctx) error {
	sc, err := scopeFrom(c)
	if err != nil {
		return err
	}
	var req transferBatchRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if len(req.Transfers) == 0 || len(req.Transfers) > transferBatchMax {
		return ledger.ParamErrorf(ledger.CodeValidation, "transfers", "transfers must hold 1 to %d transfers", transferBatchMax)
	}
	if err := sc.CanDebit(); err != nil {
		return err
	}
	atomic := req.Atomic == nil || *req.Atomic
	cs, err := s.currencies(c.UserContext())
	if err != nil {
		return err
	}
	results := make([]batchResult, len(req.Transfers))
	var valid []ledger.Transfer
	var validIdx []int
	for i, r := range req.Transfers {
		t, err := r.validate(cs, sc, fmt.Sprintf("transfers[%d].", i))
		results[i].Index = i
		if err != nil {
			if atomic {
				return err
			}
			results[i].Status, results[i].Error = "failed", s.errorBodyOf(c, err)
			continue
		}
		valid, validIdx = append(valid, t), append(validIdx, i)
	}
	return s.write(c, fiber.StatusCreated, "Transfers processed", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error) {
		recipients, err := lockRecipients(ctx, tx, sc.Business.ID, valid)
		if err != nil {
			return nil, err
		}
		// Recipients first, then every transfer that passed as one set: the ledger
		// decides funds in order, as if the transfers were booked one by one.
		var toBook []ledger.Transfer
		var toBookIdx []int
		var refused error // atomic: the first bad recipient; the transfers before it still decide which error is first
		for k := range valid {
			t, i := valid[k], validIdx[k]
			if err := recipients.check(t.ToProfileID, fmt.Sprintf("transfers[%d].to_profile_id", i)); err != nil {
				if atomic {
					refused = err
					break
				}
				results[i].Status, results[i].Error = "failed", s.errorBodyOf(c, err)
				continue
			}
			toBook, toBookIdx = append(toBook, t), append(toBookIdx, i)
		}
		errs, err := tx.BookTransfers(ctx, toBook)
		if err != nil {
			return nil, err
		}
		var booked []ledger.Transfer
		var bookedIdx []int
		for k, t := range toBook {
			i := toBookIdx[k]
			if err := errs[k]; err != nil {
				if atomic {
					if le, ok := err.(*ledger.Error); ok && le.Param == "" {
						le.Param = fmt.Sprintf("transfers[%d]", i)
					}
					return nil, err
				}
				results[i].Status, results[i].Error = "failed", s.errorBodyOf(c, err)
				continue
			}
			booked, bookedIdx = append(booked, t), append(bookedIdx, i)
		}
		if refused != nil {
			return nil, refused
		}
		if err := tx.SaveTransfers(ctx, booked); err != nil {
			return nil, err
		}
		for k, t := range booked {
			dto := toTransferDTO(cs, t)
			results[bookedIdx[k]].Status, results[bookedIdx[k]].Transfer = "completed", &dto
			if err := tx.Event(ctx, sc.Business.ID, "transfer.completed", t.FromProfileID, dto); err != nil {
				return nil, err
			}
		}
		return fiber.Map{"atomic": atomic, "results": results}, nil
	})
}

// recipientSet is the status of every customer a batch pays, read with one query.
type recipientSet struct {
	business string
	status   map[string]ledger.CustomerStatus
}

// lockRecipients share-locks every customer the transfers pay, so none can be
// closed before the transfers commit.
func lockRecipients(ctx context.Context, tx *postgres.Tx, business string, trs []ledger.Transfer) (recipientSet, error) {
	seen := map[string]bool{}
	var ids []string
	for _, t := range trs {
		if strings.HasPrefix(t.ToProfileID, ledger.PrefixCustomer) && !seen[t.ToProfileID] {
			seen[t.ToProfileID] = true
			ids = append(ids, t.ToProfileID)
		}
	}
	st, err := tx.ShareLockCustomers(ctx, business, ids)
	return recipientSet{business: business, status: st}, err
}

// check resolves one recipient within the business: unknown, malformed or another
// tenant's → profile_not_found; a closed customer cannot receive.
func (r recipientSet) check(id, param string) error {
	if id == r.business {
		return nil
	}
	st, ok := r.status[id]
	switch {
	case !ok:
		return ledger.ParamErrorf(ledger.CodeProfileNotFound, param, "profile %q not found", id)
	case st == ledger.CustomerClosed:
		return ledger.ParamErrorf(ledger.CodeProfileInactive, param, "customer %s is closed and cannot receive money", id)
	}
	return nil
}

// errorBodyOf renders err as the error object of a batch item.
func (s *Server) errorBodyOf(c *fiber.Ctx, err error) *errorBody {
	code := ledger.ErrorCode(err)
	if code == ledger.CodeInternal {
		s.log.Error("batch item", "request_id", requestID(c), "err", err.Error())
		return &errorBody{Name: "internal", Code: code, Message: "internal error", RequestID: requestID(c)}
	}
	var msg, param string
	var e *ledger.Error
	if errors.As(err, &e) {
		msg, param = e.Message, e.Param
	}
	return &errorBody{Name: nameByStatus[statusByCode[code]], Code: code, Message: msg, Param: param, RequestID: requestID(c)}
}

func (s *Server) listTransfers(c *fiber.Ctx) error {
	return scopedList(s, c, "Transfers retrieved", s.store.ListTransfers,
		func(t postgres.ListedTransfer) (time.Time, string) { return t.Position.CreatedAt, t.Position.ID },
		func(cs ledger.Currencies, t postgres.ListedTransfer) transferDTO {
			return toTransferDTO(cs, t.Transfer)
		})
}

func (s *Server) getTransfer(c *fiber.Ctx) error {
	return scopedGet(s, c, "Transfer retrieved", s.store.FindTransfer, toTransferDTO)
}
