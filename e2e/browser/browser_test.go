// Package browser drives the pages of a real Gatehouse server (in this
// process, on SQLite) with a real Chromium through chromedp: logins with
// and without two-factor, enrolment, API keys, sessions ended from
// another browser, an admin disabling a user, a cross-site form post, and
// axe-core on every page (contract §11).
//
// Chromium comes from Debian's chromium package (.ci/run installs it); the
// tests skip, saying so, when it is absent. axe-core is read from
// GATEHOUSE_AXE_JS (.ci/run installs it with npm outside the repository);
// without it the accessibility test skips. GATEHOUSE_SCREENSHOTS=DIR
// writes the README's screenshots there.
package browser

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/internal/testservice"
	"github.com/gatehouse/gatehouse/passkey"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

// chromium returns the browser's path, or skips the test loudly.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("GATEHOUSE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	fmt.Fprintln(os.Stderr, "\n*** browser tests SKIPPED: no Chromium (apt-get install chromium; .ci/run does) ***")
	t.Skip("Chromium not installed")
	return ""
}

// server is a Gatehouse server with its store, service and audit log.
type server struct {
	url   string
	store *sqlite.DB
	svc   *auth.Service
	audit *audit.Recorder
}

func newServer(t *testing.T) *server { return newServerWith(t, false) }

// newServerWith is newServer, with passkeys when asked: the public URL is
// then http://localhost:PORT (a host name, and a secure context in
// Chromium), the RP ID localhost.
func newServerWith(t *testing.T, passkeys bool) *server {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := token.NewManager(token.Config{Keys: []token.Key{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef-browser")}},
		Issuer: "gatehouse", Audience: "gatehouse", Leeway: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := totp.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	pool := password.NewPool(2, 64)
	log := slog.New(slog.DiscardHandler)
	rec := audit.New(store, log, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	var rp *passkey.RP
	if passkeys {
		base = fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
		if rp, err = passkey.New(passkey.Config{RPID: "localhost", Origins: []string{base}}); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := auth.New(auth.Config{Store: store, Tokens: tokens, Hasher: password.NewHasher(testservice.Params), Pool: pool,
		Policy: password.DefaultPolicy(), Sealer: sealer, KeyPepper: []byte("pepper-pepper-pepper-pepper-pepper!!"),
		Auditor: rec, Logger: log, Passkeys: rp})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.LoadSessionKey(ctx); err != nil {
		t.Fatal(err)
	}
	pub, _ := url.Parse(base)
	red, err := httpsec.NewRedirects(pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Auth: svc, Store: store, Redirects: red, Logger: log, Auditor: rec,
		LoginLimit: ratelimit.Limit{Rate: 1000, Period: time.Minute, Burst: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: api}}
	srv.Start()
	t.Cleanup(func() { srv.Close(); rec.Close(); pool.Close(); store.Close() })
	return &server{url: base, store: store, svc: svc, audit: rec}
}

func (s *server) user(t *testing.T, name, pw string, role gatehouse.Role) *gatehouse.User {
	t.Helper()
	u, err := s.svc.CreateUser(context.Background(), auth.NewUser{Username: name, Password: pw, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newBrowser starts a headless Chromium with a fresh profile and returns
// the context of its first tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 860),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// tab is one browsing context: its own cookie jar.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// newTab opens a tab in a new browser context of the browser (its own
// cookies, like another person's browser).
func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return &tab{t: t, ctx: ctx}
}

// step is the time one action may take: a missing element fails the
// test instead of hanging it.
const step = 20 * time.Second

func (b *tab) short() (context.Context, context.CancelFunc) { return context.WithTimeout(b.ctx, step) }

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.short()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) open(u string) {
	b.t.Helper()
	b.do(chromedp.Navigate(u))
}

// submit clicks sel and waits for the page it loads.
func (b *tab) submit(sel chromedp.CSS) {
	b.t.Helper()
	ctx, cancel := b.short()
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel))); err != nil {
		b.t.Fatalf("submit %s: %v", sel, err)
	}
}

func (b *tab) fill(sel chromedp.CSS, v string) {
	b.t.Helper()
	b.do(chromedp.SetValue(sel, v))
}

func (b *tab) text(sel chromedp.CSS) string {
	b.t.Helper()
	ctx, cancel := b.short()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(sel))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *tab) eval(js string) string {
	b.t.Helper()
	ctx, cancel := b.short()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return s
}

func (b *tab) path() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	return u.Path
}

func (b *tab) heading() string { return b.text("h1") }

func (b *tab) login(base, user, pw string) {
	b.t.Helper()
	b.open(base + "/login")
	b.fill("#username", user)
	b.fill("#password", pw)
	b.submit("form[action='/login'] button[type=submit]")
}

func wantPage(t *testing.T, b *tab, path, heading string) {
	t.Helper()
	if p, h := b.path(), b.heading(); p != path || h != heading {
		t.Fatalf("at %s %q, want %s %q", p, h, path, heading)
	}
}

func TestLoginWithoutAndWithTwoFactor(t *testing.T) {
	s := newServer(t)
	s.user(t, "alice", "alice's long password", gatehouse.RoleUser)
	b := newTab(t, newBrowser(t))

	// A page that needs a session sends the browser to the login page and
	// back after it.
	b.open(s.url + "/account#sessions")
	wantPage(t, b, "/login", "Sign in")
	b.fill("#username", "alice")
	b.fill("#password", "wrong password!")
	b.submit("form[action='/login'] button[type=submit]")
	if got := b.text("#login-error"); got != "Incorrect username or password." {
		t.Fatalf("wrong password: %q", got)
	}
	if b.eval(`document.querySelector('#password').getAttribute('aria-invalid')`) != "true" {
		t.Fatal("the error is not tied to the password input")
	}
	b.fill("#username", "alice")
	b.fill("#password", "alice's long password")
	b.submit("form[action='/login'] button[type=submit]")
	wantPage(t, b, "/account", "Your account")
	if c := b.eval(`document.cookie`); c != "" {
		t.Fatalf("the session cookie is readable from script: %q", c)
	}

	// Enrol two-factor from the page: the code is computed from the
	// secret the page shows.
	b.submit("form[action='/account/2fa/setup'] button")
	secret := b.text("#totp-secret")
	if len(secret) < 16 || b.eval(`document.querySelector('.enrol img').getAttribute('src').slice(0, 22)`) != "data:image/png;base64," {
		t.Fatalf("enrolment shows secret %q and no QR image", secret)
	}
	code, _ := totp.Code(secret, time.Now())
	b.fill("#enrol-code", code)
	b.submit("form[action='/account/2fa/verify'] button")
	codes := b.eval(`Array.from(document.querySelectorAll('#recovery-codes code')).map(c => c.textContent).join(' ')`)
	if len(strings.Fields(codes)) != 10 {
		t.Fatalf("recovery codes shown: %q", codes)
	}
	if !strings.Contains(b.text("#two-factor"), "On.") {
		t.Fatal("two-factor not shown as on")
	}

	// Sign out; sign in again: the password, then the code.
	b.submit("form[action='/sign-out'] button")
	wantPage(t, b, "/login", "Sign in")
	b.login(s.url, "alice", "alice's long password")
	wantPage(t, b, "/login", "Two-factor authentication")
	b.fill("#otp", "000000")
	b.submit("form[action='/login'] button[type=submit]")
	if got := b.text("#login-error"); !strings.Contains(got, "not right") {
		t.Fatalf("wrong code: %q", got)
	}
	b.fill("#otp", strings.Fields(codes)[0]) // a recovery code
	b.submit("form[action='/login'] button[type=submit]")
	wantPage(t, b, "/account", "Your account")
	if !strings.Contains(b.text("#sessions"), "with two-factor") {
		t.Fatal("the session does not say it used two-factor")
	}
}

func TestCreateAndRevokeAnAPIKey(t *testing.T) {
	s := newServer(t)
	s.user(t, "bob", "bob's long password", gatehouse.RoleUser)
	b := newTab(t, newBrowser(t))
	b.login(s.url, "bob", "bob's long password")
	b.fill("#key-name", "deploys")
	b.do(chromedp.Click(chromedp.CSS("input[name=scope][value='write:items']"))) // read:items only
	b.submit("form[action='/account/api-keys'] button")
	key := b.text("#new-key")
	if !strings.HasPrefix(key, "ghk_") {
		t.Fatalf("new key shown: %q", key)
	}
	call := func() int {
		req, _ := http.NewRequest("GET", s.url+"/items", nil)
		req.Header.Set("X-API-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := call(); code != 200 {
		t.Fatalf("the new key on GET /items: %d", code)
	}
	// Reloading the page does not show the key again.
	b.open(s.url + "/account")
	if n := b.eval(`String(document.querySelectorAll('#new-key').length)`); n != "0" {
		t.Fatal("the key is shown again")
	}
	b.submit("form[action$='/revoke'] button")
	if !strings.Contains(b.text(".notice"), "revoked") {
		t.Fatal("no confirmation of the revocation")
	}
	if code := call(); code != 403 {
		t.Fatalf("the revoked key on GET /items: %d", code)
	}
}

func TestEndingAnotherSessionSignsItOut(t *testing.T) {
	s := newServer(t)
	s.user(t, "carol", "carol's long password", gatehouse.RoleUser)
	browser := newBrowser(t)
	laptop, phone := newTab(t, browser), newTab(t, browser)
	laptop.login(s.url, "carol", "carol's long password")
	phone.login(s.url, "carol", "carol's long password")
	wantPage(t, phone, "/account", "Your account")

	laptop.open(s.url + "/account")
	if n := laptop.eval(`String(document.querySelectorAll('#sessions form[action$="/end"]').length)`); n != "1" {
		t.Fatalf("%s other sessions listed, want 1", n)
	}
	laptop.submit("#sessions form[action$='/end'] button")
	if !strings.Contains(laptop.text(".notice"), "signed out") {
		t.Fatal("no confirmation")
	}
	phone.open(s.url + "/account")
	wantPage(t, phone, "/login", "Sign in")
	laptop.open(s.url + "/account")
	wantPage(t, laptop, "/account", "Your account")
}

func TestAdminDisablesAUserWhoseBrowserIsSignedOut(t *testing.T) {
	s := newServer(t)
	s.user(t, "root", "the admin's long password", gatehouse.RoleAdmin)
	dave := s.user(t, "dave", "dave's long password", gatehouse.RoleUser)
	browser := newBrowser(t)
	admin, user := newTab(t, browser), newTab(t, browser)
	user.login(s.url, "dave", "dave's long password")
	wantPage(t, user, "/account", "Your account")
	// dave is no admin.
	user.open(s.url + "/admin/users")
	wantPage(t, user, "/admin/users", "Not allowed")

	admin.login(s.url, "root", "the admin's long password")
	admin.open(s.url + "/admin/users?q=dav")
	admin.submit(chromedp.CSS(fmt.Sprintf("a[href='/admin/users/%d']", dave.ID)))
	wantPage(t, admin, fmt.Sprintf("/admin/users/%d", dave.ID), "dave")
	admin.submit("form[action$='/disabled'] button")
	if !strings.Contains(admin.text(".notice"), "disabled") {
		t.Fatal("no confirmation")
	}

	user.open(s.url + "/account")
	wantPage(t, user, "/login", "Sign in")
	user.login(s.url, "dave", "dave's long password")
	if got := user.text(".alert"); got != "This account is disabled." {
		t.Fatalf("disabled user's login: %q", got)
	}
}

func TestCrossSiteFormPostChangesNothing(t *testing.T) {
	s := newServer(t)
	erin := s.user(t, "erin", "erin's long password", gatehouse.RoleUser)
	// Another origin: the same host on another port, which SameSite=Lax
	// treats as the same site, so the cookie goes along.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>win a prize</title>
<form id="f" method="post" action="%s/account/api-keys"><input name="name" value="stolen"><input name="scope" value="read:items"></form>
<script>document.getElementById("f").submit()</script>`, s.url)
	}))
	defer evil.Close()
	b := newTab(t, newBrowser(t))
	b.login(s.url, "erin", "erin's long password")
	b.open(evil.URL)
	// Wait for the auto-submitted post's answer.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if loc, err := chromedp.Run(b.ctx, chromedp.Location()); err == nil && strings.HasPrefix(loc, s.url) {
			if _, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS("h1"))); err == nil {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h := b.heading(); h != "Cross-origin request refused" {
		t.Fatalf("the cross-site post was answered %q", h)
	}
	keys, err := s.svc.ListAPIKeys(context.Background(), erin.ID)
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys after the cross-site post: %d (%v)", len(keys), err)
	}
	// The same form from Gatehouse's own page works.
	b.open(s.url + "/account")
	b.fill("#key-name", "mine")
	b.submit("form[action='/account/api-keys'] button")
	if keys, _ := s.svc.ListAPIKeys(context.Background(), erin.ID); len(keys) != 1 {
		t.Fatalf("a same-origin post made %d keys", len(keys))
	}
}

// axeResult is one violation axe-core reports.
type axeResult struct {
	ID, Impact, Help string
	Nodes            int
}

// TestPagesHaveNoSeriousAccessibilityViolations runs axe-core on every
// page a person sees, and saves the README's screenshots when asked.
func TestPagesHaveNoSeriousAccessibilityViolations(t *testing.T) {
	axePath := os.Getenv("GATEHOUSE_AXE_JS")
	if axePath == "" {
		fmt.Fprintln(os.Stderr, "\n*** accessibility test SKIPPED: set GATEHOUSE_AXE_JS to axe.min.js (npm install axe-core; .ci/run does) ***")
		t.Skip("GATEHOUSE_AXE_JS not set")
	}
	axeJS, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	s := newServer(t)
	s.user(t, "root", "the admin's long password", gatehouse.RoleAdmin)
	frank := s.user(t, "frank", "frank's long password", gatehouse.RoleUser)
	for i := range 3 {
		s.user(t, fmt.Sprintf("user%d", i+1), "a long password here", gatehouse.RoleUser)
	}
	browser := newBrowser(t)
	admin, user := newTab(t, browser), newTab(t, browser)

	// shoot saves the tab's screenshot as NAME.png when
	// GATEHOUSE_SCREENSHOTS names a folder.
	shoot := func(b *tab, name string) {
		t.Helper()
		if shots == "" {
			return
		}
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err == nil {
			err = os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(b *tab, name string, scrollTo ...string) {
		t.Helper()
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](string(axeJS))); err != nil {
			t.Fatalf("%s: inject axe: %v", name, err)
		}
		res, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]axeResult](`axe.run(document).then(r => r.violations
			.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => ({ID: v.id, Impact: v.impact, Help: v.help, Nodes: v.nodes.length})))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: axe: %v", name, err)
		}
		for _, v := range res {
			t.Errorf("%s: %s %s (%d elements): %s", name, v.Impact, v.ID, v.Nodes, v.Help)
		}
		for _, id := range scrollTo {
			b.eval(`document.getElementById("` + id + `")?.scrollIntoView(), ""`)
		}
		shoot(b, name)
	}

	user.open(s.url + "/login")
	check(user, "login")
	user.login(s.url, "frank", "wrong password!")
	check(user, "login-error")
	user.login(s.url, "frank", "frank's long password")
	user.fill("#key-name", "laptop backup")
	user.submit("form[action='/account/api-keys'] button")
	check(user, "account-new-key")
	user.submit("form[action='/account/2fa/setup'] button")
	check(user, "account-2fa-setup", "two-factor")
	code, _ := totp.Code(user.text("#totp-secret"), time.Now())
	user.fill("#enrol-code", code)
	user.submit("form[action='/account/2fa/verify'] button")
	check(user, "account")
	user.open(s.url + "/admin")
	check(user, "error-403")
	user.submit("form[action='/sign-out'] button")
	user.login(s.url, "frank", "frank's long password")
	check(user, "login-2fa")

	admin.login(s.url, "root", "the admin's long password")
	admin.open(s.url + "/admin")
	check(admin, "admin")
	admin.open(s.url + "/admin/users")
	check(admin, "admin-users")
	admin.open(fmt.Sprintf("%s/admin/users/%d", s.url, frank.ID))
	check(admin, "admin-user")
	s.audit.Flush()
	admin.open(s.url + "/admin/audit")
	check(admin, "admin-audit")
	admin.open(s.url + "/admin/users/999999")
	check(admin, "error-404")
	admin.open(s.url + "/admin/clients")
	check(admin, "admin-clients")
	admin.fill("#client-name", "Grafana")
	admin.fill("#client-redirects", "https://grafana.example.com/login/generic_oauth")
	admin.fill("#client-scopes", "openid profile email")
	admin.submit("form[action='/admin/clients'] button")
	if secret := admin.text("#issued-secret"); len(secret) < 43 {
		t.Fatalf("registering a client through the page showed secret %q", secret)
	}
	check(admin, "admin-clients-secret")
	clientID := admin.text("#issued-id")
	admin.open(s.url + "/admin/clients/" + clientID)
	check(admin, "admin-client", "client-scopes")
	// The consent page, as Grafana's users see it.
	challenge := sha256.Sum256([]byte("a-verifier-of-at-least-forty-three-characters-0123"))
	admin.open(s.url + "/authorize?" + url.Values{"client_id": {clientID}, "response_type": {"code"},
		"redirect_uri": {"https://grafana.example.com/login/generic_oauth"}, "scope": {"openid profile email"},
		"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"}}.Encode())
	wantPage(t, admin, "/authorize", "Allow Grafana?")
	check(admin, "consent")
	consent := admin.path() + "?" + admin.eval(`location.search.slice(1)`)
	// RP-initiated logout without an id_token_hint asks first.
	admin.open(s.url + "/end-session?client_id=" + url.QueryEscape(clientID))
	wantPage(t, admin, "/end-session", "Sign out?")
	check(admin, "end-session")

	// Readable on a phone: no page wider than the screen (tables scroll
	// inside their own box).
	admin.do(chromedp.EmulateViewport(390, 844))
	for name, p := range map[string]string{"account": "/account", "admin": "/admin", "admin-users": "/admin/users",
		"admin-audit": "/admin/audit", "admin-user": fmt.Sprintf("/admin/users/%d", frank.ID), "admin-clients": "/admin/clients",
		"admin-client": "/admin/clients/" + clientID, "consent": consent, "end-session": "/end-session?client_id=" + url.QueryEscape(clientID)} {
		admin.open(s.url + p)
		if w := admin.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
			t.Errorf("%s is %s px wide on a 390 px screen", p, w)
		}
		shoot(admin, name+"-phone")
	}
	user.do(chromedp.EmulateViewport(390, 844))
	user.open(s.url + "/login")
	if w := user.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("the login page is %s px wide on a 390 px screen", w)
	}
	shoot(user, "login-phone")
}
