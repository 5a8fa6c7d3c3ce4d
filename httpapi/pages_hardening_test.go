package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// cookieOf returns the session cookie an answer sets, or "".
func cookieOf(r response) string {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "gatehouse" {
			return c.Value
		}
	}
	return ""
}

var mfaTokenField = regexp.MustCompile(`name="mfa_token" value="([^"]+)"`)

// TestTheAdminPageCannotTurnOffOnesOwnTwoFactor (contract §12, issue 9
// finding 6, on the pages): an admin's browser session cannot reset its
// own 2FA from the admin pages, which send no code; another user's, it
// can.
func TestTheAdminPageCannotTurnOffOnesOwnTwoFactor(t *testing.T) {
	e := newTwoFactorEnv(t)
	root := e.createUser("root", tfPassword, gatehouse.RoleAdmin)
	at, _ := e.mustLogin("root", tfPassword)
	secret, _ := e.setupJSON(at)
	wantStatus(t, e.postCode("/2fa/verify", at, e.code(secret, 0)), 200)
	e.nextStep()
	r := e.page("POST", "/login", url.Values{"username": {"root"}, "password": {tfPassword}}, "", sameOrigin...)
	m := mfaTokenField.FindStringSubmatch(r.raw)
	if m == nil {
		t.Fatalf("no mfa_token on the code step: %d %s", r.status, r.raw)
	}
	r = e.page("POST", "/login", url.Values{"mfa_token": {m[1]}, "otp": {e.code(secret, 0)}}, "", sameOrigin...)
	cookie := cookieOf(r)
	if r.status != http.StatusSeeOther || cookie == "" {
		t.Fatalf("code step: %d %s", r.status, r.raw)
	}
	e.nextStep()

	r = e.page("POST", fmt.Sprint("/admin/users/", root.ID, "/reset-2fa"), url.Values{}, cookie, sameOrigin...)
	if r.status == http.StatusSeeOther || !e.state(root.ID).Enabled {
		t.Fatalf("the admin page turned its admin's own 2FA off without a code: %d", r.status)
	}
	bob := e.enrol("bob")
	r = e.page("POST", fmt.Sprint("/admin/users/", bob.user.ID, "/reset-2fa"), url.Values{}, cookie, sameOrigin...)
	if r.status != http.StatusSeeOther || e.state(bob.user.ID).Enabled {
		t.Fatalf("another user's 2FA reset from the admin page: %d; want done", r.status)
	}
}

// TestTheLoginPageCountsOnlyFailuresAgainstAUsername (contract §12): the
// login page shares the login limits of POST /token, failures only per
// username, with the known-device exemption.
func TestTheLoginPageCountsOnlyFailuresAgainstAUsername(t *testing.T) {
	e := newEnvWith(t, envOptions{proxies: []string{"127.0.0.1/32"}, loginLimit: ratelimit.Limit{Rate: 3, Period: time.Minute, Burst: 3}})
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	login := func(ip, pw string) response {
		return e.page("POST", "/login", url.Values{"username": {"alice"}, "password": {pw}}, "", append(sameOrigin, "X-Forwarded-For", ip)...)
	}
	for i := range 5 { // successes from five addresses: none counts
		if r := login(fmt.Sprint("192.0.2.", i+1), "correct horse battery"); r.status != http.StatusSeeOther {
			t.Fatalf("sign-in %d: %d", i+1, r.status)
		}
	}
	for i := range 4 { // strangers' failures do
		r := login(fmt.Sprint("203.0.113.", i+1), "a wrong guess")
		if want := map[bool]int{true: http.StatusUnauthorized, false: http.StatusTooManyRequests}[i < 3]; r.status != want {
			t.Fatalf("stranger's guess %d: %d, want %d", i+1, r.status, want)
		}
	}
	// The owner, from an address she signed in from, is not held back.
	if r := login("192.0.2.1", "correct horse battery"); r.status != http.StatusSeeOther {
		t.Fatalf("the owner at a known address while the username's allowance is spent: %d", r.status)
	}
}
