package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tallyhq/tally/ledger"
)

// Session and sign-in limits.
const (
	sessionTTL          = 30 * time.Minute // renewed while in use (see renewAfter)
	sessionRenewAfter   = 10 * time.Minute
	sessionAudience     = "tally-dashboard"
	cookieSession       = "tally_session"
	cookieLoginCSRF     = "tally_login_csrf"
	cookieFlash         = "tally_flash"
	cookiePath          = "/dashboard"
	loginFailuresMax    = 5 // per email per loginWindow
	loginFailuresIPMax  = 30
	loginWindow         = time.Minute
	loginLimiterKeysMax = 100_000 // memory bound of the limiter
)

// sessionClaims is the session cookie's JWT: the user (sub) of one business (bid).
// The user is reloaded on every request; the token only says who signed in.
type sessionClaims struct {
	Business string `json:"bid"`
	jwt.RegisteredClaims
}

// DeriveKey returns the session signing key: from TALLY_DASHBOARD_KEY when set
// (any length; 32 random bytes or more recommended), else from the newest
// customer-token key, so a deployment needs no new secret. Either way the key is
// an HMAC derivation, one-way, so a session key never signs customer tokens.
func DeriveKey(explicit string, tokenKey []byte) []byte {
	material := tokenKey
	if explicit != "" {
		material = []byte(explicit)
	}
	m := hmac.New(sha256.New, material)
	m.Write([]byte("tally dashboard session key v1"))
	return m.Sum(nil)
}

// issueSession sets a new session cookie for u and returns the session id.
func (d *Dashboard) issueSession(c *fiber.Ctx, u User) (string, error) {
	now := time.Now()
	claims := sessionClaims{Business: u.Business, RegisteredClaims: jwt.RegisteredClaims{
		Subject: u.ID, ID: ledger.NewID("ses_"), Audience: jwt.ClaimStrings{sessionAudience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(sessionTTL)),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(d.key)
	if err != nil {
		return "", err
	}
	d.setCookie(c, cookieSession, tok, sessionTTL)
	return claims.ID, nil
}

// parseSession verifies the cookie's token, naming every check.
func (d *Dashboard) parseSession(raw string) (*sessionClaims, error) {
	var claims sessionClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return d.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithAudience(sessionAudience), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
	if err != nil || claims.Subject == "" || claims.Business == "" || claims.ID == "" {
		return nil, ledger.Errorf(ledger.CodeUnauthenticated, "session invalid or expired")
	}
	return &claims, nil
}

// setCookie writes an HttpOnly, SameSite=Lax cookie scoped to /dashboard, Secure
// when the request came over TLS.
func (d *Dashboard) setCookie(c *fiber.Ctx, name, value string, ttl time.Duration) {
	ck := &fiber.Cookie{Name: name, Value: value, Path: cookiePath, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode,
		Secure: c.Secure()}
	if ttl > 0 {
		ck.Expires = time.Now().Add(ttl)
		ck.MaxAge = int(ttl.Seconds())
	} else {
		ck.Expires = time.Unix(1, 0)
		ck.MaxAge = -1
	}
	c.Cookie(ck)
}

// csrfToken is the session's CSRF token: an HMAC of the session id, so it needs no
// storage and a token of one session is worthless in another.
func (d *Dashboard) csrfToken(sessionID string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("csrf\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func equalToken(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// loginLimiter counts failed sign-ins per key in fixed one-minute windows.
type loginLimiter struct {
	mu   sync.Mutex
	hits map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLoginLimiter() *loginLimiter { return &loginLimiter{hits: map[string]*window{}} }

// blocked reports whether key reached max failures in the current window, and
// when the window ends.
func (l *loginLimiter) blocked(key string, max int, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.hits[key]
	if !ok || now.Sub(w.start) >= loginWindow {
		return false, 0
	}
	return w.n >= max, loginWindow - now.Sub(w.start)
}

// fail records one failure for each key.
func (l *loginLimiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.hits) >= loginLimiterKeysMax {
		for k, w := range l.hits {
			if now.Sub(w.start) >= loginWindow {
				delete(l.hits, k)
			}
		}
		if len(l.hits) >= loginLimiterKeysMax { // still full: everyone is attacking; start over
			l.hits = map[string]*window{}
		}
	}
	for _, k := range keys {
		w, ok := l.hits[k]
		if !ok || now.Sub(w.start) >= loginWindow {
			w = &window{start: now}
			l.hits[k] = w
		}
		w.n++
	}
}
