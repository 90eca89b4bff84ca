package dashboard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tallyhq/tally/internal/dashboard"
	"github.com/tallyhq/tally/internal/pgtest"
)

// chromiumPath finds the system Chromium; the browser tests skip without one.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("browser tests skipped: no Chromium installed (apt-get install -y chromium; .ci/run installs it)")
	return ""
}

// screenshotDir is docs/screenshots when TALLY_SCREENSHOTS=1 (to refresh the
// committed images), else a temporary directory, so `make test` leaves the tree clean.
func screenshotDir(t *testing.T) string {
	if os.Getenv("TALLY_SCREENSHOTS") == "1" {
		dir := filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// newChromium starts one headless Chromium with a fresh profile (its own cookies)
// and returns a tab context.
func newChromium(t *testing.T, exe string) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes may still write to the profile for a
	// moment after the browser exits, which would fail TempDir's strict cleanup.
	profile, err := os.MkdirTemp("", "tally-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 10 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile), chromedp.WindowSize(1100, 760),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true)}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// navigate loads url and waits for sel, retrying once: a navigation that
// Chromium drops (seen rarely right after many reloads) is not what is tested.
func navigate(t *testing.T, ctx context.Context, url, sel string) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = chromedp.Run(actx, chromedp.Navigate(url), chromedp.WaitVisible(sel))
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("navigate %s: %v", url, err)
}

// run executes actions and fails the test with what step failed.
func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

func shot(t *testing.T, ctx context.Context, dir, name string) { shotAt(t, ctx, dir, name, "body") }

// shotAt scrolls sel into view and saves a screenshot of the viewport.
func shotAt(t *testing.T, ctx context.Context, dir, name, sel string) {
	t.Helper()
	var png []byte
	run(t, ctx, "screenshot "+name, chromedp.ScrollIntoView(sel, chromedp.ByQuery), chromedp.CaptureScreenshot(&png))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	run(t, ctx, "sign in", chromedp.Navigate(base+"/dashboard/login"), chromedp.WaitVisible(`input[name="email"]`),
		chromedp.SendKeys(`input[name="email"]`, email), chromedp.SendKeys(`input[name="password"]`, password),
		chromedp.Click(`button[type="submit"]`), chromedp.WaitVisible(`//h1[text()="Overview"]`))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	run(t, ctx, "read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// TestBrowser drives the dashboard in real headless Chromium: an owner signs in,
// searches, opens a profile, switches its tabs, edits a field, exports CSV and sends
// a payout that the sandbox rail completes; a viewer cannot change anything; and
// business B's owner never sees business A's data. It saves a screenshot per page.
func TestBrowser(t *testing.T) {
	exe := chromiumPath(t)
	e := newEnv(t)
	railCtx, stopRail := context.WithCancel(context.Background())
	defer stopRail()
	go e.srv.RunSandboxRail(railCtx)
	dir := screenshotDir(t)

	a := newTenant(t)
	grace := e.mustCreateCustomer(t, a, "grace.hopper@example.com", "Grace", "Hopper")
	e.mustCreateCustomer(t, a, "alan.turing@example.com", "Alan", "Turing")
	pgtest.Fund(t, a.business.ID, grace, "USDT", "250")
	wallet := "0x" + strings.Repeat("c", 40)
	if st, body := e.apiCall(t, a, "POST", "/v1/customers/"+grace+"/wallets", `{"network":"ethereum","address":"`+wallet+`","label":"cold"}`); st != 201 {
		t.Fatalf("wallet: %d %s", st, body)
	}
	st, body := e.apiCall(t, a, "POST", "/v1/deposit-addresses", `{"currency":"USDT","network":"tron"}`, "X-BU-PROFILE-ID", grace)
	m := regexp.MustCompile(`"address":"([^"]+)"`).FindStringSubmatch(body)
	if st != 201 || m == nil {
		t.Fatalf("deposit address: %d %s", st, body)
	}
	depositAddr := m[1]
	ownerEmail, ownerPW := a.mustCreateUser(t, dashboard.RoleOwner)
	viewerEmail, viewerPW := a.mustCreateUser(t, dashboard.RoleViewer)
	b := newTenant(t)
	e.mustCreateCustomer(t, b, "bob.other@example.com", "Bob", "Other")
	bEmail, bPW := b.mustCreateUser(t, dashboard.RoleOwner)

	t.Run("owner", func(t *testing.T) {
		ctx := newChromium(t, exe)
		run(t, ctx, "login page", chromedp.Navigate(e.url+"/dashboard/login"), chromedp.WaitVisible(`input[name="email"]`))
		shot(t, ctx, dir, "login")
		signIn(t, ctx, e.url, ownerEmail, ownerPW)
		var loc string
		run(t, ctx, "location", chromedp.Location(&loc))
		if !strings.HasSuffix(loc, "/dashboard") {
			t.Fatalf("after sign-in at %s, want /dashboard", loc)
		}
		shot(t, ctx, dir, "overview")

		// Search a customer.
		run(t, ctx, "search", chromedp.Navigate(e.url+"/dashboard/customers"), chromedp.WaitVisible(`#q`),
			chromedp.SendKeys(`#q`, "hopper"), chromedp.Submit(`#q`),
			chromedp.WaitVisible(`#results-for`), chromedp.WaitVisible(`#customers`))
		if list := text(t, ctx, "#customers"); !strings.Contains(list, "Grace Hopper") || !strings.Contains(list, "grace.hopper@example.com") ||
			strings.Contains(list, "Turing") {
			t.Fatalf("search result: %s", list)
		}
		shot(t, ctx, dir, "customers")

		// Open the profile and switch the tabs.
		run(t, ctx, "open profile", chromedp.Click(`#customers a`, chromedp.ByQuery), chromedp.WaitVisible(`#tab-transactions`))
		run(t, ctx, "location", chromedp.Location(&loc))
		if !strings.HasSuffix(loc, "/dashboard/customers/"+grace) {
			t.Fatalf("profile at %s", loc)
		}
		if tx := text(t, ctx, "#transactions"); !strings.Contains(tx, "adjustment") || !strings.Contains(tx, "250") {
			t.Fatalf("transactions tab: %s", tx)
		}
		shotAt(t, ctx, dir, "customer-transactions", "nav.tabs")
		run(t, ctx, "addresses tab", chromedp.Click(`//nav[@class="tabs"]/a[text()="Addresses"]`), chromedp.WaitVisible(`#tab-addresses`))
		if w, d := text(t, ctx, "#wallets"), text(t, ctx, "#deposit-addresses"); !strings.Contains(w, wallet) || !strings.Contains(d, depositAddr) {
			t.Fatalf("addresses tab: %s / %s", w, d)
		}
		shotAt(t, ctx, dir, "customer-addresses", "nav.tabs")
		run(t, ctx, "assets tab", chromedp.Click(`//nav[@class="tabs"]/a[text()="Assets"]`), chromedp.WaitVisible(`#tab-assets`))
		_, bal := e.apiCall(t, a, "GET", "/v1/balances/USDT", "", "X-BU-PROFILE-ID", grace)
		want := regexp.MustCompile(`"available":"([^"]+)","held":"([^"]+)","pending":"([^"]+)"`).FindStringSubmatch(bal)
		row := `tr[data-currency="USDT"] `
		if got := []string{text(t, ctx, row+".available"), text(t, ctx, row+".held"), text(t, ctx, row+".pending")}; want == nil ||
			strings.Join(got, " ") != strings.Join(want[1:], " ") {
			t.Fatalf("assets tab %v, API %s", got, bal)
		}
		shotAt(t, ctx, dir, "customer-assets", "nav.tabs")

		// Edit a field.
		run(t, ctx, "edit", chromedp.Click(`details.edit summary`, chromedp.ByQuery), chromedp.WaitVisible(`#f-phone`),
			chromedp.SetValue(`#f-phone`, "+2348099990000", chromedp.ByQuery), chromedp.Submit(`#f-phone`, chromedp.ByQuery),
			chromedp.WaitVisible(`.flash.ok`))
		if p := text(t, ctx, "#c-phone"); p != "+2348099990000" {
			t.Fatalf("phone after edit = %q", p)
		}
		_, cust := e.apiCall(t, a, "GET", "/v1/customers/"+grace, "")
		if !strings.Contains(cust, `"phone":"+2348099990000"`) {
			t.Fatalf("API after edit: %s", cust)
		}
		run(t, ctx, "audit tab", chromedp.Click(`//nav[@class="tabs"]/a[text()="Audit log"]`), chromedp.WaitVisible(`#audit`))
		if au := text(t, ctx, "#audit"); !strings.Contains(au, dashboard.PrefixUser) {
			t.Fatalf("audit tab: %s", au)
		}
		shotAt(t, ctx, dir, "customer-audit", "nav.tabs")

		// Export CSV with the browser's session: the same bytes as the API's export.
		var csv string
		run(t, ctx, "export", chromedp.Navigate(e.url+"/dashboard/customers"), chromedp.WaitVisible(`#export`),
			chromedp.Evaluate(`fetch(document.querySelector('#export').href).then(r => r.text())`, &csv,
				func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
		_, apiCSV := e.apiCall(t, a, "GET", "/v1/customers/export.csv", "")
		if csv != apiCSV || !strings.HasPrefix(csv, "id,type,status") || !strings.Contains(csv, "grace.hopper@example.com") {
			t.Fatalf("export:\n%s\nAPI:\n%s", csv, apiCSV)
		}

		// A payout for the funded customer, completed by the sandbox rail.
		run(t, ctx, "payout", chromedp.Navigate(e.url+"/dashboard/customers/"+grace+"?tab=assets"), chromedp.WaitVisible(`#payout-form`),
			chromedp.SetValue(`#p-currency`, "USDT", chromedp.ByQuery), chromedp.SendKeys(`#p-network`, "ethereum", chromedp.ByQuery),
			chromedp.SendKeys(`#p-amount`, "25", chromedp.ByQuery), chromedp.SendKeys(`#p-address`, "0x"+strings.Repeat("d", 40), chromedp.ByQuery),
			chromedp.Click(`#payout-form button[type="submit"]`, chromedp.ByQuery), chromedp.WaitVisible(`#payouts`))
		flash := text(t, ctx, ".flash.ok")
		id := regexp.MustCompile(`PAY_[0-9A-Z]{26}`).FindString(flash)
		if id == "" {
			t.Fatalf("payout flash: %s", flash)
		}
		status := ""
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && status != "completed"; {
			time.Sleep(500 * time.Millisecond)
			navigate(t, ctx, e.url+"/dashboard/payouts", `#payouts`)
			status = text(t, ctx, `tr[id="`+id+`"] .status`)
		}
		if status != "completed" {
			t.Fatalf("payout %s is %s, want completed", id, status)
		}
		shot(t, ctx, dir, "payouts")
		for _, p := range []string{"deposits", "transfers", "webhooks", "api-keys"} {
			navigate(t, ctx, e.url+"/dashboard/"+p, `//main//h1`)
			shot(t, ctx, dir, p)
		}
		run(t, ctx, "phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(e.url+"/dashboard/customers/"+grace+"?tab=assets"),
			chromedp.WaitVisible(`#tab-assets`))
		shotAt(t, ctx, dir, "customer-phone", "nav.tabs")
	})

	t.Run("viewer cannot mutate", func(t *testing.T) {
		ctx := newChromium(t, exe)
		signIn(t, ctx, e.url, viewerEmail, viewerPW)
		var forms int
		run(t, ctx, "profile", chromedp.Navigate(e.url+"/dashboard/customers/"+grace+"?tab=assets"), chromedp.WaitVisible(`#tab-assets`),
			chromedp.Evaluate(`document.querySelectorAll('#edit-form, #payout-form, form[action$="/close"]').length`, &forms))
		if forms != 0 {
			t.Fatalf("viewer sees %d change forms", forms)
		}
		// Forge the edit form with the viewer's own valid CSRF token: still refused.
		run(t, ctx, "forged edit", chromedp.Evaluate(`(() => {
			const f = document.createElement('form'); f.method = 'post'; f.action = '/dashboard/customers/`+grace+`';
			for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['first_name', 'Hacked']]) {
				const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }
			document.body.appendChild(f); f.submit(); })()`, nil), chromedp.WaitVisible(`//h1[text()="Read-only access"]`))
		shot(t, ctx, dir, "viewer-forbidden")
		_, cust := e.apiCall(t, a, "GET", "/v1/customers/"+grace, "")
		if !strings.Contains(cust, `"first_name":"Grace"`) {
			t.Fatalf("viewer changed the customer: %s", cust)
		}
	})

	t.Run("business B never sees business A", func(t *testing.T) {
		ctx := newChromium(t, exe)
		signIn(t, ctx, e.url, bEmail, bPW)
		var html string
		for _, p := range []string{"/dashboard", "/dashboard/customers", "/dashboard/customers?q=hopper", "/dashboard/payouts", "/dashboard/webhooks"} {
			navigate(t, ctx, e.url+p, `//main//h1`)
			run(t, ctx, p, chromedp.OuterHTML(`html`, &html, chromedp.ByQuery))
			if strings.Contains(html, grace) || strings.Contains(html, "grace.hopper@example.com") {
				t.Fatalf("%s shows business A's customer", p)
			}
		}
		run(t, ctx, "foreign profile", chromedp.Navigate(e.url+"/dashboard/customers/"+grace), chromedp.WaitVisible(`//h1[text()="Not found"]`),
			chromedp.OuterHTML(`html`, &html, chromedp.ByQuery))
		if strings.Contains(html, "Grace") {
			t.Fatal("not-found page names the customer")
		}
		shot(t, ctx, dir, "not-found")
	})
}
