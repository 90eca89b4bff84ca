package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// idempotencyKeyLenMax bounds the Idempotency-Key header (API.md §3).
const idempotencyKeyLenMax = 255

// change describes one mutating request while it runs: the handler names the
// customer it touched (for the audit log) and the success message.
type change struct {
	status   int
	message  string
	customer string
	business string // the customer's business, when the caller is a rail
}

// mutation is a handler's work inside the request's database transaction.
type mutation func(ctx context.Context, tx *postgres.Tx, ch *change) (any, error)

// write runs fn in one transaction together with the idempotency record and the
// audit entry, so the effect, its replayable response and its audit trail commit
// atomically (API.md §3). A replay answers the stored status and body with
// Idempotent-Replayed: true and has no second effect.
func (s *Server) write(c *fiber.Ctx, status int, message string, fn mutation) error {
	p, ok := principalFrom(c)
	if !ok {
		return ledger.Errorf(ledger.CodeUnauthenticated, "credential required")
	}
	ch := &change{status: status, message: message}
	if sc, ok := c.Locals(keyScope).(ledger.Scope); ok && sc.Customer != nil {
		ch.customer = sc.Customer.ID
	}
	var key string
	var reqHash []byte
	if !p.rail {
		// Rail calls are idempotent by nature (deposits by chain output, payout
		// steps by state), and a rail has no business to scope a key to.
		var err error
		if key, reqHash, err = idempotencyOf(c); err != nil {
			return err
		}
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	var replay *postgres.StoredResponse
	var body []byte
	// Row-level security: a business's transaction sees that business only. A rail
	// has none; its steps run as the operator.
	inTx := func(ctx context.Context, fn func(ctx context.Context, tx *postgres.Tx) error) error {
		return s.store.InTxAs(ctx, p.business.ID, fn)
	}
	if p.rail {
		inTx = s.store.InTx
	}
	err := inTx(ctx, func(ctx context.Context, tx *postgres.Tx) error {
		replay, body = nil, nil
		if key != "" {
			stored, err := tx.ClaimIdempotencyKey(ctx, p.business.ID, key, reqHash)
			if err != nil || stored != nil {
				replay = stored
				return err
			}
		}
		data, err := fn(ctx, tx, ch)
		if err != nil {
			return err
		}
		body, err = json.Marshal(envelope{Status: "success", Message: ch.message, Data: data})
		if err != nil {
			return err
		}
		if ch.customer != "" {
			if err := tx.Audit(ctx, ch.auditBusiness(p), ch.customer, s.audit(c, ch.status)); err != nil {
				return err
			}
		}
		if key != "" {
			return tx.SaveIdempotentResponse(ctx, p.business.ID, key, reqHash, postgres.StoredResponse{StatusCode: ch.status, Body: body})
		}
		return nil
	})
	if err != nil {
		s.auditFailure(c, ch, err)
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if replay != nil {
		c.Set("Idempotent-Replayed", "true")
		return c.Status(replay.StatusCode).Send(replay.Body)
	}
	return c.Status(ch.status).Send(body)
}

func (s *Server) audit(c *fiber.Ctx, status int) postgres.Audit {
	p, _ := principalFrom(c)
	return postgres.Audit{RequestID: requestID(c), Method: c.Method(), Path: c.Path(), KeyID: p.keyID, StatusCode: status}
}

// auditFailure records a refused request against its customer in its own
// statement, since the request's transaction rolled back.
func (s *Server) auditFailure(c *fiber.Ctx, ch *change, err error) {
	if ch.customer == "" {
		return
	}
	status, ok := auditedStatus(err)
	if !ok {
		return
	}
	p, _ := principalFrom(c)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	_ = s.store.InTxAs(ctx, ch.auditBusiness(p), func(ctx context.Context, tx *postgres.Tx) error {
		return tx.Audit(ctx, ch.auditBusiness(p), ch.customer, s.audit(c, status))
	})
}

func (ch *change) auditBusiness(p *principal) string {
	if ch.business != "" {
		return ch.business
	}
	return p.business.ID
}

// idempotencyOf returns the request's Idempotency-Key, checked, and the hash that
// ties the key to this request ("" and nil without a key).
func idempotencyOf(c *fiber.Ctx) (string, []byte, error) {
	key := c.Get("Idempotency-Key")
	if key == "" {
		return "", nil, nil
	}
	if len(key) > idempotencyKeyLenMax || !utf8.ValidString(key) {
		return "", nil, ledger.ParamErrorf(ledger.CodeValidation, "Idempotency-Key", "Idempotency-Key must be 1 to %d characters", idempotencyKeyLenMax)
	}
	return strings.Clone(key), requestHash(c), nil
}

// requestHash identifies a request for idempotency: method, path, profile and body.
func requestHash(c *fiber.Ctx) []byte {
	profile := c.Get(HeaderProfileID)
	if sc, ok := c.Locals(keyScope).(ledger.Scope); ok {
		profile = sc.ProfileID()
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(c.Method()), []byte(c.Path()), []byte(profile), c.Body()} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}
