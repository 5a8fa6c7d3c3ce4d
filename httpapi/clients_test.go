package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/oauth"
)

// clientsEnv is a server with an admin signed in and an audit log.
type clientsEnv struct {
	*env
	audit *auditLog
	admin string // the admin's access token (admin scope)
}

func newClientsEnv(t *testing.T) *clientsEnv {
	t.Helper()
	audit := &auditLog{}
	e := &clientsEnv{env: newEnvWith(t, envOptions{auditor: audit}), audit: audit}
	e.createUser("root", "correct horse battery", gatehouse.RoleAdmin)
	e.admin, _ = e.mustLogin("root", "correct horse battery")
	return e
}

// send makes a JSON request as bearer.
func (e *clientsEnv) send(method, path, bearer string, body any) response {
	e.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + bearer}
	var b *bytes.Reader
	switch v := body.(type) {
	case nil:
		return e.do(method, path, nil, h)
	case string:
		b = bytes.NewReader([]byte(v))
	default:
		raw, _ := json.Marshal(v)
		b = bytes.NewReader(raw)
	}
	h["Content-Type"] = "application/json"
	return e.do(method, path, b, h)
}

func (e *clientsEnv) create(body any) response {
	e.t.Helper()
	r := e.send("POST", "/clients", e.admin, body)
	wantStatus(e.t, r, 201)
	return r
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := []string{}
	for _, s := range l {
		out = append(out, fmt.Sprint(s))
	}
	return out
}

func TestClientsAPICreateShowsTheSecretOnce(t *testing.T) {
	e := newClientsEnv(t)
	r := e.create(map[string]any{"name": "Grafana", "redirect_uris": []string{"https://grafana.example.com/login/generic_oauth"},
		"post_logout_redirect_uris": []string{"https://grafana.example.com/"}, "scopes": []string{"openid", "email"}})
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q: an answer with a secret must not be stored", cc)
	}
	id, secret := r.str("client_id"), r.str("client_secret")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(id) || !regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`).MatchString(secret) {
		t.Fatalf("client_id %q, client_secret %q", id, secret)
	}
	if r.body["public"] != false || r.body["first_party"] != false || r.str("id_token_alg") != "RS256" ||
		strings.Join(strList(r.body["grants"]), " ") != "authorization_code refresh_token" ||
		strings.Join(strList(r.body["scopes"]), " ") != "openid email" {
		t.Errorf("created client: %s", r.raw)
	}
	if secrets, _ := r.body["secrets"].([]any); len(secrets) != 1 {
		t.Errorf("secrets = %v, want one (without its hash)", r.body["secrets"])
	}
	// Only a hash is kept: the secret appears in no later answer, and the
	// stored hash is the SHA-256, never the secret.
	got := e.send("GET", "/clients/"+id, e.admin, nil)
	wantStatus(t, got, 200)
	if strings.Contains(got.raw, secret) || strings.Contains(got.raw, oauth.HashClientSecret(secret)) || got.body["client_secret"] != nil {
		t.Fatalf("GET shows the secret or its hash: %s", got.raw)
	}
	c, err := e.store.Client(context.Background(), id)
	if err != nil || !oauth.VerifyClientSecret(c, secret, time.Now()) || c.Secrets[0].Hash == secret {
		t.Fatalf("stored client %+v, %v: the secret must verify against its hash", c, err)
	}
	list := e.send("GET", "/clients", e.admin, nil)
	wantStatus(t, list, 200)
	if strings.Contains(list.raw, secret) || !strings.Contains(list.raw, id) {
		t.Fatalf("list: %s", list.raw)
	}
	if e.audit.count(gatehouse.EventClientCreated, gatehouse.OutcomeSuccess) != 1 || strings.Contains(e.audit.String(), secret) {
		t.Fatalf("audit: %s; want one oauth_client_created, without the secret", e.audit)
	}

	// A public client gets no secret.
	pub := e.create(map[string]any{"name": "CLI", "public": true, "redirect_uris": []string{"http://127.0.0.1/callback"}})
	if _, has := pub.body["client_secret"]; has || pub.body["public"] != true {
		t.Fatalf("public client: %s", pub.raw)
	}
}

func TestClientsAPIRefusesBadRegistrations(t *testing.T) {
	e := newClientsEnv(t)
	for _, tt := range []struct {
		body  string
		field string
	}{
		{`{}`, "name"},
		{`{"name": "x"}`, "redirect_uris"}, // the default code grant needs one
		{`{"name": "x", "redirect_uris": ["http://app.example.com/cb"]}`, "redirect_uris"},
		{`{"name": "x", "redirect_uris": ["https://app.example.com/cb#f"]}`, "redirect_uris"},
		{`{"name": "x", "redirect_uris": ["/cb"]}`, "redirect_uris"},
		{`{"name": "x", "redirect_uris": "https://app.example.com/cb"}`, "redirect_uris"}, // wrong type
		{`{"name": "x", "grants": ["password"], "redirect_uris": ["https://a.example/cb"]}`, "grants"},
		{`{"name": "x", "public": true, "grants": ["client_credentials"]}`, "grants"},
		{`{"name": "x", "scopes": ["root"], "redirect_uris": ["https://a.example/cb"]}`, "scopes"},
		{`{"name": "x", "id_token_alg": "HS256", "redirect_uris": ["https://a.example/cb"]}`, "id_token_alg"},
		{`{"name": "", "redirect_uris": ["https://a.example/cb"]}`, "name"},
		{`[`, ""},
	} {
		r := e.send("POST", "/clients", e.admin, tt.body)
		wantValidation(t, r, "")
		if tt.field != "" {
			loc := fmt.Sprint(r.body["detail"].([]any)[0].(map[string]any)["loc"])
			if !strings.Contains(loc, tt.field) {
				t.Errorf("%s: 422 loc %s, want it to name %s", tt.body, loc, tt.field)
			}
		}
	}
	if n := e.count("oauth_clients"); n != 0 {
		t.Fatalf("%d clients stored by refused registrations", n)
	}
}

func TestClientsAPIAdminOnly(t *testing.T) {
	e := newClientsEnv(t)
	c := e.create(map[string]any{"name": "svc", "grants": []string{"client_credentials"}})
	id := c.str("client_id")
	e.createUser("mod", "correct horse battery", gatehouse.RoleModerator)
	mod, _ := e.mustLogin("mod", "correct horse battery")
	// An admin whose token lacks the admin scope is refused too.
	narrow := e.login("root", "correct horse battery", "read:items")
	wantStatus(t, narrow, 200)
	for _, tok := range []string{mod, narrow.str("access_token")} {
		for _, rq := range []struct{ method, path string }{
			{"GET", "/clients"}, {"POST", "/clients"}, {"GET", "/clients/" + id}, {"PATCH", "/clients/" + id},
			{"DELETE", "/clients/" + id}, {"POST", "/clients/" + id + "/secret"},
		} {
			if r := e.send(rq.method, rq.path, tok, `{"name": "x"}`); r.status != 403 {
				t.Errorf("%s %s without admin role and scope: %d %s", rq.method, rq.path, r.status, r.raw)
			}
		}
	}
	if r := e.send("GET", "/clients", "", nil); r.status != 401 {
		t.Errorf("GET /clients without a token: %d", r.status)
	}
	if r := e.send("GET", "/clients/"+id, e.admin, nil); r.status != 200 {
		t.Fatalf("the client changed or went: %d", r.status)
	}
}

func TestClientsAPIUnknownIsNotFound(t *testing.T) {
	e := newClientsEnv(t)
	for _, id := range []string{"nope", strings.Repeat("a", 500), "%00", "..%2f"} {
		for _, rq := range []struct{ method, path string }{
			{"GET", "/clients/" + id}, {"PATCH", "/clients/" + id}, {"DELETE", "/clients/" + id}, {"POST", "/clients/" + id + "/secret"},
		} {
			r := e.send(rq.method, rq.path, e.admin, `{"name": "x"}`)
			if r.status != 404 {
				t.Errorf("%s %s: %d %s, want 404", rq.method, rq.path, r.status, r.raw)
			}
		}
	}
}

func TestClientsAPIUpdate(t *testing.T) {
	e := newClientsEnv(t)
	id := e.create(map[string]any{"name": "app", "redirect_uris": []string{"https://a.example/cb"}}).str("client_id")
	r := e.send("PATCH", "/clients/"+id, e.admin, map[string]any{"name": "App 2", "first_party": true,
		"redirect_uris": []string{"https://a.example/cb", "http://[::1]/cb"}, "id_token_alg": "ES256"})
	wantStatus(t, r, 200)
	if r.str("name") != "App 2" || r.body["first_party"] != true || len(strList(r.body["redirect_uris"])) != 2 || r.str("id_token_alg") != "ES256" {
		t.Fatalf("after PATCH: %s", r.raw)
	}
	// Fields left out stay; a change that breaks a rule changes nothing.
	wantValidation(t, e.send("PATCH", "/clients/"+id, e.admin, map[string]any{"name": "App 3", "redirect_uris": []string{}}), "")
	wantValidation(t, e.send("PATCH", "/clients/"+id, e.admin, map[string]any{"public": true}), "public")
	got := e.send("GET", "/clients/"+id, e.admin, nil)
	if got.str("name") != "App 2" || len(strList(got.body["redirect_uris"])) != 2 || got.body["first_party"] != true {
		t.Fatalf("a refused PATCH changed the client: %s", got.raw)
	}
	if e.audit.count(gatehouse.EventClientChanged, gatehouse.OutcomeSuccess) != 1 {
		t.Fatalf("audit: %s; want one oauth_client_changed", e.audit)
	}
}

func TestClientsAPIRotateSecret(t *testing.T) {
	e := newClientsEnv(t)
	c := e.create(map[string]any{"name": "app", "redirect_uris": []string{"https://a.example/cb"}})
	id, first := c.str("client_id"), c.str("client_secret")
	r := e.send("POST", "/clients/"+id+"/secret", e.admin, map[string]any{"overlap_seconds": 3600})
	wantStatus(t, r, 200)
	second := r.str("client_secret")
	if second == "" || second == first {
		t.Fatalf("rotation: %s", r.raw)
	}
	secrets, _ := r.body["secrets"].([]any)
	if len(secrets) != 2 || secrets[0].(map[string]any)["expires_at"] != nil || secrets[1].(map[string]any)["expires_at"] == nil {
		t.Fatalf("secrets after rotation: %v; want the new one without end, the old one with", r.body["secrets"])
	}
	stored, _ := e.store.Client(context.Background(), id)
	now := e.clock.Now()
	if !oauth.VerifyClientSecret(stored, first, now) || !oauth.VerifyClientSecret(stored, second, now) ||
		oauth.VerifyClientSecret(stored, first, now.Add(time.Hour)) {
		t.Fatal("the old secret must work during the overlap only, the new one from now")
	}
	// An empty body takes the default overlap; 0 ends the old ones at once.
	wantStatus(t, e.send("POST", "/clients/"+id+"/secret", e.admin, nil), 200)
	r = e.send("POST", "/clients/"+id+"/secret", e.admin, `{"overlap_seconds": 0}`)
	wantStatus(t, r, 200)
	if secrets, _ := r.body["secrets"].([]any); len(secrets) != 1 {
		t.Fatalf("overlap 0 kept %d secrets", len(secrets))
	}
	for _, bad := range []string{`{"overlap_seconds": -1}`, `{"overlap_seconds": 99999999999999}`, `{"overlap_seconds": "1h"}`} {
		wantValidation(t, e.send("POST", "/clients/"+id+"/secret", e.admin, bad), "")
	}
	pub := e.create(map[string]any{"name": "spa", "public": true, "redirect_uris": []string{"https://spa.example/cb"}})
	wantStatus(t, e.send("POST", "/clients/"+pub.str("client_id")+"/secret", e.admin, nil), 409)
	if n := e.audit.count(gatehouse.EventClientSecretRotated, gatehouse.OutcomeSuccess); n != 3 {
		t.Fatalf("%d oauth_client_secret_rotated events, want 3", n)
	}
}

func TestClientsAPIDeleteEndsItsSessions(t *testing.T) {
	e := newClientsEnv(t)
	id := e.create(map[string]any{"name": "app", "redirect_uris": []string{"https://a.example/cb"}}).str("client_id")
	other := e.create(map[string]any{"name": "other", "redirect_uris": []string{"https://b.example/cb"}}).str("client_id")
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	ctx := context.Background()
	now := e.clock.Now()
	for sid, client := range map[string]string{"s-app": id, "s-other": other} {
		if err := e.store.CreateSession(ctx, &gatehouse.Session{ID: sid, UserID: u.ID, Scope: "openid", CreatedAt: now,
			Kind: gatehouse.SessionOAuth, ClientID: client}, &gatehouse.RefreshToken{Hash: "rt-" + sid, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.store.SetConsent(ctx, &gatehouse.Consent{UserID: u.ID, ClientID: id, Scope: "openid", GrantedAt: now}); err != nil {
		t.Fatal(err)
	}
	r := e.send("DELETE", "/clients/"+id, e.admin, nil)
	wantStatus(t, r, 200)
	if r.str("message") != "Client deleted" || r.body["sessions_ended"] != float64(1) {
		t.Fatalf("DELETE: %s", r.raw)
	}
	// Ended at once: the mirror refuses the session's access tokens.
	if !e.svc.Mirror().Revoked("", "s-app") || e.svc.Mirror().Revoked("", "s-other") {
		t.Fatal("the deleted client's session must be revoked in the mirror, the other client's not")
	}
	if _, err := e.store.LiveSession(ctx, "s-app", now); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("the deleted client's session is still live: %v", err)
	}
	if _, err := e.store.Consent(ctx, u.ID, id); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("the deleted client's consent remains: %v", err)
	}
	wantStatus(t, e.send("GET", "/clients/"+id, e.admin, nil), 404)
	wantStatus(t, e.send("DELETE", "/clients/"+id, e.admin, nil), 404)
	if e.audit.count(gatehouse.EventClientDeleted, gatehouse.OutcomeSuccess) != 1 {
		t.Fatalf("audit: %s", e.audit)
	}
}

func TestClientsAPIListPages(t *testing.T) {
	e := newClientsEnv(t)
	want := map[string]bool{}
	for i := range 5 {
		want[e.create(map[string]any{"name": fmt.Sprint("c", i), "grants": []string{"client_credentials"}}).str("client_id")] = true
	}
	seen := map[string]bool{}
	path := "/clients?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := e.send("GET", path, e.admin, nil)
		wantStatus(t, r, 200)
		list, _ := r.body["clients"].([]any)
		if len(list) > 2 {
			t.Fatalf("page of %d", len(list))
		}
		for _, c := range list {
			seen[c.(map[string]any)["client_id"].(string)] = true
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/clients?limit=2&cursor=" + next
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d clients, want 5", len(seen))
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("client %s never listed", id)
		}
	}
	wantValidation(t, e.send("GET", "/clients?limit=0", e.admin, nil), "limit")
	wantValidation(t, e.send("GET", "/clients?cursor=!!", e.admin, nil), "cursor")
}
