package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/ratelimit"
)

func TestRefreshRotates(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	_, rt := e.mustLogin("alice", "correct horse battery")
	for _, via := range []string{"json", "form", "token endpoint"} {
		var r response
		switch via {
		case "json":
			r = e.refreshJSON(rt)
		case "form":
			r = e.form("/token/refresh", url.Values{"refresh_token": {rt}})
		default:
			r = e.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		}
		wantStatus(t, r, 200)
		if r.str("refresh_token") == rt || r.str("refresh_token") == "" || r.str("access_token") == "" {
			t.Fatalf("%s: not rotated: %s", via, r.raw)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control = %q", via, r.header.Get("Cache-Control"))
		}
		wantStatus(t, e.get("/users/me", r.str("access_token")), 200)
		rt = r.str("refresh_token")
		e.clock.Advance(3 * time.Second)
	}
}

func TestRefreshWithinGraceGivesTheSameSuccessor(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	_, rt := e.mustLogin("alice", "correct horse battery")
	first := e.refreshJSON(rt)
	wantStatus(t, first, 200)
	e.clock.Advance(2 * time.Second) // the edge of the window: still inside
	second := e.refreshJSON(rt)
	wantStatus(t, second, 200)
	if second.str("refresh_token") != first.str("refresh_token") {
		t.Fatal("second tab got a different refresh token")
	}
	if second.str("access_token") == first.str("access_token") {
		t.Fatal("second tab got the same access token (same jti)")
	}
	wantStatus(t, e.get("/users/me", second.str("access_token")), 200)
	wantStatus(t, e.get("/users/me", first.str("access_token")), 200)
	// The session lives on: the successor rotates normally.
	wantStatus(t, e.refreshJSON(first.str("refresh_token")), 200)
}

func TestRefreshReuseAfterGraceRevokesTheSession(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	at0, rt := e.mustLogin("alice", "correct horse battery")
	first := e.refreshJSON(rt)
	wantStatus(t, first, 200)
	e.clock.Advance(2*time.Second + time.Millisecond) // just outside the window
	r := e.refreshJSON(rt)
	wantStatus(t, r, 401)
	if r.str("error") != "invalid_grant" {
		t.Errorf("error = %q", r.str("error"))
	}
	// Every token of the session is dead: the successor, and access tokens old and new.
	wantStatus(t, e.refreshJSON(first.str("refresh_token")), 401)
	wantDetail(t, e.get("/users/me", first.str("access_token")), 401, "Token has been revoked")
	wantDetail(t, e.get("/users/me", at0), 401, "Token has been revoked")
	// Another login session of the same user is untouched.
	at2, _ := e.mustLogin("alice", "correct horse battery")
	wantStatus(t, e.get("/users/me", at2), 200)
}

func TestRefreshRefusals(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	at, rt := e.mustLogin("alice", "correct horse battery")
	wantDetail(t, e.refreshJSON(at), 401, "Invalid refresh token") // an access token is not a refresh token
	wantDetail(t, e.refreshJSON("ghr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401, "Invalid refresh token")
	wantDetail(t, e.refreshJSON("garbage"), 401, "Invalid refresh token")
	wantValidation(t, e.refreshJSON(""), "refresh_token")
	wantValidation(t, e.do("POST", "/token/refresh", nil, map[string]string{"Content-Type": "application/json"}), "body")
	wantValidation(t, e.do("POST", "/token/refresh", nil, nil), "body")
	// Expired.
	e.clock.Advance(168*time.Hour + time.Second)
	wantDetail(t, e.refreshJSON(rt), 401, "Invalid refresh token")
	_ = u
}

func TestRefreshOfDisabledUserIsRefused(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	_, rt := e.mustLogin("alice", "correct horse battery")
	e.svc.UpdateUser(t.Context(), u.ID, auth.UserUpdate{Disabled: new(true)})
	wantDetail(t, e.refreshJSON(rt), 400, "Inactive user")
}

func TestLogoutRevokesTokenAndSessionDurably(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	at, rt := e.mustLogin("alice", "correct horse battery")
	other, _ := e.mustLogin("alice", "correct horse battery")
	r := e.post("/logout/", at)
	wantStatus(t, r, 200)
	if r.str("message") != "Successfully logged out" {
		t.Fatalf("logout: %s", r.raw)
	}
	wantDetail(t, e.get("/users/me", at), 401, "Token has been revoked")
	wantStatus(t, e.refreshJSON(rt), 401)
	wantStatus(t, e.get("/users/me", other), 200) // another session is untouched

	e.restart()
	wantDetail(t, e.get("/users/me", at), 401, "Token has been revoked")
	wantStatus(t, e.get("/users/me", other), 200)
	wantStatus(t, e.post("/logout", ""), 401)
}

func TestRevocationsArePurgedAfterExpiry(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", "correct horse battery")
	wantStatus(t, e.post("/logout", at), 200)
	// One revocation, the session's: it covers the token presented too.
	if n := e.svc.Mirror().Len(); n != 1 {
		t.Fatalf("mirror holds %d revocations, want 1 (the sid's)", n)
	}
	stored, err := e.store.Revocations(t.Context(), e.clock.Now())
	if err != nil || len(stored) != 1 || stored[0].Kind != gatehouse.RevokeSession {
		t.Fatalf("store holds %+v, %v; want the session's revocation alone", stored, err)
	}
	// A session's revocation is kept until a browser session's cookie
	// could have expired too (12h by default), then forgotten.
	e.clock.Advance(15*time.Minute + 2*time.Minute)
	if err := e.svc.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.svc.Mirror().Len(); n != 1 {
		t.Fatalf("mirror holds %d revocations once the access token expired, want 1 (the sid)", n)
	}
	e.clock.Advance(auth.DefaultSessionTTL + 2*time.Minute)
	if err := e.svc.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.svc.Mirror().Len(); n != 0 {
		t.Fatalf("mirror holds %d revocations after expiry", n)
	}
	revs, _ := e.store.Revocations(t.Context(), time.Time{})
	if len(revs) != 0 {
		t.Fatalf("store holds %d revocations after purge", len(revs))
	}
	wantStatus(t, e.get("/users/me", at), 401) // expired anyway
}

// TestPasswordChangeEndsEverySession (contract §12, issue 9 finding 3):
// logins with the old password race the change. Each either opened its
// session before the change, which ends it, or is refused: no token
// obtained with the old password works afterwards, access or refresh.
func TestPasswordChangeEndsEverySession(t *testing.T) {
	e := newEnv(t)
	u := e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	var (
		mu     sync.Mutex
		pairs  [][2]string // access and refresh tokens of old-password logins
		wg     sync.WaitGroup
		done   atomic.Bool
		first  = make(chan struct{})
		signal sync.Once
	)
	for range 4 {
		wg.Go(func() {
			for after := 0; after < 2; { // until the change is over, and twice more
				if done.Load() {
					after++
				}
				r := e.login("alice", "correct horse battery")
				switch r.status {
				case 200:
					mu.Lock()
					pairs = append(pairs, [2]string{r.str("access_token"), r.str("refresh_token")})
					mu.Unlock()
					signal.Do(func() { close(first) })
				case 401:
				default:
					t.Errorf("login racing the change: %d %s", r.status, r.raw)
					return
				}
			}
		})
	}
	<-first
	if _, err := e.svc.SetPassword(t.Context(), u.ID, "a brand new passphrase", ""); err != nil {
		t.Fatal(err)
	}
	done.Store(true)
	wg.Wait()
	for _, p := range pairs {
		wantDetail(t, e.get("/users/me", p[0]), 401, "Token has been revoked")
		wantStatus(t, e.refreshJSON(p[1]), 401)
	}
	wantStatus(t, e.login("alice", "correct horse battery"), 401)
	at, _ := e.mustLogin("alice", "a brand new passphrase")
	wantStatus(t, e.get("/users/me", at), 200)
}

// refreshFrom refreshes rt as the client at addr (X-Forwarded-For, from a
// trusted proxy).
func (e *env) refreshFrom(addr, rt string) response {
	b, _ := json.Marshal(map[string]string{"refresh_token": rt})
	return e.do("POST", "/token/refresh", bytes.NewReader(b), map[string]string{"Content-Type": "application/json", "X-Forwarded-For": addr})
}

// TestOneSessionCannotRefreshWithoutBound (issue 9 finding 5, contract
// §12): one session refreshing as fast as it can — the reviewer's did
// 15,648 rotations in 10 s — rotates its burst and is then refused with
// 429 and Retry-After, its token unspent, until its interval has passed;
// its store rows are bounded with it. Another session is not held back.
func TestOneSessionCannotRefreshWithoutBound(t *testing.T) {
	e := newEnvWith(t, envOptions{proxies: []string{"127.0.0.1/32"}, refreshLimit: ratelimit.Limit{Rate: 100_000, Period: time.Minute, Burst: 100_000}})
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	_, rt := e.mustLogin("alice", "correct horse battery")
	_, other := e.mustLogin("alice", "correct horse battery")
	limit := auth.DefaultSessionRefreshLimit
	rotated, refused := 0, 0
	for range 200 {
		r := e.refreshFrom("198.51.100.7", rt)
		switch r.status {
		case 200:
			rotated++
			rt = r.str("refresh_token")
		case 429:
			refused++
			if r.header.Get("Retry-After") != "6" { // a minute / 10, in whole seconds
				t.Fatalf("429 with Retry-After %q, want 6", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("refresh: %d %s", r.status, r.raw)
		}
	}
	if rotated != limit.Burst || refused != 200-limit.Burst {
		t.Fatalf("200 refreshes of one session: %d rotated, %d refused; want the burst of %d, then 429", rotated, refused, limit.Burst)
	}
	if rows := e.count("refresh_tokens"); rows != 2+limit.Burst { // both sessions' first tokens, and one per rotation
		t.Fatalf("%d refresh token rows, want %d", rows, 2+limit.Burst)
	}
	wantStatus(t, e.refreshFrom("198.51.100.7", other), 200)
	e.clock.Advance(limit.Period / time.Duration(limit.Rate))
	wantStatus(t, e.refreshFrom("198.51.100.7", rt), 200) // the refused token was not spent
}

// TestOneClientCannotRefreshWithoutBound (contract §12): refreshes are
// limited per client address too, whatever sessions it holds; another
// address keeps its own allowance.
func TestOneClientCannotRefreshWithoutBound(t *testing.T) {
	e := newEnvWith(t, envOptions{proxies: []string{"127.0.0.1/32"}, refreshLimit: ratelimit.Limit{Rate: 3, Period: time.Minute, Burst: 3}})
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	var rts []string
	for range 4 {
		_, rt := e.mustLogin("alice", "correct horse battery")
		rts = append(rts, rt)
	}
	for _, rt := range rts[:3] {
		wantStatus(t, e.refreshFrom("198.51.100.7", rt), 200)
	}
	r := e.refreshFrom("198.51.100.7", rts[3])
	wantDetail(t, r, 429, "Rate limit exceeded")
	if r.header.Get("Retry-After") != "20" {
		t.Fatalf("Retry-After %q, want 20", r.header.Get("Retry-After"))
	}
	// The refresh_token grant of /token counts against the same limit.
	r = e.form("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rts[3]}}, "X-Forwarded-For", "198.51.100.7")
	wantStatus(t, r, 429)
	wantStatus(t, e.refreshFrom("203.0.113.9", rts[3]), 200)
}

// TestSpentRefreshTokensAreKeptForTheReuseWindowOnly (issue 9 finding 5):
// a spent token presented within auth.ReuseWindow of its use is reuse and
// revokes its session; once purged after the window it is merely invalid,
// and its row is gone.
func TestSpentRefreshTokensAreKeptForTheReuseWindowOnly(t *testing.T) {
	e := newEnv(t)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	_, stolen := e.mustLogin("alice", "correct horse battery")
	r := e.refreshJSON(stolen)
	wantStatus(t, r, 200)
	e.clock.Advance(auth.ReuseWindow - time.Minute)
	if err := e.svc.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantDetail(t, e.refreshJSON(stolen), 401, "Refresh token reuse detected; the session has been revoked")
	wantStatus(t, e.refreshJSON(r.str("refresh_token")), 401)

	_, old := e.mustLogin("alice", "correct horse battery")
	r = e.refreshJSON(old)
	wantStatus(t, r, 200)
	before := e.count("refresh_tokens")
	e.clock.Advance(auth.ReuseWindow + time.Minute)
	if err := e.svc.Purge(t.Context()); err != nil {
		t.Fatal(err)
	}
	if after := e.count("refresh_tokens"); after >= before {
		t.Fatalf("purge past the window left %d of %d refresh token rows", after, before)
	}
	wantDetail(t, e.refreshJSON(old), 401, "Invalid refresh token")
	wantStatus(t, e.refreshJSON(r.str("refresh_token")), 200) // the session lives on
}
