package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// Browser sessions, the pages' protections and the sessions API
// (contract §11), through real requests. The pages in a real browser are
// e2e/browser's.

// page sends a browser-like request and does not follow redirects.
// header holds name, value pairs; cookie is the session cookie's value.
func (e *env) page(method, path string, form url.Values, cookie string, header ...string) response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "gatehouse", Value: cookie})
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, raw: string(raw)}
}

// sameOrigin is what a browser sends with a form of Gatehouse's own page.
var sameOrigin = []string{"Sec-Fetch-Site", "same-origin"}

// browserLogin signs in through the login page and returns the cookie.
func (e *env) browserLogin(user, pw string) string {
	e.t.Helper()
	r := e.page("POST", "/login", url.Values{"username": {user}, "password": {pw}}, "", sameOrigin...)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.raw)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "gatehouse" {
			return c.Value
		}
	}
	e.t.Fatalf("login %s set no session cookie: %v", user, r.header["Set-Cookie"])
	return ""
}

func TestLoginPageSetsTheSessionCookie(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	r := e.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}, "", sameOrigin...)
	if r.status != 303 || r.header.Get("Location") != "/account" {
		t.Fatalf("login: %d to %q", r.status, r.header.Get("Location"))
	}
	sc := r.header.Get("Set-Cookie")
	for _, want := range []string{"gatehouse=", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=43200"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Domain=") || strings.Contains(sc, "Secure") {
		t.Errorf("Set-Cookie %q over plain http: no Domain, no Secure", sc)
	}
	cookie := e.browserLogin("alice", "correct horse battery")
	r = e.page("GET", "/account", nil, cookie)
	if r.status != 200 || !strings.Contains(r.raw, "<h1>Your account</h1>") {
		t.Fatalf("account with the cookie: %d", r.status)
	}
	// The cookie is a session like any other: /users/me still wants a token.
	if r := e.page("GET", "/users/me", nil, cookie); r.status != 401 {
		t.Fatalf("/users/me with only a cookie: %d, want 401", r.status)
	}
	// Signing in again from that browser ends the session it had.
	r = e.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}, cookie, sameOrigin...)
	if r.status != 303 {
		t.Fatalf("second login: %d", r.status)
	}
	if r := e.page("GET", "/account", nil, cookie); r.status != 303 {
		t.Fatalf("the replaced session still opens the account: %d", r.status)
	}
}

func TestCookieOverHTTPSIsHostPrefixedAndSecure(t *testing.T) {
	pub, _ := url.Parse("https://auth.example.com")
	red, _ := httpsec.NewRedirects(pub, nil)
	e := newEnvWith(t, envOptions{redirects: red})
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	r := e.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}, "", sameOrigin...)
	sc := r.header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "__Host-gatehouse=") || !strings.Contains(sc, "; Secure") || !strings.Contains(sc, "Path=/") ||
		strings.Contains(sc, "Domain=") {
		t.Fatalf("https, no cookie domain: Set-Cookie %q", sc)
	}
}

func TestCrossOriginRequestsWithTheCookieChangeNothing(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	cookie := e.browserLogin("alice", "correct horse battery")
	other := e.browserLogin("alice", "correct horse battery")
	keyForm := url.Values{"name": {"stolen"}, "scope": {"read:items"}}
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"}, // another port of this host, or a sibling subdomain
		{"Origin", "http://evil.example"},
		{"Origin", "null", "Sec-Fetch-Site", "cross-site"},
	} {
		if r := e.page("POST", "/account/api-keys", keyForm, cookie, h...); r.status != 403 || !strings.Contains(r.raw, "Cross-origin request refused") {
			t.Errorf("form post with %v: %d", h, r.status)
		}
		if r := e.page("DELETE", "/sessions", nil, cookie, h...); r.status != 403 {
			t.Errorf("DELETE /sessions with the cookie and %v: %d", h, r.status)
		}
		if r := e.page("POST", "/sign-out", url.Values{}, cookie, h...); r.status != 403 {
			t.Errorf("sign-out with %v: %d", h, r.status)
		}
	}
	keys, _ := e.svc.ListAPIKeys(t.Context(), u.ID)
	if len(keys) != 0 {
		t.Fatalf("cross-origin posts made %d keys", len(keys))
	}
	if r := e.page("GET", "/account", nil, other); r.status != 200 {
		t.Fatalf("the other session was ended by a cross-origin request: %d", r.status)
	}
	// The same requests from Gatehouse's own origin work; so do ones that
	// no browser made (no Sec-Fetch-Site, no Origin: curl).
	if r := e.page("POST", "/account/api-keys", keyForm, cookie, sameOrigin...); r.status != 201 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("same-origin key creation: %d, Cache-Control %q", r.status, r.header.Get("Cache-Control"))
	}
	if r := e.page("DELETE", "/sessions", nil, cookie); r.status != 200 {
		t.Fatalf("DELETE /sessions without browser headers: %d %s", r.status, r.raw)
	}
	if r := e.page("GET", "/account", nil, other); r.status != 303 {
		t.Fatalf("the other session survived DELETE /sessions: %d", r.status)
	}
	// A Bearer token is no ambient credential: no origin check.
	at, _ := e.mustLogin("alice", "correct horse battery")
	if r := e.page("DELETE", "/sessions", nil, "", "Authorization", "Bearer "+at, "Sec-Fetch-Site", "cross-site"); r.status != 200 {
		t.Fatalf("DELETE /sessions with a token from another origin: %d", r.status)
	}
}

func TestLoginReturnsOnlyToAllowedTargets(t *testing.T) {
	e := newEnv(t) // public URL http://127.0.0.1:8000, no other host
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	login := func(rd string) string {
		r := e.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "rd": {rd}}, "", sameOrigin...)
		return r.header.Get("Location")
	}
	for rd, want := range map[string]string{
		"/admin/users?q=x":                   "http://127.0.0.1:8000/admin/users?q=x",
		"http://127.0.0.1:8000/account#keys": "http://127.0.0.1:8000/account#keys",
		"https://evil.example/":              "/account",
		"//evil.example/":                    "/account",
		"/\\evil.example":                    "/account",
		"http://127.0.0.1:8000@evil.example": "/account",
		"javascript:alert(1)":                "/account",
	} {
		if got := login(rd); got != want {
			t.Errorf("rd=%q: Location %q, want %q", rd, got, want)
		}
	}
	// Signed in already: the login page sends the browser on, by the
	// same rule.
	cookie := e.browserLogin("alice", "correct horse battery")
	if r := e.page("GET", "/login?rd="+url.QueryEscape("//evil.example"), nil, cookie); r.header.Get("Location") != "/account" {
		t.Fatalf("signed-in login page to %q", r.header.Get("Location"))
	}
	if r := e.page("GET", "/login?return_to="+url.QueryEscape("/admin"), nil, cookie); r.header.Get("Location") != "http://127.0.0.1:8000/admin" {
		t.Fatalf("return_to: %q", r.header.Get("Location"))
	}
}

var (
	inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	inlineStyle  = regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=`)
)

func TestPagesCarryTheirCSPAndNoInlineCode(t *testing.T) {
	e := newEnv(t)
	e.createUser("root", "the admin's long password", gatehouse.RoleAdmin)
	cookie := e.browserLogin("root", "the admin's long password")
	e.page("POST", "/account/2fa/setup", url.Values{}, cookie, sameOrigin...)
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	for _, p := range []struct{ method, path string }{
		{"GET", "/login"}, {"GET", "/account"}, {"POST", "/account/2fa/setup"}, {"GET", "/admin"},
		{"GET", "/admin/users"}, {"GET", "/admin/users/1"}, {"GET", "/admin/audit"}, {"GET", "/admin/users/999"},
	} {
		var form url.Values
		if p.method == "POST" {
			form = url.Values{}
		}
		r := e.page(p.method, p.path, form, cookie, sameOrigin...)
		if r.status >= 500 || r.header.Get("Content-Security-Policy") != csp || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: %d, CSP %q, Cache-Control %q", p.method, p.path, r.status, r.header.Get("Content-Security-Policy"), r.header.Get("Cache-Control"))
		}
		if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s %s lacks the security headers of §8", p.method, p.path)
		}
		if m := inlineScript.FindString(r.raw); m != "" {
			t.Errorf("%s %s has an inline script: %q", p.method, p.path, m)
		}
		if m := inlineStyle.FindString(r.raw); m != "" {
			t.Errorf("%s %s has an inline style or handler: %q", p.method, p.path, m)
		}
	}
	// API responses keep theirs.
	if r := e.get("/health", ""); r.header.Get("Content-Security-Policy") != httpsec.APICSP {
		t.Errorf("API CSP %q", r.header.Get("Content-Security-Policy"))
	}
	// The redirect origins are allowed as form targets: a login's redirect.
	pub, _ := url.Parse("https://auth.example.com")
	red, _ := httpsec.NewRedirects(pub, []string{"*.example.com"})
	e2 := newEnvWith(t, envOptions{redirects: red})
	if got := e2.page("GET", "/login", nil, "").header.Get("Content-Security-Policy"); !strings.Contains(got, "form-action 'self' https://*.example.com:*;") {
		t.Errorf("login CSP with redirect domains: %q", got)
	}
}

func TestLoginPageErrors(t *testing.T) {
	e := newEnvWith(t, envOptions{loginLimit: ratelimit.Limit{Rate: 3, Period: time.Minute, Burst: 3}})
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	try := func(user, pw string) response {
		return e.page("POST", "/login", url.Values{"username": {user}, "password": {pw}}, "", sameOrigin...)
	}
	wrong, unknown := try("alice", "wrong password!"), try("nobody", "wrong password!")
	if wrong.status != 401 || !strings.Contains(wrong.raw, "Incorrect username or password.") || wrong.raw != strings.Replace(unknown.raw, `value="nobody"`, `value="alice"`, 1) {
		t.Fatalf("wrong password and unknown user must look the same: %d / %d", wrong.status, unknown.status)
	}
	if !strings.Contains(wrong.raw, `aria-invalid="true" aria-describedby="login-error"`) {
		t.Fatal("the error is not tied to the input")
	}
	r := try("alice", "wrong password!") // the third attempt for alice
	r = try("alice", "correct horse battery")
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(r.raw, "Too many attempts; try again in "+r.header.Get("Retry-After")+" s.") {
		t.Fatalf("over the limit: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	// A disabled account is told so only after the right password.
	e2 := newEnv(t)
	u = e2.createUser("bob", "bob's long password", gatehouse.RoleUser)
	if _, err := e2.svc.UpdateUser(t.Context(), u.ID, disable()); err != nil {
		t.Fatal(err)
	}
	try2 := func(pw string) response {
		return e2.page("POST", "/login", url.Values{"username": {"bob"}, "password": {pw}}, "", sameOrigin...)
	}
	if r := try2("wrong password!"); r.status != 401 || strings.Contains(r.raw, "disabled") {
		t.Fatalf("disabled, wrong password: %d", r.status)
	}
	if r := try2("bob's long password"); r.status != 403 || !strings.Contains(r.raw, "This account is disabled.") {
		t.Fatalf("disabled, right password: %d", r.status)
	}
}

func TestPagesNeedASessionAndAdminPagesTheAdminRole(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	r := e.page("GET", "/account?x=1", nil, "")
	if r.status != 303 || r.header.Get("Location") != "/login?rd=%2Faccount%3Fx%3D1" {
		t.Fatalf("no session: %d to %q", r.status, r.header.Get("Location"))
	}
	if r := e.page("GET", "/account", nil, "forged-cookie"); r.status != 303 {
		t.Fatalf("a forged cookie: %d", r.status)
	}
	cookie := e.browserLogin("alice", "correct horse battery")
	for _, p := range []string{"/admin", "/admin/users", "/admin/audit", "/admin/users/1"} {
		if r := e.page("GET", p, nil, cookie); r.status != 403 || !strings.Contains(r.raw, "Not allowed") {
			t.Errorf("a user at %s: %d", p, r.status)
		}
	}
	if r := e.page("POST", "/admin/users/1/disabled", url.Values{"disabled": {"true"}}, cookie, sameOrigin...); r.status != 403 {
		t.Fatalf("a user disabling the admin: %d", r.status)
	}
}

func TestSessionsAPI(t *testing.T) {
	e := newEnv(t)
	admin := e.createUser("root", "the admin's long password", gatehouse.RoleAdmin)
	alice := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	bob := e.createUser("bob", "bob's long password", gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", "correct horse battery")
	cookie := e.browserLogin("alice", "correct horse battery")
	bobAT, _ := e.mustLogin("bob", "bob's long password")

	r := e.get("/sessions", at)
	wantStatus(t, r, 200)
	list, _ := r.body["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("alice's sessions: %s", r.raw)
	}
	current := 0
	var browserID string
	for _, x := range list {
		s := x.(map[string]any)
		if s["current"] == true {
			current++
			if s["kind"] != "token" {
				t.Errorf("the current session of a token request is %v", s["kind"])
			}
		}
		if s["kind"] == "browser" {
			browserID = s["id"].(string)
			if s["expires_at"] == nil || s["client_ip"] != "127.0.0.1" || !strings.HasPrefix(s["user_agent"].(string), "Go-http-client") {
				t.Errorf("browser session %v", s)
			}
		}
		for _, f := range []string{"id", "created_at", "last_used_at", "client_ip", "user_agent", "current", "amr", "auth_time"} {
			if _, ok := s[f]; !ok {
				t.Errorf("session lacks %s: %v", f, s)
			}
		}
	}
	if current != 1 || browserID == "" {
		t.Fatalf("current %d, browser %q in %s", current, browserID, r.raw)
	}
	// With the cookie, the browser session is the current one.
	r = e.page("GET", "/sessions", nil, cookie)
	if r.status != 200 || !strings.Contains(r.raw, `"id":"`+browserID+`","kind":"browser"`) {
		t.Fatalf("GET /sessions with the cookie: %d %s", r.status, r.raw)
	}
	// Bob cannot end alice's session: it does not exist for him.
	req := func(method, path, bearer string) response {
		return e.do(method, path, nil, map[string]string{"Authorization": "Bearer " + bearer})
	}
	wantStatus(t, req("DELETE", "/sessions/"+browserID, bobAT), 404)
	wantStatus(t, req("DELETE", "/sessions/no-such-session", at), 404)
	wantStatus(t, e.page("GET", "/account", nil, cookie), 200)
	wantStatus(t, req("DELETE", "/sessions/"+browserID, at), 200)
	wantStatus(t, e.page("GET", "/account", nil, cookie), 303)
	wantStatus(t, e.get("/users/me", at), 200)

	// Admins: list and end a user's sessions; others may not.
	wantStatus(t, req("GET", "/users/"+itoa(alice.ID)+"/sessions", bobAT), 403)
	wantStatus(t, req("DELETE", "/users/"+itoa(alice.ID)+"/sessions", bobAT), 403)
	adminAT, _ := e.mustLogin("root", "the admin's long password")
	r = req("GET", "/users/"+itoa(alice.ID)+"/sessions", adminAT)
	if r.status != 200 || strings.Count(r.raw, `"id"`) != 1 {
		t.Fatalf("admin lists alice's sessions: %d %s", r.status, r.raw)
	}
	r = req("DELETE", "/users/"+itoa(alice.ID)+"/sessions", adminAT)
	if r.status != 200 || r.body["ended"] != float64(1) {
		t.Fatalf("admin ends alice's sessions: %d %s", r.status, r.raw)
	}
	wantDetail(t, e.get("/users/me", at), 401, "Token has been revoked")
	wantStatus(t, req("GET", "/users/999/sessions", adminAT), 404)
	wantStatus(t, req("GET", "/users/"+itoa(bob.ID)+"/sessions", adminAT), 200)
	_ = admin
}

func TestForwardAuthAcceptsTheCookieAndSendsBrowsersToTheLoginPage(t *testing.T) {
	pub, _ := url.Parse("https://auth.example.com")
	red, _ := httpsec.NewRedirects(pub, []string{"*.example.com"})
	e := newEnvWith(t, envOptions{redirects: red, proxies: []string{"127.0.0.1/32"}})
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	r := e.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}}, "", sameOrigin...)
	var cookie string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		cookie = c.Value
	}
	verify := func(query, cookie string, h ...string) response {
		req, _ := http.NewRequest("GET", e.srv.URL+"/auth/verify"+query, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "__Host-gatehouse", Value: cookie})
		}
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	}
	if r := verify("?scope=read:items", cookie); r.status != 200 || r.header.Get("X-Auth-Request-User") != "alice" || !strings.Contains(r.raw, `"credential":"session"`) {
		t.Fatalf("the cookie at /auth/verify: %d %s", r.status, r.raw)
	}
	if r := verify("?scope=admin", cookie); r.status != 403 {
		t.Fatalf("the cookie short of a scope: %d", r.status)
	}
	browser := []string{"Accept", "text/html,application/xhtml+xml", "X-Forwarded-Proto", "https",
		"X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/dash?tab=2"}
	r = verify("?redirect=1", "", browser...)
	if want := "https://auth.example.com/login?rd=" + url.QueryEscape("https://app.example.com/dash?tab=2"); r.status != 302 || r.header.Get("Location") != want {
		t.Fatalf("portal: %d to %q, want %q", r.status, r.header.Get("Location"), want)
	}
	// A forged host is not carried into the login's return.
	forged := append([]string{}, browser...)
	forged[5] = "evil.com"
	if r := verify("?redirect=1", "", forged...); r.status != 302 || r.header.Get("Location") != "https://auth.example.com/login" {
		t.Fatalf("forged host: %d to %q", r.status, r.header.Get("Location"))
	}
	if r := verify("", "", browser...); r.status != 401 {
		t.Fatalf("without ?redirect=1 (nginx): %d", r.status)
	}
	if r := verify("?redirect=1", "", "Accept", "application/json", "X-Original-URL", "https://app.example.com/"); r.status != 401 {
		t.Fatalf("a script, not a browser: %d", r.status)
	}
	if r := verify("?redirect=1", "x", browser...); r.status != 302 {
		t.Fatalf("a bad cookie: %d, want the portal", r.status)
	}
	if r := verify("?redirect=yes", "", browser...); r.status != 422 {
		t.Fatalf("?redirect=yes: %d, want 422", r.status)
	}
	// Headers from a client that is not a trusted proxy are not believed.
	e2 := newEnvWith(t, envOptions{redirects: red})
	r = e2.do("GET", "/auth/verify?redirect=1", nil, map[string]string{"Accept": "text/html", "X-Original-URL": "https://app.example.com/"})
	if r.status != 401 {
		t.Fatalf("untrusted forwarded headers: %d", r.status)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func disable() auth.UserUpdate {
	yes := true
	return auth.UserUpdate{Disabled: &yes}
}
