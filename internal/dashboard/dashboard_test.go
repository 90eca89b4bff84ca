package dashboard_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/dashboard"
	"github.com/tallyhq/tally/internal/pgtest"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := newTenant(t)
	email, pw := tn.mustCreateUser(t, dashboard.RoleOwner)

	t.Run("signed out pages redirect to the sign-in form", func(t *testing.T) {
		b := e.newBrowser(t)
		if st, _ := b.get("/dashboard"); st != 303 || b.res.Header.Get("Location") != "/dashboard/login" {
			t.Fatalf("GET /dashboard = %d %s, want 303 to the sign-in form", st, b.res.Header.Get("Location"))
		}
		st, body := b.get("/dashboard/login")
		for _, want := range []string{`name="email"`, `name="password"`, `type="submit"`} {
			if st != 200 || !strings.Contains(body, want) {
				t.Fatalf("login page = %d, missing %s", st, want)
			}
		}
	})
	t.Run("ok", func(t *testing.T) {
		b := e.newBrowser(t)
		b.login(strings.ToUpper(email), pw) // emails are case-insensitive
		ck := b.res.Header.Get("Set-Cookie")
		for _, want := range []string{"tally_session=", "HttpOnly", "SameSite=Lax", "path=/dashboard"} {
			if !strings.Contains(strings.Join(b.res.Header.Values("Set-Cookie"), "\n"), want) {
				t.Fatalf("session cookie %q lacks %s", ck, want)
			}
		}
		if st, body := b.get("/dashboard"); st != 200 || !strings.Contains(body, "Overview") || !strings.Contains(body, email) {
			t.Fatalf("overview = %d %.300s", st, body)
		}
		tok := b.csrf("/dashboard")
		if st, _ := b.post("/dashboard/logout", url.Values{"csrf": {tok}}); st != 303 {
			t.Fatalf("logout = %d", st)
		}
		if st, _ := b.get("/dashboard"); st != 303 {
			t.Fatalf("after logout GET /dashboard = %d, want 303", st)
		}
	})
	t.Run("bad password and unknown email", func(t *testing.T) {
		for _, c := range [][2]string{{email, pw + "x"}, {"nobody-" + email, pw}} {
			b := e.newBrowser(t)
			tok := b.csrf("/dashboard/login")
			st, body := b.post("/dashboard/login", url.Values{"csrf": {tok}, "email": {c[0]}, "password": {c[1]}})
			if st != 401 || !strings.Contains(body, "Wrong email or password") {
				t.Fatalf("login %s = %d, want 401", c[0], st)
			}
			if st, _ := b.get("/dashboard"); st != 303 {
				t.Fatalf("after a failed login GET /dashboard = %d, want 303", st)
			}
		}
	})
	t.Run("missing csrf", func(t *testing.T) {
		b := e.newBrowser(t)
		b.csrf("/dashboard/login") // has the cookie, but the form does not carry the token
		if st, _ := b.post("/dashboard/login", url.Values{"email": {email}, "password": {pw}}); st != 403 {
			t.Fatalf("login without csrf = %d, want 403", st)
		}
	})
}

// TestLoginRateLimit: five failures for one email in a minute lock it for the rest
// of the minute, even for the right password.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := newTenant(t)
	email, pw := tn.mustCreateUser(t, dashboard.RoleViewer)
	b := e.newBrowser(t)
	for i := 0; i < 5; i++ {
		tok := b.csrf("/dashboard/login")
		if st, _ := b.post("/dashboard/login", url.Values{"csrf": {tok}, "email": {email}, "password": {"wrong password " + pw}}); st != 401 {
			t.Fatalf("failure %d = %d, want 401", i+1, st)
		}
	}
	tok := b.csrf("/dashboard/login")
	st, _ := b.post("/dashboard/login", url.Values{"csrf": {tok}, "email": {email}, "password": {pw}})
	if st != 429 || b.res.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth attempt = %d (Retry-After %q), want 429", st, b.res.Header.Get("Retry-After"))
	}
}

// TestViewerCannotMutate posts, with a valid CSRF token, to every mutating route as
// a viewer: each is 403 and nothing changes.
func TestViewerCannotMutate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := newTenant(t)
	cust := e.mustCreateCustomer(t, tn, "viewer-target@example.com", "Vera", "Viewed")
	email, pw := tn.mustCreateUser(t, dashboard.RoleViewer)
	b := e.newBrowser(t)
	b.login(email, pw)
	st, body := b.get("/dashboard/customers/" + cust)
	if st != 200 || strings.Contains(body, `id="edit-form"`) {
		t.Fatalf("viewer profile = %d; edit form shown: %v", st, strings.Contains(body, `id="edit-form"`))
	}
	tok := b.csrf("/dashboard")
	for _, path := range []string{"/dashboard/customers/" + cust, "/dashboard/customers/" + cust + "/close",
		"/dashboard/customers/" + cust + "/payouts", "/dashboard/payouts/PAY_01JAAAAAAAAAAAAAAAAAAAAAAA/cancel",
		"/dashboard/events/EVT_01JAAAAAAAAAAAAAAAAAAAAAAA/redeliver", "/dashboard/api-keys",
		"/dashboard/api-keys/KEY_01JAAAAAAAAAAAAAAAAAAAAAAA/revoke"} {
		st, _ := b.post(path, url.Values{"csrf": {tok}, "first_name": {"Changed"}, "mode": {"full"},
			"currency": {"USDT"}, "amount": {"1"}, "network": {"ethereum"}, "address": {"0x" + strings.Repeat("a", 40)}})
		if st != 403 {
			t.Errorf("viewer POST %s = %d, want 403", path, st)
		}
	}
	_, body = e.apiCall(t, tn, "GET", "/v1/customers/"+cust, "")
	if !strings.Contains(body, `"first_name":"Vera"`) || !strings.Contains(body, `"status":"active"`) {
		t.Fatalf("customer changed by a viewer: %s", body)
	}
}

func TestCSRFRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := newTenant(t)
	cust := e.mustCreateCustomer(t, tn, "csrf-target@example.com", "Cora", "Csrf")
	email, pw := tn.mustCreateUser(t, dashboard.RoleOwner)
	b := e.newBrowser(t)
	b.login(email, pw)
	for _, tok := range []string{"", "forged-token"} {
		if st, _ := b.post("/dashboard/customers/"+cust, url.Values{"csrf": {tok}, "first_name": {"Changed"}}); st != 403 {
			t.Fatalf("POST with csrf %q = %d, want 403", tok, st)
		}
	}
	// A token of another session is worthless here.
	other := e.newBrowser(t)
	other.login(email, pw)
	foreign := other.csrf("/dashboard")
	if st, _ := b.post("/dashboard/customers/"+cust, url.Values{"csrf": {foreign}, "first_name": {"Changed"}}); st != 403 {
		t.Fatalf("POST with another session's token = %d, want 403", st)
	}
	_, body := e.apiCall(t, tn, "GET", "/v1/customers/"+cust, "")
	if !strings.Contains(body, `"first_name":"Cora"`) {
		t.Fatalf("customer changed without a CSRF token: %s", body)
	}
}

// TestCrossTenant: business B's user never sees or touches business A's customer;
// A's id answers exactly like an id that never existed.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, bTen := newTenant(t), newTenant(t)
	custA := e.mustCreateCustomer(t, a, "tenant-a-secret@example.com", "Alice", "Tenanta")
	email, pw := bTen.mustCreateUser(t, dashboard.RoleOwner)
	b := e.newBrowser(t)
	b.login(email, pw)
	stA, _ := b.get("/dashboard/customers/" + custA)
	stNone, _ := b.get("/dashboard/customers/CUS_01JAAAAAAAAAAAAAAAAAAAAAAA")
	if stA != 404 || stNone != 404 {
		t.Fatalf("foreign customer = %d, unknown = %d; want 404 both", stA, stNone)
	}
	tok := b.csrf("/dashboard")
	if st, _ := b.post("/dashboard/customers/"+custA, url.Values{"csrf": {tok}, "first_name": {"Hacked"}}); st != 404 {
		t.Fatalf("edit of a foreign customer = %d, want 404", st)
	}
	for _, path := range []string{"/dashboard/customers?q=tenant-a-secret", "/dashboard/customers/export.csv", "/dashboard"} {
		if _, body := b.get(path); strings.Contains(body, "tenant-a-secret@example.com") || strings.Contains(body, custA) {
			t.Fatalf("%s shows business A's customer", path)
		}
	}
	_, body := e.apiCall(t, a, "GET", "/v1/customers/"+custA, "")
	if !strings.Contains(body, `"first_name":"Alice"`) {
		t.Fatalf("A's customer changed: %s", body)
	}
}

func TestSearchAndExport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := newTenant(t)
	grace := e.mustCreateCustomer(t, tn, "grace.hopper@example.com", "Grace", "Hopper")
	e.mustCreateCustomer(t, tn, "alan.turing@example.com", "Alan", "Turing")
	email, pw := tn.mustCreateUser(t, dashboard.RoleViewer)
	b := e.newBrowser(t)
	b.login(email, pw)
	st, body := b.get("/dashboard/customers?q=HOPPER")
	if st != 200 || !strings.Contains(body, `href="/dashboard/customers/`+grace+`"`) || !strings.Contains(body, "Grace Hopper") ||
		!strings.Contains(body, "grace.hopper@example.com") || strings.Contains(body, "alan.turing") {
		t.Fatalf("search = %d %.2000s", st, body)
	}
	if !strings.Contains(body, `name="q"`) {
		t.Fatal("no search input named q")
	}
	if st, body := b.get("/dashboard/customers?status=bogus"); st != 400 || !strings.Contains(body, "status must be") {
		t.Fatalf("bad filter = %d", st)
	}
	// The export is byte for byte the API's.
	_, got := b.get("/dashboard/customers/export.csv?q=example.com")
	ct := b.res.Header.Get("Content-Type")
	_, want := e.apiCall(t, tn, "GET", "/v1/customers/export.csv?q=example.com", "")
	if !strings.HasPrefix(ct, "text/csv") || got != want || !strings.Contains(got, "grace.hopper@example.com") {
		t.Fatalf("export (%s):\n%s\nwant:\n%s", ct, got, want)
	}
}

// TestEditAssetsAndAudit: an owner's edit goes through the API's PATCH code and is
// audited with the user's id; assets read exactly like GET /v1/balances.
func TestEditAssetsAndAudit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := newTenant(t)
	cust := e.mustCreateCustomer(t, tn, "edit.me@example.com", "Edith", "Edit")
	pgtest.Fund(t, tn.business.ID, cust, "USDT", "12.5")
	email, pw := tn.mustCreateUser(t, dashboard.RoleOwner)
	b := e.newBrowser(t)
	b.login(email, pw)
	tok := b.csrf("/dashboard/customers/" + cust)
	st, _ := b.post("/dashboard/customers/"+cust, url.Values{"csrf": {tok}, "phone": {"+2348012345678"}, "kyc_status": {"verified"},
		"first_name": {"Edith"}})
	if st != 303 {
		t.Fatalf("edit = %d", st)
	}
	_, body := e.apiCall(t, tn, "GET", "/v1/customers/"+cust, "")
	if !strings.Contains(body, `"phone":"+2348012345678"`) || !strings.Contains(body, `"kyc_status":"verified"`) {
		t.Fatalf("after edit: %s", body)
	}
	// An invalid value is refused with the API's rule and message, and audited.
	st, _ = b.post("/dashboard/customers/"+cust, url.Values{"csrf": {tok}, "country": {"XX"}})
	if _, page := b.get("/dashboard/customers/" + cust); st != 303 || !strings.Contains(page, "country") {
		t.Fatalf("invalid edit = %d, no message", st)
	}
	_, page := b.get("/dashboard/customers/" + cust + "?tab=audit")
	if n := strings.Count(page, dashboard.PrefixUser); n < 2 || !strings.Contains(page, "/dashboard/customers/"+cust) {
		t.Fatalf("audit tab shows %d dashboard entries: %.3000s", n, page)
	}
	_, apiAudit := e.apiCall(t, tn, "GET", "/v1/customers/"+cust+"/audit-log", "")
	if !strings.Contains(apiAudit, `"key_id":"USR_`) {
		t.Fatalf("API audit log lacks the dashboard user: %s", apiAudit)
	}
	_, page = b.get("/dashboard/customers/" + cust + "?tab=assets")
	_, bal := e.apiCall(t, tn, "GET", "/v1/balances", "", "X-BU-PROFILE-ID", cust)
	m := regexp.MustCompile(`"available":"([^"]+)","held":"([^"]+)","pending":"([^"]+)"`).FindStringSubmatch(bal)
	if m == nil || !strings.Contains(page, `<td class="n available">`+m[1]+`</td><td class="n held">`+m[2]+`</td><td class="n pending">`+m[3]+`</td>`) {
		t.Fatalf("assets tab does not match %s", bal)
	}
}

// TestPayoutCancel creates a payout from the dashboard and cancels it: the API's
// hold and release run, and both changes are audited.
func TestPayoutCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := newTenant(t)
	cust := e.mustCreateCustomer(t, tn, "payout.cancel@example.com", "Paul", "Payout")
	pgtest.Fund(t, tn.business.ID, cust, "USDT", "100")
	email, pw := tn.mustCreateUser(t, dashboard.RoleOwner)
	b := e.newBrowser(t)
	b.login(email, pw)
	tok := b.csrf("/dashboard/customers/" + cust + "?tab=assets")
	form := url.Values{"csrf": {tok}, "currency": {"USDT"}, "network": {"ethereum"}, "amount": {"1000"},
		"address": {"0x" + strings.Repeat("b", 40)}, "beneficiary_name": {"Paul Payout"}}
	if st, _ := b.post("/dashboard/customers/"+cust+"/payouts", form); st != 303 {
		t.Fatalf("unaffordable payout = %d", st)
	}
	if _, page := b.get("/dashboard/customers/" + cust + "?tab=assets"); !strings.Contains(page, "insufficient") && !strings.Contains(page, "Insufficient") {
		t.Fatalf("no insufficient-funds message: %.2000s", page)
	}
	form.Set("amount", "40")
	st, _ := b.post("/dashboard/customers/"+cust+"/payouts", form)
	if st != 303 || b.res.Header.Get("Location") != "/dashboard/payouts" {
		t.Fatalf("payout = %d %s", st, b.res.Header.Get("Location"))
	}
	_, page := b.get("/dashboard/payouts?status=pending")
	id := regexp.MustCompile(`<tr id="(PAY_[0-9A-Z]+)">`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no pending payout listed: %.2000s", page)
	}
	_, bal := e.apiCall(t, tn, "GET", "/v1/balances/USDT", "", "X-BU-PROFILE-ID", cust)
	if !strings.Contains(bal, `"available":"60`) || !strings.Contains(bal, `"held":"40`) {
		t.Fatalf("after payout: %s", bal)
	}
	tok = b.csrf("/dashboard/payouts")
	if st, _ := b.post("/dashboard/payouts/"+id[1]+"/cancel", url.Values{"csrf": {tok}}); st != 303 {
		t.Fatalf("cancel = %d", st)
	}
	_, bal = e.apiCall(t, tn, "GET", "/v1/balances/USDT", "", "X-BU-PROFILE-ID", cust)
	if !strings.Contains(bal, `"available":"100`) || !strings.Contains(bal, `"held":"0`) {
		t.Fatalf("after cancel: %s", bal)
	}
	if st, _ := b.post("/dashboard/payouts/"+id[1]+"/cancel", url.Values{"csrf": {tok}}); st != 303 {
		t.Fatalf("second cancel = %d, want 303 with an invalid_state message", st)
	}
	_, audit := e.apiCall(t, tn, "GET", "/v1/customers/"+cust+"/audit-log", "")
	// Refused create, create, cancel; like the API, a refused cancel names no customer.
	if n := strings.Count(audit, `"key_id":"USR_`); n != 3 {
		t.Fatalf("audit has %d dashboard entries: %s", n, audit)
	}
}

// TestAPIKeys: a key created in the dashboard is shown once and works; revoked, it
// stops working.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := newTenant(t)
	email, pw := tn.mustCreateUser(t, dashboard.RoleOwner)
	b := e.newBrowser(t)
	b.login(email, pw)
	tok := b.csrf("/dashboard/api-keys")
	st, page := b.post("/dashboard/api-keys", url.Values{"csrf": {tok}, "name": {"ci"}, "mode": {"read_only"}})
	m := regexp.MustCompile(`value="(sk_test_[0-9A-Za-z]+)"`).FindStringSubmatch(page)
	k := regexp.MustCompile(`Key <code>(KEY_[0-9A-Z]+)</code> created`).FindStringSubmatch(page)
	if st != 201 || m == nil || k == nil {
		t.Fatalf("create key = %d %.2000s", st, page)
	}
	if _, again := b.get("/dashboard/api-keys"); strings.Contains(again, m[1]) {
		t.Fatal("secret shown twice")
	}
	ro := &tenant{business: tn.business, key: m[1]}
	if st, _ := e.apiCall(t, ro, "GET", "/v1/business", ""); st != 200 {
		t.Fatalf("new key = %d", st)
	}
	if st, _ := b.post("/dashboard/api-keys/"+k[1]+"/revoke", url.Values{"csrf": {tok}}); st != 303 {
		t.Fatalf("revoke = %d", st)
	}
	if st, _ := e.apiCall(t, ro, "GET", "/v1/business", ""); st != 401 {
		t.Fatalf("revoked key = %d, want 401", st)
	}
}
