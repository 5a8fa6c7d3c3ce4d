package httpapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/ratelimit"
)

func TestHealth(t *testing.T) {
	e := newEnv(t)
	r := e.get("/health", "")
	wantStatus(t, r, 200)
	if r.str("status") != "ok" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("health: %s %v", r.raw, r.header)
	}
}

func TestUnknownPathIs404JSON(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/nope", "/users/me/extra", "/token/x"} {
		r := e.get(p, "")
		wantDetail(t, r, 404, "Not Found")
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	e := newEnv(t)
	r := e.get("/token", "")
	wantDetail(t, r, 405, "Method Not Allowed")
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q, want POST", r.header.Get("Allow"))
	}
	r = e.do("PUT", "/users/me/", nil, nil)
	wantStatus(t, r, 405)
	if a := r.header.Get("Allow"); !strings.Contains(a, "GET") {
		t.Errorf("Allow = %q, want GET", a)
	}
}

func TestBodyOver1MiBIs413(t *testing.T) {
	e := newEnv(t)
	big := "username=alice&password=" + strings.Repeat("a", 1<<20)
	r := e.do("POST", "/token", strings.NewReader(big), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	wantStatus(t, r, 413)
	if _, ok := r.body["detail"].(string); !ok {
		t.Fatalf("413 body: %s", r.raw)
	}
}

func TestNoSecretReachesTheLogs(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	r := e.login("alice", "correct horse battery")
	at, rt := r.str("access_token"), r.str("refresh_token")
	e.login("alice", "a wrong guess here")
	r2 := e.refreshJSON(rt)
	e.get("/users/me", at)
	e.refreshJSON("ghr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	e.post("/logout", r2.str("access_token"))
	logs := e.logs.String()
	for _, secret := range []string{"correct horse battery", "a wrong guess here", at, rt, r2.str("access_token"),
		r2.str("refresh_token"), string(e.secret)} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Fatalf("log contains a secret (%.12s…)", secret)
		}
	}
}

func TestRouteLimitsFromConfiguration(t *testing.T) {
	e := newEnv(t)
	api, err := httpapi.New(httpapi.Config{Auth: e.svc, Store: e.store, Now: e.clock.Now,
		RouteLimits: map[string]ratelimit.Limit{"GET /health": {Rate: 2, Period: time.Minute, Burst: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var codes []int
	for range 3 {
		res, err := srv.Client().Get(srv.URL + "/health/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		codes = append(codes, res.StatusCode)
		if res.StatusCode == 429 && res.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("GET /health limited to 2 a minute answered %v", codes)
	}
	e.clock.Advance(30 * time.Second) // one interval: one more request
	if res, _ := srv.Client().Get(srv.URL + "/health"); res.StatusCode != 200 {
		t.Fatalf("after one interval: %d", res.StatusCode)
	}

	_, err = httpapi.New(httpapi.Config{Auth: e.svc, Store: e.store,
		RouteLimits: map[string]ratelimit.Limit{"GET /nope": {Rate: 1, Period: time.Minute, Burst: 1}}})
	if err == nil {
		t.Fatal("a limit on a route that does not exist was accepted")
	}
}
