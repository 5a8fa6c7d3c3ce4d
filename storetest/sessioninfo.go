package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// sessionInfoTests cover gatehouse.SessionInfoStore, browser sessions and
// gatehouse.UserSearchStore (migration 008, contract §11).
var sessionInfoTests = []storeTest{
	{"sessions: metadata is stored and listed, most recently used first", testSessionMetadata},
	{"sessions: revoked, expired and spent sessions are not live", testSessionLiveness},
	{"sessions: a browser session lasts to its own end, without refresh tokens", testBrowserSessionPurge},
	{"sessions: touch never moves a last use backwards", testTouchSessions},
	{"users: found by a part of the username or email, paged by id", testFindUsers},
}

func createSession(t *testing.T, s gatehouse.Store, sess *gatehouse.Session, tokenExpires time.Time) {
	t.Helper()
	var first *gatehouse.RefreshToken
	if sess.Kind != gatehouse.SessionBrowser {
		first = &gatehouse.RefreshToken{Hash: "h-" + sess.ID, CreatedAt: sess.CreatedAt, ExpiresAt: tokenExpires}
	}
	if err := s.CreateSession(context.Background(), sess, first); err != nil {
		t.Fatalf("CreateSession(%s): %v", sess.ID, err)
	}
}

func testSessionMetadata(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "erin", gatehouse.RoleUser)
	other := mustCreate(t, s, "olga", gatehouse.RoleUser)
	tok := &gatehouse.Session{ID: "tok", UserID: u.ID, Scope: "read:items", CreatedAt: t0, Kind: gatehouse.SessionToken,
		AuthTime: t0, AMR: "pwd", ClientIP: "192.0.2.1", UserAgent: "curl/8"}
	br := &gatehouse.Session{ID: "br", UserID: u.ID, Scope: "read:items write:items", CreatedAt: t0.Add(time.Minute),
		Kind: gatehouse.SessionBrowser, ExpiresAt: t0.Add(12 * time.Hour), AuthTime: t0.Add(time.Minute), AMR: "pwd otp",
		ClientIP: "2001:db8::1", UserAgent: "Mozilla/5.0 ünïcode"}
	createSession(t, s, tok, t0.Add(time.Hour))
	createSession(t, s, br, time.Time{})
	createSession(t, s, &gatehouse.Session{ID: "olga's", UserID: other.ID, CreatedAt: t0}, t0.Add(time.Hour))

	got, err := s.UserSessions(ctx, u.ID, t0.Add(2*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "br" || got[1].ID != "tok" {
		t.Fatalf("UserSessions = %v, want [br tok] (newest first, only the user's)", ids(got))
	}
	for _, want := range []*gatehouse.Session{br, tok} {
		g, err := s.LiveSession(ctx, want.ID, t0.Add(2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if g.UserID != want.UserID || g.Scope != want.Scope || !g.CreatedAt.Equal(want.CreatedAt) || g.Kind != want.Kind ||
			!g.ExpiresAt.Equal(want.ExpiresAt) || !g.AuthTime.Equal(want.AuthTime) || g.AMR != want.AMR ||
			g.ClientIP != want.ClientIP || g.UserAgent != want.UserAgent || !g.LastUsedAt.IsZero() {
			t.Errorf("LiveSession(%s) = %+v, want %+v", want.ID, g, want)
		}
	}
	// A use moves the token session to the top.
	if err := s.TouchSessions(ctx, map[string]time.Time{"tok": t0.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err = s.UserSessions(ctx, u.ID, t0.Add(6*time.Minute), 10)
	if err != nil || len(got) != 2 || got[0].ID != "tok" || !got[0].LastUsedAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("after a use: %v, %v; want tok first, used at +5m", ids(got), err)
	}
	if got, _ := s.UserSessions(ctx, u.ID, t0.Add(6*time.Minute), 1); len(got) != 1 {
		t.Fatalf("limit 1 gave %d sessions", len(got))
	}
	// A session created without a kind is a token session.
	g, err := s.LiveSession(ctx, "olga's", t0)
	if err != nil || g.Kind != gatehouse.SessionToken {
		t.Fatalf("default kind: %+v, %v", g, err)
	}
}

func testSessionLiveness(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "erin", gatehouse.RoleUser)
	createSession(t, s, &gatehouse.Session{ID: "revoked", UserID: u.ID, CreatedAt: t0, Kind: gatehouse.SessionBrowser, ExpiresAt: t0.Add(time.Hour)}, time.Time{})
	createSession(t, s, &gatehouse.Session{ID: "browser", UserID: u.ID, CreatedAt: t0, Kind: gatehouse.SessionBrowser, ExpiresAt: t0.Add(time.Hour)}, time.Time{})
	createSession(t, s, &gatehouse.Session{ID: "token", UserID: u.ID, CreatedAt: t0}, t0.Add(30*time.Minute))
	createSession(t, s, &gatehouse.Session{ID: "rotated", UserID: u.ID, CreatedAt: t0}, t0.Add(30*time.Minute))
	if err := s.RevokeSession(ctx, "revoked", t0); err != nil {
		t.Fatal(err)
	}
	// A spent refresh token with a live successor keeps its session live.
	if _, err := s.RotateRefreshToken(ctx, "h-rotated", t0.Add(time.Minute),
		&gatehouse.RefreshToken{Hash: "h-rotated-2", CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(2 * time.Hour)}, nil, gatehouse.RefreshLimit{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Duration
		live []string
	}{
		{time.Minute, []string{"browser", "rotated", "token"}},
		{45 * time.Minute, []string{"browser", "rotated"}}, // token's refresh token expired
		{90 * time.Minute, []string{"rotated"}},            // browser's end passed
	} {
		now := t0.Add(c.at)
		got, err := s.UserSessions(ctx, u.ID, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{}
		for _, g := range got {
			set[g.ID] = true
		}
		for _, id := range []string{"revoked", "browser", "token", "rotated"} {
			want := false
			for _, l := range c.live {
				want = want || l == id
			}
			if set[id] != want {
				t.Errorf("at +%v: %s listed = %v, want %v", c.at, id, set[id], want)
			}
			_, err := s.LiveSession(ctx, id, now)
			if want && err != nil {
				t.Errorf("at +%v: LiveSession(%s): %v", c.at, id, err)
			}
			if !want && gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
				t.Errorf("at +%v: LiveSession(%s) = %v, want ENOTFOUND", c.at, id, err)
			}
		}
	}
	_, err := s.LiveSession(ctx, "no such session", t0)
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testBrowserSessionPurge(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "erin", gatehouse.RoleUser)
	createSession(t, s, &gatehouse.Session{ID: "short", UserID: u.ID, CreatedAt: t0, Kind: gatehouse.SessionBrowser, ExpiresAt: t0.Add(time.Hour)}, time.Time{})
	createSession(t, s, &gatehouse.Session{ID: "long", UserID: u.ID, CreatedAt: t0, Kind: gatehouse.SessionBrowser, ExpiresAt: t0.Add(3 * time.Hour)}, time.Time{})
	if _, err := s.PurgeSessions(ctx, t0.Add(2*time.Hour), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LiveSession(ctx, "long", t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("a browser session with no refresh token was purged before its end: %v", err)
	}
	if ids, err := s.LiveSessions(ctx, u.ID); err != nil || len(ids) != 1 || ids[0] != "long" {
		t.Fatalf("after purge LiveSessions = %v, %v; want [long]", ids, err)
	}
}

func testTouchSessions(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "erin", gatehouse.RoleUser)
	createSession(t, s, &gatehouse.Session{ID: "a", UserID: u.ID, CreatedAt: t0}, t0.Add(time.Hour))
	createSession(t, s, &gatehouse.Session{ID: "b", UserID: u.ID, CreatedAt: t0}, t0.Add(time.Hour))
	if err := s.TouchSessions(ctx, map[string]time.Time{"a": t0.Add(10 * time.Minute), "b": t0.Add(time.Minute), "gone": t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSessions(ctx, map[string]time.Time{"a": t0.Add(5 * time.Minute), "b": t0.Add(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]time.Time{"a": t0.Add(10 * time.Minute), "b": t0.Add(2 * time.Minute)} {
		g, err := s.LiveSession(ctx, id, t0)
		if err != nil || !g.LastUsedAt.Equal(want) {
			t.Errorf("session %s last used %v (%v), want %v", id, g.LastUsedAt, err, want)
		}
	}
	if err := s.TouchSessions(ctx, nil); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}
}

func testFindUsers(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	var made []*gatehouse.User
	for i, name := range []string{"Alice", "alicia", "bob", "Malice"} {
		u := &gatehouse.User{Username: name, Email: fmt.Sprintf("%s@Example.ORG", []string{"a", "b", "robert", "m"}[i]),
			PasswordHash: "$argon2id$x", Role: gatehouse.RoleUser}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		made = append(made, u)
	}
	names := func(us []*gatehouse.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	for _, c := range []struct {
		q    string
		want string
	}{
		{"ALI", "[Alice alicia Malice]"}, // case-insensitive, anywhere in the name
		{"rob", "[bob]"},                 // by email
		{"example.org", "[Alice alicia bob Malice]"},
		{"%", "[]"}, // not a pattern
		{"_", "[]"},
		{"", "[Alice alicia bob Malice]"},
	} {
		got, err := s.FindUsers(ctx, c.q, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if g := fmt.Sprint(names(got)); g != c.want {
			t.Errorf("FindUsers(%q) = %s, want %s", c.q, g, c.want)
		}
	}
	page, err := s.FindUsers(ctx, "ali", made[0].ID, 1)
	if err != nil || fmt.Sprint(names(page)) != "[alicia]" {
		t.Fatalf("second page of one: %v, %v", names(page), err)
	}
}

func ids(ss []*gatehouse.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}
