package api

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/ledger"
)

// HeaderProfileID names the profile a request acts for (API.md §2).
const HeaderProfileID = "X-BU-PROFILE-ID"

type localKey int

const (
	keyRequestID localKey = iota
	keyPrincipal
	keyScope
)

// principal is who is calling: a business through one of its secret keys, or one
// of its customers through a customer token (customer set, keyID the token's jti).
type principal struct {
	business ledger.Business
	keyID    string
	keyMode  ledger.KeyMode
	customer *ledger.Customer // loaded fresh on every request; nil for secret keys
	scopes   map[string]bool  // the token's scopes; nil for secret keys
	rail     bool             // an operator's rail key: no business of its own
}

// rateKey names the credential's rate-limit bucket: the API key, or for tokens the
// customer, so minting more tokens buys no more requests.
func (p *principal) rateKey() string {
	if p.customer != nil {
		return "customer:" + p.customer.ID
	}
	return "key:" + p.keyID
}

func (s *Server) recover(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic", "request_id", requestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Next()
}

// requestID gives every request an id, echoed in X-Request-Id and in error bodies.
func (s *Server) requestID(c *fiber.Ctx) error {
	id := ledger.NewID(ledger.PrefixRequest)
	c.Locals(keyRequestID, id)
	c.Set("X-Request-Id", id)
	return c.Next()
}

// requestID returns the request's id; errors raised before the middleware ran (a
// body over the limit) get one here.
func requestID(c *fiber.Ctx) string {
	if id, ok := c.Locals(keyRequestID).(string); ok {
		return id
	}
	id := ledger.NewID(ledger.PrefixRequest)
	c.Locals(keyRequestID, id)
	c.Set("X-Request-Id", id)
	return id
}

// accessLog writes one structured line per request and feeds the metrics. It logs
// no header and no body, so no secret reaches the log.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.app.Config().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	elapsed := time.Since(start)
	status := c.Response().StatusCode()
	route := c.Route().Path
	if status == fiber.StatusNotFound && route == "/" {
		route = "unmatched"
	}
	s.metrics.observe(c.Method(), route, status, elapsed)
	if !s.log.Enabled(context.Background(), slog.LevelInfo) {
		return nil
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("request_id", requestID(c)), slog.String("method", c.Method()), slog.String("path", c.Path()),
		slog.String("route", route), slog.Int("status", status), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000))
	if p, ok := c.Locals(keyPrincipal).(*principal); ok {
		attrs = append(attrs, slog.String("business_id", p.business.ID), slog.String("key_id", p.keyID))
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
	return nil
}

// hygiene enforces the input rules of API.md §3 before any handler runs.
func (s *Server) hygiene(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodPatch, fiber.MethodPut:
		if len(c.Body()) == 0 && c.Method() == fiber.MethodPost && c.Get(fiber.HeaderContentType) == "" {
			return c.Next() // action endpoints such as /cancel take no body
		}
		ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
		if ct != fiber.MIMEApplicationJSON && !strings.HasSuffix(ct, "+json") {
			return ledger.Errorf(ledger.CodeUnsupportedMedia, "Content-Type must be application/json")
		}
	}
	return c.Next()
}

// authenticate resolves Authorization: Bearer <credential>: a secret key (sk_…),
// or a customer token (a JWT; see tokens.go). It then spends one request of the
// credential's rate limit, and refuses what the credential may not do: a token
// outside its route table and scopes or naming another profile, a read-only key on
// a mutating request. Every failure to authenticate is 401 unauthenticated.
func (s *Server) authenticate(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	bearer, ok := strings.CutPrefix(h, "Bearer ")
	bearer = strings.TrimSpace(bearer)
	if !ok || bearer == "" {
		return ledger.Errorf(ledger.CodeUnauthenticated, "missing credential: send Authorization: Bearer <secret key or customer token>")
	}
	var p *principal
	if cred, ok := s.store.CachedCredential(bearer); ok { // most requests: no deadline needed
		p = &principal{business: cred.Business, keyID: cred.Key.ID, keyMode: cred.Key.Mode}
		return s.authenticated(c, p)
	}
	ctx, cancel := s.requestContext(c)
	defer cancel()
	switch {
	case strings.HasPrefix(bearer, "sk_test_") || strings.HasPrefix(bearer, "sk_live_"):
		cred, err := s.store.Authenticate(ctx, bearer)
		if err != nil {
			return err
		}
		p = &principal{business: cred.Business, keyID: cred.Key.ID, keyMode: cred.Key.Mode}
	case looksLikeToken(bearer):
		var err error
		if p, err = s.tokenPrincipal(ctx, bearer); err != nil {
			return err
		}
	case strings.HasPrefix(bearer, "rk_"):
		if _, err := s.store.AuthenticateRail(ctx, bearer); err != nil {
			return err
		}
		return ledger.Errorf(ledger.CodeForbidden, "a rail key can only call /v1/rails endpoints")
	default:
		return ledger.Errorf(ledger.CodeUnauthenticated, "invalid or revoked API key")
	}
	cancel()
	return s.authenticated(c, p)
}

// authenticated continues a request whose credential resolved to p.
func (s *Server) authenticated(c *fiber.Ctx, p *principal) error {
	c.Locals(keyPrincipal, p)
	if err := s.rateLimit(c, p); err != nil {
		return err
	}
	if p.customer != nil {
		return s.nextAsCustomer(c, p)
	}
	if p.keyMode == ledger.KeyReadOnly && c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		return ledger.Errorf(ledger.CodeForbidden, "this API key is read-only")
	}
	return c.Next()
}

// nextAsCustomer continues a token request that its route table entry, its scopes
// and its X-BU-PROFILE-ID allow. After the handler it checks that Fiber ran the
// route the scope check predicted, and logs loudly if not (a bug in routeTemplate).
func (s *Server) nextAsCustomer(c *fiber.Ctx, p *principal) error {
	if raw := strings.TrimSpace(c.Get(HeaderProfileID)); raw != "" && raw != p.customer.ID {
		return ledger.ParamErrorf(ledger.CodeForbidden, HeaderProfileID, "a customer token acts only as its own customer")
	}
	tmpl, err := s.authorizeToken(c, p)
	if err != nil {
		return err
	}
	// The scope is the customer's even on a route mounted without resolveProfile,
	// so no handler can fall back to the business's main profile for a token.
	cust := *p.customer
	c.Locals(keyScope, ledger.Scope{Business: p.business, Customer: &cust})
	err = c.Next()
	if r := c.Route(); r.Method != "USE" && r.Path != tmpl {
		s.log.Error("token scope check predicted another route", "request_id", requestID(c), "predicted", tmpl, "routed", r.Path)
	}
	return err
}

func principalFrom(c *fiber.Ctx) (*principal, bool) {
	p, ok := c.Locals(keyPrincipal).(*principal)
	return p, ok
}

// resolveProfile turns X-BU-PROFILE-ID into the request's scope (API.md §2): absent
// or the business's own id → the main profile; CUS_… of this business → that
// customer; anything else → profile_not_found, never revealing another tenant. A
// customer token always acts as its customer: the header may be absent or name that
// customer; naming anyone else is 403 forbidden.
func (s *Server) resolveProfile(c *fiber.Ctx) error {
	p, ok := principalFrom(c)
	if !ok { // fail closed if authentication did not run
		return ledger.Errorf(ledger.CodeUnauthenticated, "credential required")
	}
	raw := strings.TrimSpace(strings.Clone(c.Get(HeaderProfileID)))
	scope := ledger.Scope{Business: p.business}
	switch {
	case p.customer != nil: // a token acts as its customer, loaded fresh by authenticate
		if raw != "" && raw != p.customer.ID {
			return ledger.ParamErrorf(ledger.CodeForbidden, HeaderProfileID, "a customer token acts only as its own customer")
		}
		cust := *p.customer
		scope.Customer = &cust
	case raw == "" || raw == p.business.ID:
	case strings.HasPrefix(raw, ledger.PrefixCustomer):
		cust, ok := s.store.CachedProfileCustomer(p.business.ID, raw) // most requests: no deadline needed
		if !ok {
			ctx, cancel := s.requestContext(c)
			defer cancel()
			var err error
			cust, err = s.store.ProfileCustomer(ctx, p.business.ID, raw)
			if ledger.ErrorCode(err) == ledger.CodeNotFound {
				return profileNotFound(raw)
			}
			if err != nil {
				return err
			}
		}
		scope.Customer = &cust
	default:
		return profileNotFound(raw)
	}
	c.Locals(keyScope, scope)
	return c.Next()
}

func profileNotFound(id string) error {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return ledger.ParamErrorf(ledger.CodeProfileNotFound, HeaderProfileID, "profile %q not found", id)
}

// scopeFrom returns the resolved profile scope; handlers mounted behind
// resolveProfile always have one.
func scopeFrom(c *fiber.Ctx) (ledger.Scope, error) {
	sc, ok := c.Locals(keyScope).(ledger.Scope)
	if !ok {
		return ledger.Scope{}, ledger.Errorf(ledger.CodeUnauthenticated, "credential required")
	}
	return sc, nil
}
