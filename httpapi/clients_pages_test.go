package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/oauth"
)

// The admin page's OAuth clients (contract §11, §13), through real
// requests: list, register with the secret shown once, rotate, delete,
// admins only, same origin only.
func TestAdminClientsPage(t *testing.T) {
	e := newEnv(t)
	e.createUser("root", "the admin's long password", gatehouse.RoleAdmin)
	cookie := e.browserLogin("root", "the admin's long password")
	ctx := context.Background()

	r := e.page("GET", "/admin/clients", nil, cookie)
	if r.status != 200 || !strings.Contains(r.raw, "No client is registered.") || !strings.Contains(r.raw, `action="/admin/clients"`) {
		t.Fatalf("empty list: %d %s", r.status, r.raw)
	}
	if m := inlineScript.FindString(r.raw); m != "" {
		t.Fatalf("inline script: %q", m)
	}
	if m := inlineStyle.FindString(r.raw); m != "" {
		t.Fatalf("inline style: %q", m)
	}

	form := url.Values{"name": {"Grafana"}, "redirect_uris": {"https://grafana.example.com/cb\r\n\r\nhttp://127.0.0.1/cb\n"},
		"type": {"confidential"}, "grant": {"authorization_code", "refresh_token"}, "scopes": {"openid email"}}
	r = e.page("POST", "/admin/clients", form, cookie, sameOrigin...)
	if r.status != 201 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d, Cache-Control %q", r.status, r.header.Get("Cache-Control"))
	}
	m := regexp.MustCompile(`id="issued-id">([A-Za-z0-9_-]+)<`).FindStringSubmatch(r.raw)
	s := regexp.MustCompile(`id="issued-secret">([A-Za-z0-9_-]+)<`).FindStringSubmatch(r.raw)
	if m == nil || s == nil {
		t.Fatalf("the answer shows no client_id or secret: %s", r.raw)
	}
	id, secret := m[1], s[1]
	c, err := e.store.Client(ctx, id)
	if err != nil || !oauth.VerifyClientSecret(c, secret, e.clock.Now()) || len(c.RedirectURIs) != 2 || strings.Join(c.Scopes, " ") != "openid email" {
		t.Fatalf("stored %+v, %v", c, err)
	}
	// Shown once: the list page never shows it again.
	if r := e.page("GET", "/admin/clients", nil, cookie); !strings.Contains(r.raw, id) || strings.Contains(r.raw, secret) {
		t.Fatal("the list must show the client, never its secret")
	}

	// A refused registration keeps what was typed and names the field.
	bad := url.Values{"name": {"Evil"}, "redirect_uris": {"http://evil.example/cb"}, "type": {"confidential"}, "grant": {"authorization_code"}}
	r = e.page("POST", "/admin/clients", bad, cookie, sameOrigin...)
	if r.status != 422 || !strings.Contains(r.raw, "The client was not registered") || !strings.Contains(r.raw, "http://evil.example/cb</textarea>") ||
		!strings.Contains(r.raw, `id="client-redirects-error"`) {
		t.Fatalf("bad registration: %d %s", r.status, r.raw)
	}
	// No grant ticked is refused rather than given the default.
	none := url.Values{"name": {"Nothing"}, "redirect_uris": {"https://a.example/cb"}, "type": {"public"}}
	if r := e.page("POST", "/admin/clients", none, cookie, sameOrigin...); r.status != 422 {
		t.Fatalf("no grant: %d", r.status)
	}

	// Rotate: a new secret, shown once; the old one works during the overlap.
	r = e.page("POST", "/admin/clients/"+id+"/secret", url.Values{}, cookie, sameOrigin...)
	s = regexp.MustCompile(`id="issued-secret">([A-Za-z0-9_-]+)<`).FindStringSubmatch(r.raw)
	if r.status != 200 || s == nil || s[1] == secret {
		t.Fatalf("rotate: %d", r.status)
	}
	c, _ = e.store.Client(ctx, id)
	if !oauth.VerifyClientSecret(c, s[1], e.clock.Now()) || !oauth.VerifyClientSecret(c, secret, e.clock.Now()) {
		t.Fatal("after rotation both secrets must work during the overlap")
	}
	if r := e.page("POST", "/admin/clients/nope/secret", url.Values{}, cookie, sameOrigin...); r.status != 404 {
		t.Fatalf("rotate an unknown client: %d", r.status)
	}

	// Cross-origin posts and non-admins change nothing.
	if r := e.page("POST", "/admin/clients/"+id+"/delete", url.Values{}, cookie, "Sec-Fetch-Site", "cross-site"); r.status != 403 {
		t.Fatalf("cross-origin delete: %d", r.status)
	}
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	user := e.browserLogin("alice", "correct horse battery")
	if r := e.page("GET", "/admin/clients", nil, user); r.status != 403 {
		t.Fatalf("a user at /admin/clients: %d", r.status)
	}
	if r := e.page("POST", "/admin/clients/"+id+"/delete", url.Values{}, user, sameOrigin...); r.status != 403 {
		t.Fatalf("a user deleting a client: %d", r.status)
	}
	if _, err := e.store.Client(ctx, id); err != nil {
		t.Fatalf("the client went: %v", err)
	}

	r = e.page("POST", "/admin/clients/"+id+"/delete", url.Values{}, cookie, sameOrigin...)
	if r.status != 303 || r.header.Get("Location") != "/admin/clients?done=client-deleted" {
		t.Fatalf("delete: %d to %q", r.status, r.header.Get("Location"))
	}
	if _, err := e.store.Client(ctx, id); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
	if r := e.page("GET", "/admin/clients?done=client-deleted", nil, cookie); !strings.Contains(r.raw, "The client was deleted") {
		t.Fatal("no notice after delete")
	}
}

// An OAuth session shows which application it is: the sessions API gives
// its client_id, the account page the client's name.
func TestOAuthSessionsNameTheirClient(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	c := &gatehouse.OAuthClient{ID: "grafana-client", Name: "Grafana <dashboards>", RedirectURIs: []string{"https://g.example/cb"},
		Grants: []string{gatehouse.GrantAuthorizationCode}}
	if err := e.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if err := e.store.CreateSession(ctx, &gatehouse.Session{ID: "oauth-sid", UserID: u.ID, Scope: "openid", CreatedAt: now, AuthTime: now,
		Kind: gatehouse.SessionOAuth, ClientID: c.ID}, &gatehouse.RefreshToken{Hash: "rt", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	at, _ := e.mustLogin("alice", "correct horse battery")
	r := e.get("/sessions", at)
	wantStatus(t, r, 200)
	var list struct {
		Sessions []struct {
			ID       string  `json:"id"`
			Kind     string  `json:"kind"`
			ClientID *string `json:"client_id"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(r.raw), &list); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, s := range list.Sessions {
		switch {
		case s.ID == "oauth-sid" && s.Kind == gatehouse.SessionOAuth && s.ClientID != nil && *s.ClientID == c.ID:
			seen++
		case s.ID != "oauth-sid" && s.ClientID == nil:
			seen++
		default:
			t.Errorf("session %+v", s)
		}
	}
	if seen != 2 {
		t.Fatalf("GET /sessions: %s", r.raw)
	}
	cookie := e.browserLogin("alice", "correct horse battery")
	page := e.page("GET", "/account", nil, cookie)
	if !strings.Contains(page.raw, "signed in to Grafana &lt;dashboards&gt;") {
		t.Fatalf("the account page does not name the application: %s", page.raw)
	}
}

func TestAdminClientPageEdits(t *testing.T) {
	e := newEnv(t)
	e.createUser("root", "the admin's long password", gatehouse.RoleAdmin)
	cookie := e.browserLogin("root", "the admin's long password")
	ctx := context.Background()
	c, _, err := oauth.NewClient(oauth.ClientSpec{Name: "App", RedirectURIs: []string{"https://a.example/cb"}}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	r := e.page("GET", "/admin/clients/"+c.ID, nil, cookie)
	if r.status != 200 || !strings.Contains(r.raw, c.ID) || !strings.Contains(r.raw, "https://a.example/cb</textarea>") ||
		strings.Contains(r.raw, c.Secrets[0].Hash) {
		t.Fatalf("client page: %d %s", r.status, r.raw)
	}
	if m := inlineStyle.FindString(r.raw); m != "" {
		t.Fatalf("inline style: %q", m)
	}
	edit := url.Values{"name": {"App 2"}, "redirect_uris": {"https://a.example/cb\nhttps://a.example/cb2"}, "scopes": {"openid"},
		"grant": {"authorization_code"}, "first_party": {"on"}}
	r = e.page("POST", "/admin/clients/"+c.ID, edit, cookie, sameOrigin...)
	if r.status != 303 || r.header.Get("Location") != "/admin/clients/"+c.ID+"?done=client-changed" {
		t.Fatalf("edit: %d to %q", r.status, r.header.Get("Location"))
	}
	got, _ := e.store.Client(ctx, c.ID)
	if got.Name != "App 2" || len(got.RedirectURIs) != 2 || !got.FirstParty || strings.Join(got.Grants, " ") != "authorization_code" ||
		strings.Join(got.Scopes, " ") != "openid" || len(got.Secrets) != 1 {
		t.Fatalf("after edit: %+v", got)
	}
	// A refused edit shows what was typed, names the field, changes nothing.
	bad := url.Values{"name": {"App 3"}, "redirect_uris": {"http://evil.example/cb"}, "grant": {"authorization_code"}}
	r = e.page("POST", "/admin/clients/"+c.ID, bad, cookie, sameOrigin...)
	if r.status != 422 || !strings.Contains(r.raw, "http://evil.example/cb</textarea>") || !strings.Contains(r.raw, `id="client-redirects-error"`) {
		t.Fatalf("bad edit: %d %s", r.status, r.raw)
	}
	if got, _ := e.store.Client(ctx, c.ID); got.Name != "App 2" {
		t.Fatalf("a refused edit changed the name to %q", got.Name)
	}
	if r := e.page("GET", "/admin/clients/nope", nil, cookie); r.status != 404 {
		t.Fatalf("unknown client page: %d", r.status)
	}
	if r := e.page("POST", "/admin/clients/"+c.ID, edit, cookie, "Sec-Fetch-Site", "cross-site"); r.status != 403 {
		t.Fatalf("cross-origin edit: %d", r.status)
	}
}
