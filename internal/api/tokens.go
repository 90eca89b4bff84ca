package api

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tallyhq/tally/internal/config"
	"github.com/tallyhq/tally/ledger"
)

// Customer token scopes (API.md §4).
const (
	scopeBalancesRead          = "balances:read"
	scopeTransactionsRead      = "transactions:read"
	scopeDepositAddressesWrite = "deposit_addresses:write"
	scopePayoutsWrite          = "payouts:write"
	scopeTransfersWrite        = "transfers:write"
)

// tokenScopes lists every scope a token may carry, in the order they are rendered.
var tokenScopes = []string{scopeBalancesRead, scopeTransactionsRead, scopeDepositAddressesWrite, scopePayoutsWrite, scopeTransfersWrite}

// Claims and limits of customer tokens.
const (
	tokenIssuer      = "tally"
	tokenAudience    = "tally-api"
	tokenTTLMin      = 60 * time.Second
	tokenTTLMax      = time.Hour
	tokenTTLDefault  = 15 * time.Minute
	tokenLenMax      = 4096 // a real token is ~400 bytes; longer is refused unparsed
	tokenClockLeeway = 5 * time.Second
	tokenIDPrefix    = "tok_"
)

// tokenClaims is the payload of a customer token: the registered claims (sub is the
// customer id) plus the business and the scopes.
type tokenClaims struct {
	jwt.RegisteredClaims
	Business string   `json:"bid"`
	Scopes   []string `json:"scopes"`
}

// customerToken is a minted token with what the response reports about it.
type customerToken struct {
	Raw       string
	ID        string
	ExpiresAt time.Time
}

// signToken mints a token for customer with scopes, signed with the newest
// configured key (the last of cfg.TokenKeys) and naming it in the kid header.
func signToken(keys []config.TokenKey, business, customer string, scopes []string, ttl time.Duration, now time.Time) (customerToken, error) {
	if len(keys) == 0 {
		return customerToken{}, errors.New("no token signing key configured")
	}
	key := keys[len(keys)-1]
	now = now.UTC().Truncate(time.Second)
	t := customerToken{ID: ledger.NewID(tokenIDPrefix), ExpiresAt: now.Add(ttl)}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   customer,
			Audience:  jwt.ClaimStrings{tokenAudience},
			ExpiresAt: jwt.NewNumericDate(t.ExpiresAt),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        t.ID,
		},
		Business: business,
		Scopes:   scopes,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = key.ID
	raw, err := tok.SignedString(key.Key)
	if err != nil {
		return customerToken{}, err
	}
	t.Raw = raw
	return t, nil
}

// looksLikeToken tells a JWT (three dot-separated parts) from a secret key.
func looksLikeToken(bearer string) bool {
	return strings.Count(bearer, ".") == 2 && !strings.HasPrefix(bearer, "sk_")
}

// errBadToken is the one answer to every token that fails verification: the
// client learns nothing about which check failed.
var errBadToken = ledger.Errorf(ledger.CodeUnauthenticated, "invalid or expired customer token")

// parseToken verifies raw and returns its claims. Every check is named: HS256 only
// (so alg none and algorithm confusion fail), exp required, issuer, audience, and
// the key chosen by kid among all configured keys, so tokens signed by an older key
// still verify until that key is removed from TALLY_TOKEN_KEYS.
func parseToken(keys []config.TokenKey, raw string, now time.Time) (*tokenClaims, error) {
	if len(raw) > tokenLenMax {
		return nil, errBadToken
	}
	keyFor := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		for _, k := range keys {
			if kid != "" && k.ID == kid {
				return k.Key, nil
			}
		}
		return nil, errors.New("unknown kid")
	}
	var claims tokenClaims
	_, err := jwt.ParseWithClaims(raw, &claims, keyFor,
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithLeeway(tokenClockLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return nil, errBadToken
	}
	if claims.NotBefore == nil || claims.IssuedAt == nil || claims.ID == "" ||
		!ledger.ValidID(claims.Subject, ledger.PrefixCustomer) || !ledger.ValidID(claims.Business, ledger.PrefixBusiness) {
		return nil, errBadToken
	}
	// A token never outlives the longest TTL we mint, whatever key signed it.
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > tokenTTLMax {
		return nil, errBadToken
	}
	if _, err := parseScopes(claims.Scopes); err != nil {
		return nil, errBadToken
	}
	return &claims, nil
}

// parseScopes validates a scope list: non-empty, known scopes, no duplicates.
func parseScopes(scopes []string) (map[string]bool, error) {
	if len(scopes) == 0 {
		return nil, ledger.ParamErrorf(ledger.CodeValidation, "scopes", "scopes must name at least one of %s", strings.Join(tokenScopes, ", "))
	}
	set := make(map[string]bool, len(scopes))
	for _, sc := range scopes {
		known := false
		for _, k := range tokenScopes {
			known = known || sc == k
		}
		if !known {
			return nil, ledger.ParamErrorf(ledger.CodeValidation, "scopes", "unknown scope %q; scopes are %s", truncate(sc, 40), strings.Join(tokenScopes, ", "))
		}
		if set[sc] {
			return nil, ledger.ParamErrorf(ledger.CodeValidation, "scopes", "scope %q is listed twice", sc)
		}
		set[sc] = true
	}
	return set, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// tokenPrincipal verifies a customer token and loads its business and customer
// fresh, so a suspension or closure takes effect on the very next request.
func (s *Server) tokenPrincipal(ctx context.Context, raw string) (*principal, error) {
	claims, err := parseToken(s.cfg.TokenKeys, raw, time.Now())
	if err != nil {
		return nil, err
	}
	biz, err := s.store.FindBusiness(ctx, claims.Business)
	if ledger.ErrorCode(err) == ledger.CodeNotFound {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	cust, err := s.store.FindCustomer(ctx, biz.ID, claims.Subject)
	if ledger.ErrorCode(err) == ledger.CodeNotFound {
		return nil, errBadToken
	}
	if err != nil {
		return nil, err
	}
	scopes, _ := parseScopes(claims.Scopes)
	return &principal{business: biz, keyID: claims.ID, customer: &cust, scopes: scopes}, nil
}

// tokenRoutes is the one table of what a customer token may call: method + Fiber
// route template → the scope it needs ("" = any token). Everything else (customer
// management, API keys, webhooks, events, sandbox, quotes and conversions, the
// business) is 403 forbidden for tokens: default deny.
var tokenRoutes = map[string]string{
	"GET /v1/profile":                 "",
	"GET /v1/balances":                scopeBalancesRead,
	"GET /v1/balances/:currency":      scopeBalancesRead,
	"GET /v1/transactions":            scopeTransactionsRead,
	"GET /v1/transactions/export.csv": scopeTransactionsRead,
	"POST /v1/deposit-addresses":      scopeDepositAddressesWrite,
	"GET /v1/deposit-addresses":       scopeDepositAddressesWrite,
	"POST /v1/payouts":                scopePayoutsWrite,
	"GET /v1/payouts":                 scopePayoutsWrite,
	"GET /v1/payouts/:id":             scopePayoutsWrite,
	"POST /v1/payouts/:id/cancel":     scopePayoutsWrite,
	"POST /v1/transfers":              scopeTransfersWrite,
	"GET /v1/transfers":               scopeTransfersWrite,
	"GET /v1/transfers/:id":           scopeTransfersWrite,
}

// authorizeToken refuses a token request outside its route table entry and scopes.
//
// Group middleware runs before Fiber has matched a route, so c.Route() still names
// the group here. The route the request will reach is therefore computed from the
// method and path with the same rule Fiber uses: the first registered route, in
// registration order, whose template matches (see routeTemplate). Requests that
// match no registered route are looked up against the table's own templates, so a
// listed route answers 404 until it exists and an unlisted one answers 403.
func (s *Server) authorizeToken(c *fiber.Ctx, p *principal) (string, error) {
	method := c.Method()
	if method == fiber.MethodHead {
		method = fiber.MethodGet // Fiber serves HEAD with the GET route
	}
	tmpl := s.routeTemplate(method, c.Path())
	need, listed := tokenRoutes[method+" "+tmpl]
	if !listed {
		return tmpl, ledger.Errorf(ledger.CodeForbidden, "customer tokens cannot call %s %s; use a secret key", method, truncate(c.Path(), 100))
	}
	if need != "" && !p.scopes[need] {
		return tmpl, ledger.Errorf(ledger.CodeForbidden, "this customer token lacks the %s scope", need)
	}
	return tmpl, nil
}

// routePattern is a registered route template split into lowercase segments; ":x"
// matches one non-empty segment and a segment using any other Fiber syntax (*, +,
// ?, constraints) matches the rest of the path, so an exotic route can only make
// the check stricter (it is not in tokenRoutes), never let a request through to a
// different route than the one Fiber picks.
type routePattern struct {
	template string
	segments []string
}

// routeTemplate returns the template of the route Fiber will dispatch method+path
// to, or "" when none matches.
func (s *Server) routeTemplate(method, path string) string {
	s.creds.routesOnce.Do(s.indexRoutes)
	cfg := s.app.Config()
	if !cfg.CaseSensitive {
		path = strings.ToLower(path)
	}
	if !cfg.StrictRouting && len(path) > 1 {
		path = strings.TrimRight(path, "/")
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, r := range s.creds.routes[method] {
		if r.match(segs) {
			return r.template
		}
	}
	for _, r := range s.creds.tableRoutes[method] {
		if r.match(segs) {
			return r.template
		}
	}
	return ""
}

// indexRoutes snapshots the app's routes in registration order (Fiber's matching
// order). It runs on the first token request, after New registered every route.
func (s *Server) indexRoutes() {
	s.creds.routes = map[string][]routePattern{}
	for _, r := range s.app.GetRoutes(true) {
		if strings.HasPrefix(r.Path, "/v1") {
			s.creds.routes[r.Method] = append(s.creds.routes[r.Method], newRoutePattern(r.Path))
		}
	}
	// Static templates first, so export.csv is never taken for an :id.
	listed := make([]string, 0, len(tokenRoutes))
	for k := range tokenRoutes {
		listed = append(listed, k)
	}
	sort.Slice(listed, func(i, j int) bool {
		pi, pj := strings.Count(listed[i], ":"), strings.Count(listed[j], ":")
		return pi < pj || (pi == pj && listed[i] < listed[j])
	})
	s.creds.tableRoutes = map[string][]routePattern{}
	for _, k := range listed {
		method, tmpl, _ := strings.Cut(k, " ")
		s.creds.tableRoutes[method] = append(s.creds.tableRoutes[method], newRoutePattern(tmpl))
	}
}

func newRoutePattern(template string) routePattern {
	t := strings.TrimRight(template, "/")
	return routePattern{template: template, segments: strings.Split(strings.TrimPrefix(strings.ToLower(t), "/"), "/")}
}

func (r routePattern) match(segs []string) bool {
	for i, want := range r.segments {
		if strings.ContainsAny(want, "*+?<") || (strings.Contains(want, ":") && !strings.HasPrefix(want, ":")) {
			return true
		}
		if i >= len(segs) {
			return false
		}
		if strings.HasPrefix(want, ":") {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if segs[i] != want {
			return false
		}
	}
	return len(segs) == len(r.segments)
}
