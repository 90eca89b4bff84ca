// Package dashboard is the business's web console at /dashboard: server-rendered
// html/template pages over the same store and domain code as the JSON API, signed
// in with a short-lived session cookie, CSRF-checked on every form, read-only for
// viewers. It needs no JavaScript.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/uptrace/bun"

	"github.com/tallyhq/tally/internal/api"
	"github.com/tallyhq/tally/internal/postgres"
	"github.com/tallyhq/tally/ledger"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Domain is what the dashboard takes from the API layer so that every change runs
// the API's own code: *api.Server implements it.
type Domain interface {
	// PreparePayout validates a payout like POST /v1/payouts and returns the step that
	// places it in a transaction.
	PreparePayout(ctx context.Context, sc ledger.Scope, f api.PayoutForm) (api.PlacePayoutStep, error)
	// CancelPayout cancels a pending payout like POST /v1/payouts/{id}/cancel
	// (not_found, invalid_state).
	CancelPayout(ctx context.Context, tx *postgres.Tx, business, profile, id string) (ledger.Payout, error)
	// ExportCustomers answers the CSV of GET /v1/customers/export.csv.
	ExportCustomers(c *fiber.Ctx, business string) error
}

var _ Domain = (*api.Server)(nil)

// Options are what cmd wires into the dashboard.
type Options struct {
	Store  *postgres.Store
	Domain Domain
	Logger *slog.Logger
	// Key signs session cookies and CSRF tokens (see DeriveKey).
	Key []byte
	// RequestTimeout bounds one page's database work.
	RequestTimeout time.Duration
}

// Dashboard serves the pages.
type Dashboard struct {
	store   *postgres.Store
	domain  Domain
	log     *slog.Logger
	key     []byte
	timeout time.Duration
	pages   map[string]*template.Template
	css     []byte
	limiter *loginLimiter
}

// New parses the embedded templates and returns the dashboard.
func New(o Options) *Dashboard {
	if len(o.Key) < 32 {
		panic("dashboard: session key must be at least 32 bytes")
	}
	d := &Dashboard{store: o.Store, domain: o.Domain, log: o.Logger, key: o.Key, timeout: o.RequestTimeout,
		pages: map[string]*template.Template{}, limiter: newLoginLimiter()}
	if d.timeout == 0 {
		d.timeout = 10 * time.Second
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		d.pages[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n))
	}
	d.css, err = assets.ReadFile("static/style.css")
	if err != nil {
		panic(err)
	}
	return d
}

// Register mounts every page under /dashboard on app.
func (d *Dashboard) Register(app fiber.Router) {
	g := app.Group("/dashboard", d.headers)
	g.Get("/static/style.css", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
		c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
		return c.Send(d.css)
	})
	g.Get("/login", d.loginPage)
	g.Post("/login", d.login)
	g.Post("/logout", d.logout)

	g.Get("/", d.page(d.overview))
	g.Get("/customers", d.page(d.customers))
	g.Get("/customers/export.csv", d.page(d.exportCustomers))
	g.Get("/customers/:id", d.page(d.customer))
	g.Post("/customers/:id", d.action(d.updateCustomer))
	g.Post("/customers/:id/close", d.action(d.closeCustomer))
	g.Post("/customers/:id/payouts", d.action(d.createPayout))
	g.Get("/deposits", d.page(d.deposits))
	g.Get("/payouts", d.page(d.payouts))
	g.Post("/payouts/:id/cancel", d.action(d.cancelPayout))
	g.Get("/transfers", d.page(d.transfers))
	g.Get("/webhooks", d.page(d.webhooks))
	g.Post("/events/:id/redeliver", d.action(d.redeliver))
	g.Get("/api-keys", d.page(d.apiKeys))
	g.Post("/api-keys", d.action(d.createAPIKey))
	g.Post("/api-keys/:id/revoke", d.action(d.revokeAPIKey))
	g.Use(func(c *fiber.Ctx) error { // any other /dashboard path
		return d.errorPage(c, fiber.StatusNotFound, "Page not found", "There is no such page.")
	})
}

// headers sets the security headers of every dashboard response: no framing, no
// script at all (the pages need none), no caching of pages with tenant data.
func (d *Dashboard) headers(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Set("X-Frame-Options", "DENY")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// request is one signed-in request: who, for which business, and the CSRF token
// forms must carry.
type request struct {
	user     User
	business ledger.Business
	csrf     string // the token pages render into forms
	csrfIn   string // the token this request's form must carry
}

type handler func(c *fiber.Ctx, r *request) error

// page wraps a GET handler: it requires a valid session (else redirects to the
// sign-in page) and renders any error as an HTML page.
func (d *Dashboard) page(h handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		r, ok := d.authenticate(c)
		if !ok {
			return c.Redirect("/dashboard/login", fiber.StatusSeeOther)
		}
		return d.renderErr(c, h(c, r))
	}
}

// action wraps a POST handler: a valid session, then the CSRF token, then the
// owner role; a viewer gets 403 on every change, whatever it is.
func (d *Dashboard) action(h handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		r, ok := d.authenticate(c)
		if !ok {
			return d.errorPage(c, fiber.StatusUnauthorized, "Signed out", "Your session ended. Sign in again and repeat the change.")
		}
		if !equalToken(c.FormValue("csrf"), r.csrfIn) {
			return d.errorPage(c, fiber.StatusForbidden, "Form expired", "The form was missing its security token or came from another page. Reload the page and try again.")
		}
		if !r.user.CanWrite() {
			return d.errorPage(c, fiber.StatusForbidden, "Read-only access", "Your role is viewer: you can look at everything but change nothing.")
		}
		return d.renderErr(c, h(c, r))
	}
}

// authenticate resolves the session cookie to its user and business, renewing the
// cookie once it is older than sessionRenewAfter.
func (d *Dashboard) authenticate(c *fiber.Ctx) (*request, bool) {
	raw := c.Cookies(cookieSession)
	if raw == "" {
		return nil, false
	}
	claims, err := d.parseSession(raw)
	if err != nil {
		d.setCookie(c, cookieSession, "", 0)
		return nil, false
	}
	ctx, cancel := d.ctx(c)
	defer cancel()
	u, err := postgres.ReadAs(ctx, d.store, claims.Business, func(db bun.IDB) (User, error) {
		return findUser(ctx, db, claims.Business, claims.Subject)
	})
	if err != nil {
		if ledger.ErrorCode(err) != ledger.CodeUnauthenticated {
			d.log.Error("dashboard session", "request_id", requestID(c), "err", err.Error())
		}
		return nil, false
	}
	b, err := d.store.FindBusiness(ctx, u.Business)
	if err != nil {
		return nil, false
	}
	r := &request{user: u, business: b, csrfIn: d.csrfToken(claims.ID)}
	r.csrf = r.csrfIn
	if claims.IssuedAt != nil && time.Since(claims.IssuedAt.Time) > sessionRenewAfter {
		// Sliding expiry: a new session id, so pages rendered from now on carry the
		// new CSRF token while this request is checked against the old one.
		if id, err := d.issueSession(c, u); err == nil {
			r.csrf = d.csrfToken(id)
		}
	}
	c.Locals(localRequest, r)
	return r, true
}

func (d *Dashboard) ctx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), d.timeout)
}

// requestID is the id the API's middleware gave this request.
func requestID(c *fiber.Ctx) string {
	if id := c.GetRespHeader("X-Request-Id"); id != "" {
		return id
	}
	return ledger.NewID(ledger.PrefixRequest)
}

// view is what every page template receives.
type view struct {
	Title    string
	Nav      string
	User     *User
	Business ledger.Business
	CSRF     string
	Flash    *flash
	Data     any
}

type flash struct {
	Kind    string `json:"k"` // ok or error
	Message string `json:"m"`
}

// render executes a page template into the response.
func (d *Dashboard) render(c *fiber.Ctx, status int, name string, r *request, title, nav string, data any) error {
	v := view{Title: title, Nav: nav, Data: data, Flash: d.takeFlash(c)}
	if r != nil {
		u := r.user
		v.User, v.Business, v.CSRF = &u, r.business, r.csrf
	}
	var buf bytes.Buffer
	t, ok := d.pages[name]
	if !ok {
		panic("dashboard: no template " + name)
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		d.log.Error("dashboard render", "request_id", requestID(c), "page", name, "err", err.Error())
		return c.Status(fiber.StatusInternalServerError).SendString("internal error")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(buf.Bytes())
}

// redirect answers 303 to path with a message shown once on the next page.
func (d *Dashboard) redirect(c *fiber.Ctx, path, kind, message string) error {
	if message != "" {
		raw, _ := json.Marshal(flash{Kind: kind, Message: message})
		d.setCookie(c, cookieFlash, base64.RawURLEncoding.EncodeToString(raw), time.Minute)
	}
	return c.Redirect(path, fiber.StatusSeeOther)
}

func (d *Dashboard) takeFlash(c *fiber.Ctx) *flash {
	raw := c.Cookies(cookieFlash)
	if raw == "" {
		return nil
	}
	d.setCookie(c, cookieFlash, "", 0)
	b, err := base64.RawURLEncoding.DecodeString(raw)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil || (f.Kind != "ok" && f.Kind != "error") {
		return nil
	}
	return &f
}

// statusOf maps error codes to the status of the error page.
func statusOf(code ledger.Code) int {
	switch code {
	case ledger.CodeNotFound, ledger.CodeProfileNotFound:
		return fiber.StatusNotFound
	case ledger.CodeForbidden, ledger.CodeProfileInactive:
		return fiber.StatusForbidden
	case ledger.CodeUnauthenticated:
		return fiber.StatusUnauthorized
	case ledger.CodeRateLimited:
		return fiber.StatusTooManyRequests
	case ledger.CodeInternal, ledger.CodeUnavailable:
		return fiber.StatusInternalServerError
	case ledger.CodeInsufficientFunds, ledger.CodeBelowMinimum, ledger.CodeHighRiskAddress, ledger.CodeTravelRule:
		return fiber.StatusUnprocessableEntity
	case ledger.CodeInvalidState, ledger.CodeBalanceNotZero, ledger.CodeCustomerExists, ledger.CodeWalletExists:
		return fiber.StatusConflict
	}
	return fiber.StatusBadRequest
}

// renderErr renders an error a handler returned: a domain error with its safe
// message, anything else as a logged internal error.
func (d *Dashboard) renderErr(c *fiber.Ctx, err error) error {
	if err == nil {
		return nil
	}
	var le *ledger.Error
	if errors.As(err, &le) && le.Code != ledger.CodeInternal {
		if statusOf(le.Code) == fiber.StatusNotFound {
			return d.errorPage(c, fiber.StatusNotFound, "Not found", "There is nothing here, or it belongs to another business.")
		}
		return d.errorPage(c, statusOf(le.Code), "Request refused", le.Message)
	}
	d.log.Error("dashboard internal error", "request_id", requestID(c), "path", c.Path(), "err", err.Error())
	return d.errorPage(c, fiber.StatusInternalServerError, "Something went wrong",
		"An internal error occurred; it has been logged with request id "+requestID(c)+".")
}

func (d *Dashboard) errorPage(c *fiber.Ctx, status int, title, message string) error {
	r, _ := c.Locals(localRequest).(*request)
	return d.render(c, status, "error", r, title, "", map[string]any{"Status": status, "Message": message})
}

type localKey int

const localRequest localKey = 0
