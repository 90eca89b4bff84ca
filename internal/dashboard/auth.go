package dashboard

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tallyhq/tally/ledger"
)

type loginData struct {
	CSRF  string
	Email string
	Error string
}

// loginPage shows the sign-in form. The form's CSRF token is double-submitted:
// a random value in a cookie and in a hidden field, which another site can
// neither read nor set.
func (d *Dashboard) loginPage(c *fiber.Ctx) error {
	if _, ok := d.authenticate(c); ok {
		return c.Redirect("/dashboard", fiber.StatusSeeOther)
	}
	return d.render(c, fiber.StatusOK, "login", nil, "Sign in", "", loginData{CSRF: d.loginToken(c)})
}

func (d *Dashboard) loginToken(c *fiber.Ctx) string {
	tok := c.Cookies(cookieLoginCSRF)
	if len(tok) < 20 || len(tok) > 64 {
		tok = newPassword()
		d.setCookie(c, cookieLoginCSRF, tok, time.Hour)
	}
	return tok
}

// login checks the email and password and starts a session (303 to /dashboard).
// Failures count per email and per client address: past loginFailuresMax in a
// minute the email is refused with 429 until the minute ends, right password or
// not, so guessing is bounded.
func (d *Dashboard) login(c *fiber.Ctx) error {
	if !equalToken(c.FormValue("csrf"), c.Cookies(cookieLoginCSRF)) {
		return d.errorPage(c, fiber.StatusForbidden, "Form expired", "The sign-in form was missing its security token. Reload the page and try again.")
	}
	email := strings.ToLower(strings.TrimSpace(c.FormValue("email")))
	if len(email) > emailLenMax {
		email = email[:emailLenMax]
	}
	now := time.Now()
	emailKey, ipKey := "email:"+email, "ip:"+c.IP()
	blocked, wait := d.limiter.blocked(emailKey, loginFailuresMax, now)
	if ipBlocked, ipWait := d.limiter.blocked(ipKey, loginFailuresIPMax, now); ipBlocked {
		blocked, wait = true, max(wait, ipWait)
	}
	if blocked {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait.Seconds())+1))
		return d.errorPage(c, fiber.StatusTooManyRequests, "Too many attempts",
			"Too many failed sign-ins for this account. Wait a minute and try again.")
	}
	ctx, cancel := d.ctx(c)
	defer cancel()
	u, err := checkPassword(ctx, d.store.DB(), email, c.FormValue("password"))
	if ledger.ErrorCode(err) == ledger.CodeUnauthenticated {
		d.limiter.fail(now, emailKey, ipKey)
		return d.render(c, fiber.StatusUnauthorized, "login", nil, "Sign in", "",
			loginData{CSRF: d.loginToken(c), Email: email, Error: "Wrong email or password."})
	}
	if err != nil {
		return d.renderErr(c, err)
	}
	if _, err := d.issueSession(c, u); err != nil {
		return d.renderErr(c, err)
	}
	d.setCookie(c, cookieLoginCSRF, "", 0)
	d.log.Info("dashboard sign-in", "request_id", requestID(c), "business_id", u.Business, "user_id", u.ID)
	return c.Redirect("/dashboard", fiber.StatusSeeOther)
}

// logout ends the session. With a live session the form's CSRF token must match,
// so another site cannot sign a user out.
func (d *Dashboard) logout(c *fiber.Ctx) error {
	if r, ok := d.authenticate(c); ok && !equalToken(c.FormValue("csrf"), r.csrfIn) {
		return d.errorPage(c, fiber.StatusForbidden, "Form expired", "Reload the page and sign out again.")
	}
	d.setCookie(c, cookieSession, "", 0)
	return c.Redirect("/dashboard/login", fiber.StatusSeeOther)
}
