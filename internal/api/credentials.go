package api

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

// apiKeyNameLenMax bounds an API key's name (characters).
const apiKeyNameLenMax = 100

// credentials is the Server's credential state, built on first use: the rate
// limiter and the route index behind the token scope check.
type credentials struct {
	limiterOnce sync.Once
	limiter     *rateLimiter
	routesOnce  sync.Once
	routes      map[string][]routePattern // registered /v1 routes by method, in Fiber's order
	tableRoutes map[string][]routePattern // tokenRoutes templates by method
}

// credentialRoutes registers API key management and customer tokens (API.md §1, §4).
func (s *Server) credentialRoutes(v1 fiber.Router) {
	v1.Post("/api-keys", s.createAPIKey)
	v1.Get("/api-keys", s.listAPIKeys)
	v1.Get("/api-keys/:id", s.getAPIKey)
	v1.Delete("/api-keys/:id", s.revokeAPIKey)
	v1.Post("/customers/:id/tokens", s.createCustomerToken)
}

type apiKeyDTO struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	Name       string  `json:"name"`
	Mode       string  `json:"mode"`
	Hint       string  `json:"hint"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
	RevokedAt  *string `json:"revoked_at"`
}

// newAPIKeyDTO is the answer to a create: the key and, this once, its secret.
type newAPIKeyDTO struct {
	apiKeyDTO
	SecretKey *string `json:"secret_key"`
}

func toAPIKeyDTO(k ledger.APIKey) apiKeyDTO {
	return apiKeyDTO{ID: k.ID, Object: "api_key", Name: k.Name, Mode: string(k.Mode), Hint: k.Hint,
		CreatedAt: rfc3339(k.CreatedAt), LastUsedAt: rfc3339Ptr(k.LastUsedAt), RevokedAt: rfc3339Ptr(k.RevokedAt)}
}

type apiKeyRequest struct {
	Mode *string `json:"mode"`
	Name *string `json:"name"`
}

func (r apiKeyRequest) validate() (ledger.KeyMode, string, error) {
	var errs ledger.FieldErrors
	var mode ledger.KeyMode
	switch {
	case r.Mode == nil:
		errs.Add(ledger.CodeValidation, "mode", "mode is required: full or read_only")
	case *r.Mode == string(ledger.KeyFull) || *r.Mode == string(ledger.KeyReadOnly):
		mode = ledger.KeyMode(*r.Mode)
	default:
		errs.Add(ledger.CodeValidation, "mode", "mode must be full or read_only")
	}
	var name string
	if r.Name != nil {
		name = strings.TrimSpace(*r.Name)
		if utf8.RuneCountInString(name) > apiKeyNameLenMax || strings.IndexFunc(name, unicode.IsControl) >= 0 {
			errs.Add(ledger.CodeValidation, "name", "name must be at most %d printable characters", apiKeyNameLenMax)
		}
	}
	return mode, name, errs.Err()
}

// ValidateAPIKey checks an API key's mode and name exactly as POST /v1/api-keys does.
func ValidateAPIKey(mode, name string) (ledger.KeyMode, string, error) {
	return apiKeyRequest{Mode: &mode, Name: &name}.validate()
}

// createAPIKey creates a secret key of the calling business. The secret is in this
// response only: an Idempotency-Key replay answers the key with secret_key null.
func (s *Server) createAPIKey(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	if p.customer != nil {
		return ledger.Errorf(ledger.CodeForbidden, "customer tokens cannot manage API keys")
	}
	var req apiKeyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	mode, name, err := req.validate()
	if err != nil {
		return err
	}
	return s.writeSecret(c, fiber.StatusCreated, "API key created", func(ctx context.Context, tx *postgres.Tx, _ *change) (any, any, error) {
		key, secret, err := tx.CreateAPIKey(ctx, p.business, mode, name)
		if err != nil {
			return nil, nil, err
		}
		dto := toAPIKeyDTO(key)
		return newAPIKeyDTO{dto, &secret}, newAPIKeyDTO{dto, nil}, nil
	})
}

// listAPIKeys lists the business's keys, newest first, revoked ones included,
// never with a secret.
func (s *Server) listAPIKeys(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	if p.customer != nil {
		return ledger.Errorf(ledger.CodeForbidden, "customer tokens cannot manage API keys")
	}
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	keys, more, err := s.store.FindAPIKeys(ctx, p.business.ID, page)
	if err != nil {
		return err
	}
	out := make([]apiKeyDTO, len(keys))
	for i, k := range keys {
		out[i] = toAPIKeyDTO(k)
	}
	var next string
	if more && len(keys) > 0 {
		last := keys[len(keys)-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	return okList(c, "API keys retrieved", out, page.Limit, next)
}

// revokeAPIKey revokes a key of the calling business, effective on the very next
// request (keys are looked up in the database on every request; there is no key
// cache). A key may revoke itself. Revoking a revoked key is 204 again, so a
// retried DELETE is safe; an unknown key or another business's key is not_found.
func (s *Server) revokeAPIKey(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	if p.customer != nil {
		return ledger.Errorf(ledger.CodeForbidden, "customer tokens cannot manage API keys")
	}
	id := c.Params("id")
	if !ledger.ValidID(id, ledger.PrefixKey) {
		return ledger.Errorf(ledger.CodeNotFound, "API key %q not found", truncate(id, 64))
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	if err := s.store.RevokeAPIKey(ctx, p.business.ID, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type tokenRequest struct {
	Scopes     []string `json:"scopes"`
	TTLSeconds *int     `json:"ttl_seconds"`
}

type tokenDTO struct {
	ID         string   `json:"id"`
	Object     string   `json:"object"`
	Token      *string  `json:"token"`
	ExpiresAt  string   `json:"expires_at"`
	Scopes     []string `json:"scopes"`
	CustomerID string   `json:"customer_id"`
}

func (r tokenRequest) validate() ([]string, time.Duration, error) {
	var errs ledger.FieldErrors
	set, err := parseScopes(r.Scopes)
	errs.AddErr("scopes", err)
	ttl := tokenTTLDefault
	if r.TTLSeconds != nil {
		ttl = time.Duration(*r.TTLSeconds) * time.Second
		if ttl < tokenTTLMin || ttl > tokenTTLMax {
			errs.Add(ledger.CodeValidation, "ttl_seconds", "ttl_seconds must be from %d to %d", int(tokenTTLMin.Seconds()), int(tokenTTLMax.Seconds()))
		}
	}
	scopes := make([]string, 0, len(set))
	for _, sc := range tokenScopes { // canonical order
		if set[sc] {
			scopes = append(scopes, sc)
		}
	}
	return scopes, ttl, errs.Err()
}

// createCustomerToken mints a customer token (API.md §4). Secret keys only. A
// closed customer gets 409 invalid_state: closing is final, so no token can ever
// be useful to it; a suspended one gets a token, with which it can read but not
// send money (profile_inactive), like every other way of acting for it.
func (s *Server) createCustomerToken(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	if p.customer != nil {
		return ledger.Errorf(ledger.CodeForbidden, "customer tokens cannot mint tokens")
	}
	var req tokenRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	scopes, ttl, err := req.validate()
	if err != nil {
		return err
	}
	id := c.Params("id")
	return s.writeSecret(c, fiber.StatusCreated, "Customer token created", func(ctx context.Context, tx *postgres.Tx, ch *change) (any, any, error) {
		cust, err := tx.FindCustomer(ctx, p.business.ID, id, false)
		if err != nil {
			return nil, nil, err
		}
		ch.customer = cust.ID // audited: the request touched this customer
		if cust.Status == ledger.CustomerClosed {
			return nil, nil, ledger.Errorf(ledger.CodeInvalidState, "customer %s is closed; no token can be issued for it", cust.ID)
		}
		tok, err := signToken(s.cfg.TokenKeys, p.business.ID, cust.ID, scopes, ttl, time.Now())
		if err != nil {
			return nil, nil, err
		}
		dto := tokenDTO{ID: tok.ID, Object: "customer_token", ExpiresAt: rfc3339(tok.ExpiresAt), Scopes: scopes, CustomerID: cust.ID}
		stored := dto
		dto.Token = &tok.Raw
		return dto, stored, nil
	})
}

// secretMutation is a handler's work for a response that carries a secret: shown is
// answered, stored (the same without the secret) is what an idempotent replay gets.
type secretMutation func(ctx context.Context, tx *postgres.Tx, ch *change) (shown, stored any, err error)

// writeSecret is write for responses that carry a secret shown once (an API key, a
// customer token). Keys and tokens are stored only as hashes or not at all, so the
// idempotency record keeps the response with the secret set to null; a replay
// answers that. The effect, the idempotency record and the audit entry (when fn
// names the customer it touched in ch) commit atomically.
func (s *Server) writeSecret(c *fiber.Ctx, status int, message string, fn secretMutation) error {
	p, ok := principalFrom(c)
	if !ok {
		return ledger.Errorf(ledger.CodeUnauthenticated, "credential required")
	}
	key := c.Get("Idempotency-Key")
	var reqHash []byte
	if key != "" {
		if len(key) > idempotencyKeyLenMax || !utf8.ValidString(key) {
			return ledger.ParamErrorf(ledger.CodeValidation, "Idempotency-Key", "Idempotency-Key must be 1 to %d characters", idempotencyKeyLenMax)
		}
		reqHash = requestHash(c)
	}
	ch := &change{status: status, message: message}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	var replay *postgres.StoredResponse
	var body []byte
	err := s.store.InTxAs(ctx, p.business.ID, func(ctx context.Context, tx *postgres.Tx) error {
		replay, body, ch.customer = nil, nil, ""
		if key != "" {
			stored, err := tx.ClaimIdempotencyKey(ctx, p.business.ID, key, reqHash)
			if err != nil || stored != nil {
				replay = stored
				return err
			}
		}
		shown, stored, err := fn(ctx, tx, ch)
		if err != nil {
			return err
		}
		if body, err = json.Marshal(envelope{Status: "success", Message: message, Data: shown}); err != nil {
			return err
		}
		if ch.customer != "" {
			if err := tx.Audit(ctx, p.business.ID, ch.customer, s.audit(c, status)); err != nil {
				return err
			}
		}
		if key == "" {
			return nil
		}
		redacted, err := json.Marshal(envelope{Status: "success", Message: message, Data: stored})
		if err != nil {
			return err
		}
		return tx.SaveIdempotentResponse(ctx, p.business.ID, key, reqHash, postgres.StoredResponse{StatusCode: status, Body: redacted})
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
	return c.Status(status).Send(body)
}

// getAPIKey returns one of the business's keys, without its secret.
func (s *Server) getAPIKey(c *fiber.Ctx) error {
	p, _ := principalFrom(c)
	ctx, cancel := s.requestContext(c)
	defer cancel()
	k, err := s.store.FindAPIKey(ctx, p.business.ID, c.Params("id"))
	if err != nil {
		return err
	}
	return ok(c, fiber.StatusOK, "API key retrieved", toAPIKeyDTO(k))
}
