package browser

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestOAuthCodeFlowInChromium runs an authorization request in a real
// browser: /authorize, the login page, the consent page, and back to the
// client on another origin. Chromium applies the pages' CSP form-action to
// the redirects that follow a form post (the login's, then /authorize's;
// the consent's), so this is what proves the pages allow the client's
// origin (contract §11, §13); a second request is answered at once
// (single sign-on, consent remembered).
func TestOAuthCodeFlowInChromium(t *testing.T) {
	s := newServer(t)
	s.user(t, "alice", "alice's long password", gatehouse.RoleUser)

	got := make(chan url.Values, 4)
	client := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" {
			got <- r.URL.Query()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>client</title><h1>Signed in</h1>"))
	}))
	t.Cleanup(client.Close)
	if err := s.store.CreateClient(context.Background(), &gatehouse.OAuthClient{ID: "app", Name: "Example App", Public: true,
		RedirectURIs: []string{client.URL + "/cb"},
		Grants:       []string{gatehouse.GrantAuthorizationCode}}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("a-verifier-of-at-least-forty-three-characters-0123"))
	params := url.Values{"client_id": {"app"}, "redirect_uri": {client.URL + "/cb"}, "response_type": {"code"},
		"scope": {"read:items"}, "state": {"s1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	wait := func(what string) url.Values {
		t.Helper()
		select {
		case q := <-got:
			return q
		case <-time.After(step):
			t.Fatalf("%s: the browser never reached the client", what)
			return nil
		}
	}

	b := newTab(t, newBrowser(t))
	b.open(s.url + "/authorize?" + params.Encode())
	wantPage(t, b, "/login", "Sign in")
	b.fill("#username", "alice")
	b.fill("#password", "alice's long password")
	b.submit("form[action='/login'] button[type=submit]")
	wantPage(t, b, "/authorize", "Allow Example App?")
	b.submit("button[name=consent][value=allow]")
	q := wait("after consent")
	if q.Get("code") == "" || q.Get("state") != "s1" || q.Get("iss") != s.url {
		t.Fatalf("the client got %v", q)
	}
	if h := b.heading(); h != "Signed in" {
		t.Fatalf("the browser shows %q, not the client's page", h)
	}

	// Again: no login, no consent, straight back.
	params.Set("state", "s2")
	b.open(s.url + "/authorize?" + params.Encode())
	if q := wait("single sign-on"); q.Get("code") == "" || q.Get("state") != "s2" {
		t.Fatalf("the client got %v", q)
	}

	// Another browser: the login's answer redirects to /authorize, which,
	// the consent being remembered, redirects to the client at once — a
	// chain the login page's form-action must allow.
	b2 := newTab(t, newBrowser(t))
	params.Set("state", "s3")
	b2.open(s.url + "/authorize?" + params.Encode())
	wantPage(t, b2, "/login", "Sign in")
	b2.fill("#username", "alice")
	b2.fill("#password", "alice's long password")
	b2.submit("form[action='/login'] button[type=submit]")
	if q := wait("after a login"); q.Get("code") == "" || q.Get("state") != "s3" {
		t.Fatalf("the client got %v", q)
	}
}
