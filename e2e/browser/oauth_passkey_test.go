package browser

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestPasskeyLoginThroughAuthorize signs in to an OAuth client with a
// passkey (issue 14 §3): /authorize sends the browser to the login page,
// the passkey signs it in with no username and no password, the consent
// page follows and the client gets its code. The session the code opens
// for the client says a passkey was used (amr hwk), as its ID token's amr
// does.
func TestPasskeyLoginThroughAuthorize(t *testing.T) {
	s := newServerWith(t, true)
	ctx := context.Background()
	pat := s.user(t, "pat", "pat's long password", gatehouse.RoleUser)

	got := make(chan url.Values, 2)
	client := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cb" {
			got <- r.URL.Query()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>client</title><h1>Signed in</h1>"))
	}))
	t.Cleanup(client.Close)
	redirect := client.URL + "/cb"
	if err := s.store.CreateClient(ctx, &gatehouse.OAuthClient{ID: "app", Name: "Example App", Public: true,
		RedirectURIs: []string{redirect}, Grants: []string{gatehouse.GrantAuthorizationCode}}); err != nil {
		t.Fatal(err)
	}

	// A passkey, registered from the account page; then signed out.
	b := newTab(t, newBrowser(t))
	b.addAuthenticator()
	b.login(s.url, "pat", "pat's long password")
	wantPage(t, b, "/account", "Your account")
	b.fill("#passkey-name", "laptop")
	b.submit("button[data-action='passkey-register']")
	wantPage(t, b, "/account", "Your account")
	if !strings.Contains(b.text(".notice"), "passkey was added") {
		t.Fatal("the passkey was not added")
	}
	b.submit("form[action='/sign-out'] button")
	b.waitFor("the login page", `location.pathname === "/login" || location.pathname === "/account"`)

	// The authorization request: the login page, where the passkey (the
	// autofill's request, or the button) signs the browser in, then the
	// consent page.
	verifier := "a-verifier-of-at-least-forty-three-characters-0123"
	sum := sha256.Sum256([]byte(verifier))
	params := url.Values{"client_id": {"app"}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"read:items"}, "state": {"p1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	b.open(s.url + "/authorize?" + params.Encode())
	b.waitFor("the login page or the consent page", `document.readyState === "complete" && (location.pathname === "/authorize" ||
		(location.pathname === "/login" && !document.querySelector("button[data-action='passkey-login']").hidden))`)
	if b.path() == "/login" {
		b.tryClick("button[data-action='passkey-login']")
	}
	b.waitFor("the consent page", `location.pathname === "/authorize" && document.readyState === "complete" && !!document.querySelector("h1")`)
	wantPage(t, b, "/authorize", "Allow Example App?")
	b.submit("button[name=consent][value=allow]")
	var q url.Values
	select {
	case q = <-got:
	case <-time.After(step):
		t.Fatal("the browser never reached the client")
	}
	if q.Get("code") == "" || q.Get("state") != "p1" || q.Get("iss") != s.url {
		t.Fatalf("the client got %v", q)
	}

	// The client exchanges its code; the session it holds is a passkey's.
	res, err := http.PostForm(s.url+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {redirect}, "client_id": {"app"}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("code exchange: %d, %v", res.StatusCode, err)
	}
	sessions, err := s.store.UserSessions(ctx, pat.ID, time.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	var amr []string
	for _, se := range sessions {
		if se.ClientID == "app" {
			amr = append(amr, se.AMR)
		}
	}
	if len(amr) != 1 || !strings.Contains(" "+amr[0]+" ", " hwk ") || strings.Contains(amr[0], "pwd") {
		t.Fatalf("the client's sessions' amr: %q, want one with hwk and no pwd", amr)
	}
}
