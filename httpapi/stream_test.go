package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/revstream"
	"github.com/gatehouse/gatehouse/sqlite"
)

// startStream runs the revocation stream's hub on the server's store when
// the test asks for it (envOptions.stream), polling the change feed as
// serve's hub does when nothing kicks it.
func (e *env) startStream(store *sqlite.DB) *revstream.Hub {
	if e.opts.stream == nil {
		return nil
	}
	cfg := *e.opts.stream
	cfg.Source, cfg.Now = store, e.clock.Now
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 16 * time.Minute
	}
	if cfg.Poll == 0 {
		cfg.Poll = 5 * time.Millisecond
	}
	hub, err := revstream.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := hub.Load(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go hub.Run(ctx)
	e.t.Cleanup(func() { cancel(); hub.Close() })
	return hub
}

// sse reads a revocation stream.
type sse struct {
	t   *testing.T
	res *http.Response
	r   *bufio.Reader
}

type sseEvent struct {
	id, name string
	data     map[string]any
}

func (e *env) stream(header map[string]string) (*sse, response) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/revocations/stream", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		var body map[string]any
		json.NewDecoder(res.Body).Decode(&body)
		return nil, response{status: res.StatusCode, header: res.Header, body: body}
	}
	return &sse{t: e.t, res: res, r: bufio.NewReader(res.Body)}, response{status: 200, header: res.Header}
}

// next returns the next event, or ok false when the stream ends.
func (s *sse) next() (ev sseEvent, ok bool) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, false
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && ev.name != "":
			return ev, true
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			json.Unmarshal([]byte(line[6:]), &ev.data)
		}
	}
}

// waitFor reads events until one satisfies match, failing after 10 s.
func (s *sse) waitFor(what string, match func(sseEvent) bool) sseEvent {
	s.t.Helper()
	got := make(chan sseEvent, 1)
	go func() {
		for {
			ev, ok := s.next()
			if !ok {
				close(got)
				return
			}
			if match(ev) {
				got <- ev
				return
			}
		}
	}()
	select {
	case ev, ok := <-got:
		if !ok {
			s.t.Fatalf("the stream ended before %s", what)
		}
		return ev
	case <-time.After(10 * time.Second):
		s.t.Fatalf("no %s within 10 s", what)
	}
	return sseEvent{}
}

func revokes(kind, value string) func(sseEvent) bool {
	return func(ev sseEvent) bool { return ev.name == "revoke" && ev.data[kind] == value }
}

func userIs(id int64, state string) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		return ev.name == "user" && ev.data["sub"] == fmt.Sprint(id) && ev.data["state"] == state
	}
}

// streamKey makes an admin's API key for the stream, as an operator does:
// a login asking for read:revocations by name, then a key with only it.
func (e *env) streamKey(admin, pw string) (key string, id int64) {
	e.t.Helper()
	r := e.login(admin, pw, "admin read:revocations")
	wantStatus(e.t, r, 200)
	k := e.do("POST", "/api-keys", strings.NewReader(`{"name":"resource server","scopes":["read:revocations"]}`),
		map[string]string{"Authorization": "Bearer " + r.str("access_token"), "Content-Type": "application/json"})
	wantStatus(e.t, k, 201)
	return k.str("key"), int64(k.body["id"].(float64))
}

func TestTheRevocationStreamCarriesLogoutsAndUserChanges(t *testing.T) {
	e := newEnvWith(t, envOptions{stream: &revstream.Config{}})
	e.createUser("root", "root's long password", gatehouse.RoleAdmin)
	alice := e.createUser("alice", "alice's long password", gatehouse.RoleModerator)
	adminTok, _ := e.mustLogin("root", "root's long password")
	key, _ := e.streamKey("root", "root's long password")

	s, r := e.stream(map[string]string{"X-API-Key": key})
	if s == nil {
		t.Fatalf("stream: %d %v", r.status, r.body)
	}
	if ct, cc := r.header.Get("Content-Type"), r.header.Get("Cache-Control"); ct != "text/event-stream" || cc != "no-store" {
		t.Fatalf("Content-Type %q, Cache-Control %q", ct, cc)
	}
	s.waitFor("sync", func(ev sseEvent) bool { return ev.name == "sync" })

	// A logout: the token and its session.
	at, _ := e.mustLogin("alice", "alice's long password")
	me := e.get("/users/me", at)
	wantStatus(t, me, 200)
	wantStatus(t, e.post("/logout", at), 200)
	sid := s.waitFor("the session's revocation", func(ev sseEvent) bool { return ev.name == "revoke" && ev.data["sid"] != nil })
	if sid.id == "" {
		t.Fatal("a live event without an id: clients could not resume after it")
	}

	// A demotion, then the user disabled, then deleted.
	patch := func(body string) {
		t.Helper()
		wantStatus(t, e.do("PATCH", fmt.Sprint("/users/", alice.ID), strings.NewReader(body),
			map[string]string{"Authorization": "Bearer " + adminTok, "Content-Type": "application/json"}), 200)
	}
	patch(`{"role":"user"}`)
	ev := s.waitFor("the demotion", userIs(alice.ID, "active"))
	if ev.data["scope"] != "read:items write:items" {
		t.Fatalf("a demoted user's scopes: %v", ev.data)
	}
	patch(`{"disabled":true}`)
	s.waitFor("the user disabled", userIs(alice.ID, "disabled"))
	wantStatus(t, e.do("DELETE", fmt.Sprint("/users/", alice.ID), nil, map[string]string{"Authorization": "Bearer " + adminTok}), 200)
	s.waitFor("the user deleted", userIs(alice.ID, "deleted"))
}

func TestTheRevocationStreamNeedsItsOwnScope(t *testing.T) {
	e := newEnvWith(t, envOptions{stream: &revstream.Config{Heartbeat: 20 * time.Millisecond}})
	e.createUser("root", "root's long password", gatehouse.RoleAdmin)
	e.createUser("mod", "mod's long password", gatehouse.RoleModerator)
	adminTok, _ := e.mustLogin("root", "root's long password")

	if _, r := e.stream(nil); r.status != 401 {
		t.Fatalf("no credential: %d", r.status)
	}
	if _, r := e.stream(map[string]string{"X-API-Key": "ghk_nope_nope"}); r.status != 403 {
		t.Fatalf("a bad key: %d", r.status)
	}
	// An admin's everyday token and key do not carry read:revocations.
	if _, r := e.stream(map[string]string{"Authorization": "Bearer " + adminTok}); r.status != 403 ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `scope="read:revocations"`) {
		t.Fatalf("an admin's token without the scope: %d %v", r.status, r.header)
	}
	k := e.do("POST", "/api-keys", strings.NewReader(`{"name":"everyday"}`),
		map[string]string{"Authorization": "Bearer " + adminTok, "Content-Type": "application/json"})
	wantStatus(t, k, 201)
	if _, r := e.stream(map[string]string{"X-API-Key": k.str("key")}); r.status != 403 {
		t.Fatalf("an admin's key made without scopes: %d", r.status)
	}
	// Nobody but an admin gets the scope.
	if r := e.login("mod", "mod's long password", "read:revocations"); r.status != 200 || r.str("scope") != "" {
		t.Fatalf("a moderator asking for read:revocations: %d %q", r.status, r.str("scope"))
	}

	// The stream's key works, and revoking it ends its stream.
	key, id := e.streamKey("root", "root's long password")
	s, r := e.stream(map[string]string{"X-API-Key": key})
	if s == nil {
		t.Fatalf("the stream key: %d %v", r.status, r.body)
	}
	s.waitFor("sync", func(ev sseEvent) bool { return ev.name == "sync" })
	wantStatus(t, e.do("DELETE", fmt.Sprint("/api-keys/", id), nil, map[string]string{"Authorization": "Bearer " + adminTok}), 200)
	done := make(chan struct{})
	go func() {
		for {
			if _, ok := s.next(); !ok {
				close(done)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlives its revoked key")
	}
}
