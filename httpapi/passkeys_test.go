package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/passkey"
	"github.com/gatehouse/gatehouse/passkey/passkeytest"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// Passkeys through the pages' JSON endpoints (contract §14), with a
// software authenticator; e2e/browser runs them in Chromium with its
// virtual authenticator.

const pkOrigin = "https://auth.example.com"

func newPasskeyEnv(t *testing.T) *env { return newPasskeyEnvLimited(t, ratelimit.Limit{}, nil) }

// newPasskeyEnvLimited is newPasskeyEnv with loginLimit (zero: the
// harness's lenient default) and trusted proxies.
func newPasskeyEnvLimited(t *testing.T, loginLimit ratelimit.Limit, proxies []string) *env {
	t.Helper()
	rp, err := passkey.New(passkey.Config{RPID: "example.com", Origins: []string{pkOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := url.Parse("http://127.0.0.1:8000")
	red, err := httpsec.NewRedirects(pub, []string{"app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, envOptions{passkeys: rp, redirects: red, loginLimit: loginLimit, proxies: proxies})
}

// jar is a browser's cookies, by name.
type jar map[string]string

func (j jar) take(h http.Header) {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.MaxAge < 0 {
			delete(j, c.Name)
		} else {
			j[c.Name] = c.Value
		}
	}
}

// ceremony posts body as JSON from Gatehouse's own page with the jar's
// cookies, and keeps the cookies of the answer.
func (e *env) ceremony(j jar, path string, body any, header ...string) response {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.srv.URL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	for n, v := range j {
		req.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	j.take(res.Header)
	return response{status: res.StatusCode, header: res.Header, raw: string(raw)}
}

func detail(t *testing.T, r response) string {
	t.Helper()
	var d struct{ Detail string }
	json.Unmarshal([]byte(r.raw), &d)
	return d.Detail
}

// registerPasskey adds a passkey through the account page's endpoints.
func (e *env) registerPasskey(a *passkeytest.Authenticator, j jar, name string) *passkeytest.Credential {
	e.t.Helper()
	r := e.ceremony(j, "/account/passkeys/begin", map[string]string{"name": name})
	if r.status != 200 || j["gatehouse_passkey_register"] == "" {
		e.t.Fatalf("begin registration: %d %s (cookies %v)", r.status, r.raw, j)
	}
	resp, cred, err := a.Register([]byte(r.raw))
	if err != nil {
		e.t.Fatal(err)
	}
	r = e.ceremony(j, "/account/passkeys/finish", map[string]json.RawMessage{"credential": resp})
	if r.status != 201 || !strings.Contains(r.raw, "passkey-added") {
		e.t.Fatalf("finish registration: %d %s", r.status, r.raw)
	}
	if _, ok := j["gatehouse_passkey_register"]; ok {
		e.t.Fatal("the spent ceremony's cookie was kept")
	}
	return cred
}

// passkeySignIn signs in without a username and returns the answer.
func (e *env) passkeySignIn(a *passkeytest.Authenticator, j jar, cred *passkeytest.Credential, rd string) response {
	e.t.Helper()
	r := e.ceremony(j, "/passkeys/login/begin", map[string]string{"mediation": "conditional"})
	if r.status != 200 {
		e.t.Fatalf("begin sign-in: %d %s", r.status, r.raw)
	}
	resp, err := a.Assert([]byte(r.raw), cred)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.ceremony(j, "/passkeys/login/finish", map[string]any{"credential": json.RawMessage(resp), "rd": rd})
}

func TestPasskeyRegisterThenSignInThroughThePages(t *testing.T) {
	e := newPasskeyEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	a := passkeytest.New(pkOrigin, "example.com")
	browser := jar{"gatehouse": e.browserLogin("alice", "correct horse battery")}
	cred := e.registerPasskey(a, browser, "work laptop")

	page := e.page("GET", "/account", nil, browser["gatehouse"])
	if !strings.Contains(page.raw, `class="passkey-name">work laptop</strong>`) || !strings.Contains(page.raw, `data-action="passkey-register"`) {
		t.Fatalf("the account page does not list the passkey:\n%s", page.raw)
	}

	// Another browser, no username: back to the allowed rd.
	other := jar{}
	r := e.passkeySignIn(a, other, cred, "https://app.example.com/reports?x=1")
	if r.status != 200 || !strings.Contains(r.raw, `"redirect":"https://app.example.com/reports?x=1"`) {
		t.Fatalf("sign-in: %d %s", r.status, r.raw)
	}
	sc := r.header.Values("Set-Cookie")
	if other["gatehouse"] == "" || !strings.Contains(strings.Join(sc, "\n"), "HttpOnly") {
		t.Fatalf("no session cookie: %q", sc)
	}
	if p := e.page("GET", "/account", nil, other["gatehouse"]); p.status != 200 || !strings.Contains(p.raw, "with a passkey") {
		t.Fatalf("the passkey session's account page: %d", p.status)
	}
	// …and its cookie passes forward auth, as the portal's app at rd needs.
	if v := e.page("GET", "/auth/verify?scope=read:items", nil, other["gatehouse"]); v.status != 200 || v.header.Get("X-Auth-Request-User") != "alice" {
		t.Fatalf("the passkey session's cookie at /auth/verify: %d %s", v.status, v.raw)
	}
	// A target outside the allowed origins goes to the account page.
	if r := e.passkeySignIn(a, jar{}, cred, "https://evil.example/"); r.status != 200 || !strings.Contains(r.raw, `"redirect":"/account"`) {
		t.Fatalf("sign-in with a foreign rd: %d %s", r.status, r.raw)
	}
	// The session is listed like any other, with its methods.
	list := e.page("GET", "/sessions", nil, other["gatehouse"])
	if !strings.Contains(list.raw, `"amr":["hwk","user"],"client_ip":"127.0.0.1","user_agent":"Go-http-client/1.1","current":true`) {
		t.Fatalf("sessions: %s", list.raw)
	}
}

func TestPasskeyCeremoniesAreBoundToTheBrowserThatBegan(t *testing.T) {
	e := newPasskeyEnv(t)
	e.createUser("bob", "correct horse battery", gatehouse.RoleUser)
	a := passkeytest.New(pkOrigin, "example.com")
	cred := e.registerPasskey(a, jar{"gatehouse": e.browserLogin("bob", "correct horse battery")}, "key")

	began := jar{}
	r := e.ceremony(began, "/passkeys/login/begin", nil)
	resp, _ := a.Assert([]byte(r.raw), cred)
	// Another browser, without the ceremony's cookie, cannot finish it.
	r = e.ceremony(jar{}, "/passkeys/login/finish", map[string]json.RawMessage{"credential": resp})
	if r.status != 401 || !strings.Contains(detail(t, r), "took too long or was already used") {
		t.Fatalf("finish from another browser: %d %s", r.status, r.raw)
	}
	// The browser that began it can, once.
	saved := jar{}
	for k, v := range began {
		saved[k] = v
	}
	if r = e.ceremony(began, "/passkeys/login/finish", map[string]json.RawMessage{"credential": resp}); r.status != 200 {
		t.Fatalf("finish: %d %s", r.status, r.raw)
	}
	if r = e.ceremony(saved, "/passkeys/login/finish", map[string]json.RawMessage{"credential": resp}); r.status != 401 {
		t.Fatalf("replayed finish: %d %s", r.status, r.raw)
	}
	// Another origin is refused before anything happens.
	r = e.ceremony(jar{}, "/passkeys/login/begin", nil, "Sec-Fetch-Site", "cross-site")
	if r.status != 403 {
		t.Fatalf("a cross-site begin: %d", r.status)
	}
	// Garbage is a clean error.
	for _, body := range []string{"{", `{"credential": 5}`, `{"credential": {"id": "x"}}`} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/passkeys/login/finish", strings.NewReader(body))
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 && res.StatusCode != 422 {
			t.Fatalf("finish with %q: %d", body, res.StatusCode)
		}
	}
}

func TestDeletedPasskeyFailsCleanly(t *testing.T) {
	e := newPasskeyEnv(t)
	e.createUser("carol", "correct horse battery", gatehouse.RoleUser)
	a := passkeytest.New(pkOrigin, "example.com")
	browser := jar{"gatehouse": e.browserLogin("carol", "correct horse battery")}
	cred := e.registerPasskey(a, browser, "key")
	id := base64.RawURLEncoding.EncodeToString(cred.ID)

	// Another user cannot delete it.
	e.createUser("dave", "correct horse battery", gatehouse.RoleUser)
	dave := e.browserLogin("dave", "correct horse battery")
	if r := e.page("POST", "/account/passkeys/"+id+"/delete", url.Values{}, dave, sameOrigin...); r.status != 404 {
		t.Fatalf("another user's delete: %d", r.status)
	}
	r := e.page("POST", "/account/passkeys/"+id+"/delete", url.Values{}, browser["gatehouse"], sameOrigin...)
	if r.status != 303 || !strings.Contains(r.header.Get("Location"), "done=passkey-deleted") {
		t.Fatalf("delete: %d %s", r.status, r.header.Get("Location"))
	}
	r = e.passkeySignIn(a, jar{}, cred, "")
	if r.status != 401 || !strings.Contains(detail(t, r), "not registered here") {
		t.Fatalf("sign-in with the deleted passkey: %d %s", r.status, r.raw)
	}
	for _, bad := range []string{"!!!", strings.Repeat("A", 2000)} {
		if r := e.page("POST", "/account/passkeys/"+bad+"/delete", url.Values{}, browser["gatehouse"], sameOrigin...); r.status != 404 {
			t.Fatalf("delete of id %.10q: %d", bad, r.status)
		}
	}
}

func TestPasskeyBeginIsRateLimitedPerClient(t *testing.T) {
	e := newPasskeyEnv(t)
	for i := range 31 {
		r := e.ceremony(jar{}, "/passkeys/login/begin", nil)
		if i < 30 && r.status != 200 || i == 30 && (r.status != 429 || r.header.Get("Retry-After") == "") {
			t.Fatalf("begin %d: %d", i+1, r.status)
		}
	}
}

func TestPagesSayPasskeysAreUnavailableAtAnIPAddress(t *testing.T) {
	e := newEnv(t) // no RP: the default public URL, 127.0.0.1
	e.createUser("erin", "correct horse battery", gatehouse.RoleUser)
	login := e.page("GET", "/login", nil, "")
	if !strings.Contains(login.raw, `id="passkeys-off"`) || strings.Contains(login.raw, `data-action="passkey-login"`) {
		t.Fatalf("login page without passkeys:\n%s", login.raw)
	}
	account := e.page("GET", "/account", nil, e.browserLogin("erin", "correct horse battery"))
	if !strings.Contains(account.raw, "GATEHOUSE_PUBLIC_URL") || strings.Contains(account.raw, `data-action="passkey-register"`) {
		t.Fatal("the account page does not say how to turn passkeys on")
	}
	r := e.ceremony(jar{}, "/passkeys/login/begin", nil)
	if r.status != 400 || !strings.Contains(detail(t, r), "unavailable") {
		t.Fatalf("begin without passkeys: %d %s", r.status, r.raw)
	}
	// Everything else works: a password login just did.

	e = newPasskeyEnv(t)
	login = e.page("GET", "/login", nil, "")
	for _, want := range []string{`autocomplete="username webauthn"`, `data-action="passkey-login"`, `src="/static/passkeys.js"`} {
		if !strings.Contains(login.raw, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
}

// A wrong password given to register a passkey (or delete one) is a
// failed login attempt, counted against the username like one — from
// however many addresses it comes: a stolen session is no free guessing
// oracle for the password.
func TestWrongPasswordsAtThePasskeyPagesCountAgainstTheUsername(t *testing.T) {
	e := newPasskeyEnvLimited(t, ratelimit.Limit{Rate: 3, Period: time.Minute, Burst: 3}, []string{"127.0.0.1/32"})
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	browser := jar{"gatehouse": e.browserLogin("alice", "correct horse battery")}
	e.clock.Advance(auth.RecentAuth + time.Minute) // the login is no longer recent: the password is asked
	var got []int
	for i := range 5 {
		got = append(got, e.ceremony(browser, "/account/passkeys/begin", map[string]string{"name": "x", "password": "a wrong guess!"},
			"X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1)).status)
	}
	if got[0] != 401 || got[len(got)-1] != 429 {
		t.Fatalf("wrong passwords at passkey registration, each from another address: %v; want 401s, then 429", got)
	}
}
