// Package storetest is the conformance suite every gatehouse.Store backend
// must pass: SQLite always, PostgreSQL when its test database is
// configured. It checks the contracts' documented behaviour, including the
// races that matter — two concurrent rotations of one refresh token, two
// concurrent creations of one username — where exactly one may win.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Run runs the suite. open returns a new, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) gatehouse.Store) {
	tests := []storeTest{
		{"create and read a user", testCreateUser},
		{"usernames are unique after NFKC and case folding", testUsernameUnique},
		{"concurrent creation of one username: exactly one wins", testUsernameRace},
		{"unknown ids and names are not found", testNotFound},
		{"update applies in a transaction and keeps the last admin", testUpdateUser},
		{"delete removes the user and keeps the last admin", testDeleteUser},
		{"list pages by id", testListUsers},
		{"refresh rotation marks used and stores the successor", testRotate},
		{"concurrent rotation of one refresh token: exactly one wins", testRotateRace},
		{"expired and revoked refresh tokens do not rotate", testRotateRefused},
		{"revocations are stored, listed while live and purged", testRevocations},
		{"settings: first value wins", testSettings},
		{"change feed records user changes and revocations in order", testChangeFeed},
		{"purge removes expired refresh tokens and empty sessions", testPurgeSessions},
		{"live sessions are the user's unrevoked ones", testLiveSessions},
	}
	for _, tt := range append(append(tests, featureTests...), signingKeyTests...) {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// storeTest is one property of the contracts, run on a fresh store.
type storeTest struct {
	name string
	fn   func(*testing.T, gatehouse.Store)
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func mustCreate(t *testing.T, s gatehouse.Store, name string, role gatehouse.Role) *gatehouse.User {
	t.Helper()
	u := &gatehouse.User{Username: name, PasswordHash: "$argon2id$x", Role: role}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	return u
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := gatehouse.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// race starts n calls of fn at once and returns how many reported true. An
// error fails the test.
func race(t *testing.T, n int, fn func(i int) (bool, error)) int {
	t.Helper()
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			ok, err := fn(i)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(wins.Load())
}

func testCreateUser(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := &gatehouse.User{Username: "Alice", Email: "a@example.com", FullName: "Alice A", PasswordHash: "h",
		Role: gatehouse.RoleModerator, Permissions: []string{gatehouse.PermReadUsers}}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser did not set ID/CreatedAt: %+v", u)
	}
	got, err := s.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID || got.Username != "Alice" || got.Email != u.Email || got.FullName != u.FullName ||
		got.Role != gatehouse.RoleModerator || len(got.Permissions) != 1 || got.Permissions[0] != gatehouse.PermReadUsers ||
		!got.CreatedAt.Equal(u.CreatedAt) || got.PasswordHash != "h" {
		t.Fatalf("read back %+v, want %+v", got, u)
	}
	byID, err := s.UserByID(ctx, u.ID)
	if err != nil || byID.Username != "Alice" {
		t.Fatalf("UserByID = %+v, %v", byID, err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Fatalf("CountUsers = %d, %v", n, err)
	}
}

func testUsernameUnique(t *testing.T, s gatehouse.Store) {
	mustCreate(t, s, "Alice", gatehouse.RoleUser)
	for _, name := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
		err := s.CreateUser(context.Background(), &gatehouse.User{Username: name, PasswordHash: "h", Role: gatehouse.RoleUser})
		wantCode(t, err, gatehouse.ECONFLICT)
	}
	if n, _ := s.CountUsers(context.Background()); n != 1 {
		t.Fatalf("CountUsers = %d after refused duplicates, want 1", n)
	}
}

func testUsernameRace(t *testing.T, s gatehouse.Store) {
	const n = 20
	wins := race(t, n, func(i int) (bool, error) {
		err := s.CreateUser(context.Background(), &gatehouse.User{Username: []string{"Bob", "bob", "BOB", "ｂｏｂ"}[i%4], PasswordHash: "h", Role: gatehouse.RoleUser})
		switch gatehouse.ErrorCode(err) {
		case "":
			return true, nil
		case gatehouse.ECONFLICT:
			return false, nil
		}
		return false, err
	})
	// Any other error has failed the test, so the rest were conflicts.
	if wins != 1 {
		t.Fatalf("%d of %d concurrent creations of one username succeeded, want 1", wins, n)
	}
}

func testNotFound(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	_, err := s.UserByID(ctx, 12345)
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.UserByUsername(ctx, "nobody")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.UpdateUser(ctx, 12345, func(*gatehouse.User) error { return nil })
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.DeleteUser(ctx, 12345), gatehouse.ENOTFOUND)
	_, err = s.Setting(ctx, "nothing")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.RotateRefreshToken(ctx, "nohash", t0, &gatehouse.RefreshToken{Hash: "x"}, nil)
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testUpdateUser(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	admin := mustCreate(t, s, "root", gatehouse.RoleAdmin)
	u, err := s.UpdateUser(ctx, admin.ID, func(u *gatehouse.User) error {
		u.Email, u.Permissions = "r@example.com", []string{gatehouse.PermReadUsers}
		return nil
	})
	if err != nil || u.Email != "r@example.com" {
		t.Fatalf("UpdateUser = %+v, %v", u, err)
	}
	// The last enabled admin can be neither demoted nor disabled.
	_, err = s.UpdateUser(ctx, admin.ID, func(u *gatehouse.User) error { u.Role = gatehouse.RoleUser; return nil })
	wantCode(t, err, gatehouse.EFORBIDDEN)
	_, err = s.UpdateUser(ctx, admin.ID, func(u *gatehouse.User) error { u.Disabled = true; return nil })
	wantCode(t, err, gatehouse.EFORBIDDEN)
	if got, _ := s.UserByID(ctx, admin.ID); got.Role != gatehouse.RoleAdmin || got.Disabled {
		t.Fatalf("refused update changed the user: %+v", got)
	}
	// fn's own error aborts and changes nothing.
	boom := gatehouse.Errorf(gatehouse.EINVALID, "boom")
	_, err = s.UpdateUser(ctx, admin.ID, func(u *gatehouse.User) error { u.Email = "x"; return boom })
	wantCode(t, err, gatehouse.EINVALID)
	if got, _ := s.UserByID(ctx, admin.ID); got.Email != "r@example.com" {
		t.Fatalf("aborted update changed email to %q", got.Email)
	}
	// With a second admin, demotion is allowed.
	mustCreate(t, s, "root2", gatehouse.RoleAdmin)
	if _, err := s.UpdateUser(ctx, admin.ID, func(u *gatehouse.User) error { u.Role = gatehouse.RoleUser; return nil }); err != nil {
		t.Fatalf("demote with another admin: %v", err)
	}
}

func testDeleteUser(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	admin := mustCreate(t, s, "root", gatehouse.RoleAdmin)
	wantCode(t, s.DeleteUser(ctx, admin.ID), gatehouse.EFORBIDDEN)
	u := mustCreate(t, s, "carol", gatehouse.RoleUser)
	sess := &gatehouse.Session{ID: "s1", UserID: u.ID, Scope: "read:items", CreatedAt: t0}
	if err := s.CreateSession(ctx, sess, &gatehouse.RefreshToken{Hash: "h1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.UserByID(ctx, u.ID)
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.RotateRefreshToken(ctx, "h1", t0, &gatehouse.RefreshToken{Hash: "h2", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil)
	wantCode(t, err, gatehouse.ENOTFOUND) // the user's sessions went with it
	// Ids are never reused: a deleted user's tokens never name a new user.
	v := mustCreate(t, s, "dave", gatehouse.RoleUser)
	if v.ID <= u.ID {
		t.Fatalf("new user got id %d, not above deleted %d", v.ID, u.ID)
	}
}

func testListUsers(t *testing.T, s gatehouse.Store) {
	for i := range 5 {
		mustCreate(t, s, fmt.Sprintf("user%d", i), gatehouse.RoleUser)
	}
	page, err := s.ListUsers(context.Background(), 0, 3)
	if err != nil || len(page) != 3 {
		t.Fatalf("first page: %d users, %v", len(page), err)
	}
	rest, err := s.ListUsers(context.Background(), page[2].ID, 3)
	if err != nil || len(rest) != 2 || rest[0].ID <= page[2].ID {
		t.Fatalf("second page: %d users, %v", len(rest), err)
	}
}

func newSession(t *testing.T, s gatehouse.Store, hash string, exp time.Time) *gatehouse.User {
	t.Helper()
	u := mustCreate(t, s, "erin", gatehouse.RoleUser)
	sess := &gatehouse.Session{ID: "sess-1", UserID: u.ID, Scope: "read:items write:items", CreatedAt: t0}
	if err := s.CreateSession(context.Background(), sess, &gatehouse.RefreshToken{Hash: hash, CreatedAt: t0, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	return u
}

func testRotate(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := newSession(t, s, "old", t0.Add(time.Hour))
	next := &gatehouse.RefreshToken{Hash: "next", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}
	rot, err := s.RotateRefreshToken(ctx, "old", t0.Add(time.Minute), next, []byte("sealed"))
	if err != nil || !rot.Rotated || rot.SessionRevoked {
		t.Fatalf("rotate = %+v, %v", rot, err)
	}
	if next.SessionID != "sess-1" || next.UserID != u.ID || next.Scope != "read:items write:items" {
		t.Fatalf("successor not filled from the old token: %+v", next)
	}
	// Presenting it again: not rotated; the use time and sealed successor are returned.
	again, err := s.RotateRefreshToken(ctx, "old", t0.Add(2*time.Minute), &gatehouse.RefreshToken{Hash: "other", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, []byte("x"))
	if err != nil || again.Rotated {
		t.Fatalf("second rotate = %+v, %v", again, err)
	}
	if !again.Old.UsedAt.Equal(t0.Add(time.Minute)) || string(again.Old.Successor) != "sealed" {
		t.Fatalf("second rotate saw UsedAt=%v successor=%q", again.Old.UsedAt, again.Old.Successor)
	}
	// The successor rotates in turn.
	rot2, err := s.RotateRefreshToken(ctx, "next", t0.Add(3*time.Minute), &gatehouse.RefreshToken{Hash: "third", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil)
	if err != nil || !rot2.Rotated {
		t.Fatalf("rotate successor = %+v, %v", rot2, err)
	}
	// "other" was never stored.
	_, err = s.RotateRefreshToken(ctx, "other", t0, &gatehouse.RefreshToken{Hash: "y"}, nil)
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testRotateRace(t *testing.T, s gatehouse.Store) {
	newSession(t, s, "old", t0.Add(time.Hour))
	const n = 10
	rotated := race(t, n, func(i int) (bool, error) {
		next := &gatehouse.RefreshToken{Hash: fmt.Sprintf("next%d", i), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		rot, err := s.RotateRefreshToken(context.Background(), "old", t0.Add(time.Second), next, []byte{byte(i)})
		return err == nil && rot.Rotated, err
	})
	if rotated != 1 {
		t.Fatalf("%d concurrent rotations succeeded, want exactly 1", rotated)
	}
}

func testRotateRefused(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newSession(t, s, "old", t0.Add(time.Hour))
	next := func() *gatehouse.RefreshToken {
		return &gatehouse.RefreshToken{Hash: "n" + fmt.Sprint(time.Now().UnixNano()), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	}
	rot, err := s.RotateRefreshToken(ctx, "old", t0.Add(time.Hour), next(), nil)
	if err != nil || rot.Rotated || !rot.Old.UsedAt.IsZero() {
		t.Fatalf("expired token: %+v, %v", rot, err)
	}
	if err := s.RevokeSession(ctx, "sess-1", t0); err != nil {
		t.Fatal(err)
	}
	rot, err = s.RotateRefreshToken(ctx, "old", t0.Add(time.Minute), next(), nil)
	if err != nil || rot.Rotated || !rot.SessionRevoked {
		t.Fatalf("revoked session: %+v, %v", rot, err)
	}
	// Revoking twice, or an unknown session, is not an error.
	if err := s.RevokeSession(ctx, "sess-1", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, "no-such-session", t0); err != nil {
		t.Fatal(err)
	}
}

func testRevocations(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	live := gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: "jti-1", ExpiresAt: t0.Add(time.Hour)}
	dead := gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: "sid-1", ExpiresAt: t0.Add(-time.Minute)}
	if err := s.AddRevocations(ctx, live, dead, live); err != nil {
		t.Fatal(err)
	}
	newSession(t, s, "h", t0.Add(time.Hour))
	if err := s.RevokeSession(ctx, "sess-1", t0, gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: "sess-1", ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	revs, err := s.Revocations(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range revs {
		got[r.Kind+":"+r.Value] = true
	}
	if len(revs) != 2 || !got["jti:jti-1"] || !got["sid:sess-1"] {
		t.Fatalf("live revocations = %+v", revs)
	}
	n, err := s.PurgeRevocations(ctx, t0)
	if err != nil || n != 1 {
		t.Fatalf("purge = %d, %v; want 1", n, err)
	}
	// Storing a revocation again with an earlier expiry keeps the later one:
	// a second logout must not cut short the first one's revocation.
	later := gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: "sid-2", ExpiresAt: t0.Add(2 * time.Hour)}
	earlier := later
	earlier.ExpiresAt = t0.Add(time.Hour)
	for _, r := range []gatehouse.Revocation{later, earlier} {
		if err := s.AddRevocations(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	revs, err = s.Revocations(ctx, t0.Add(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].Kind != later.Kind || revs[0].Value != later.Value || !revs[0].ExpiresAt.Equal(later.ExpiresAt) {
		t.Fatalf("revocations after storing %+v then %+v = %+v, want only the first", later, earlier, revs)
	}
}

func testSettings(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	v, err := s.SetSettingIfAbsent(ctx, "k", "first")
	if err != nil || v != "first" {
		t.Fatalf("first set = %q, %v", v, err)
	}
	v, err = s.SetSettingIfAbsent(ctx, "k", "second")
	if err != nil || v != "first" {
		t.Fatalf("second set = %q, %v; want the first value", v, err)
	}
	if v, err := s.Setting(ctx, "k"); err != nil || v != "first" {
		t.Fatalf("Setting = %q, %v", v, err)
	}
	// Instances starting at once, each with its own fresh secret, must all
	// end up with the one that was stored. Several rounds, each on a new
	// key, give the calls more chances to interleave.
	const rounds, n = 20, 10
	for round := range rounds {
		key := fmt.Sprint("k", round+2)
		got := make([]string, n)
		race(t, n, func(i int) (bool, error) {
			v, err := s.SetSettingIfAbsent(ctx, key, fmt.Sprint(i))
			got[i] = v
			return false, err
		})
		stored, err := s.Setting(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range got {
			if v != stored {
				t.Fatalf("%d concurrent SetSettingIfAbsent(%q) returned %q; want all to return %q, the stored value", n, key, got, stored)
			}
		}
	}
}

func testChangeFeed(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	start, err := s.LatestChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := mustCreate(t, s, "frank", gatehouse.RoleUser)
	mustCreate(t, s, "root", gatehouse.RoleAdmin)
	if _, err := s.UpdateUser(ctx, u.ID, func(u *gatehouse.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	rev := gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: "j", ExpiresAt: t0.Add(time.Hour)}
	if err := s.AddRevocations(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	changes, err := s.ChangesSince(ctx, start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 {
		t.Fatalf("changes = %+v, want 3 (update, revocation, delete)", changes)
	}
	if changes[0].UserID != u.ID || changes[1].Revocation == nil || changes[1].Revocation.Value != "j" ||
		!changes[1].Revocation.ExpiresAt.Equal(rev.ExpiresAt) || changes[2].UserID != u.ID {
		t.Fatalf("changes = %+v", changes)
	}
	if !(changes[0].Seq < changes[1].Seq && changes[1].Seq < changes[2].Seq) {
		t.Fatalf("changes out of order: %+v", changes)
	}
	latest, _ := s.LatestChange(ctx)
	if latest != changes[2].Seq {
		t.Fatalf("LatestChange = %d, want %d", latest, changes[2].Seq)
	}
	if more, _ := s.ChangesSince(ctx, latest, 100); len(more) != 0 {
		t.Fatalf("changes after latest: %+v", more)
	}
	all := changesSince(t, s, 0)
	if n, err := s.PurgeChanges(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge before the changes were recorded = %d, %v; want 0", n, err)
	}
	if kept := changesSince(t, s, 0); len(kept) != len(all) {
		t.Fatalf("purge before the changes were recorded left %d of %d changes", len(kept), len(all))
	}
	if n, err := s.PurgeChanges(ctx, time.Now().Add(time.Hour)); err != nil || n != int64(len(all)-1) {
		t.Fatalf("purge after the changes = %d, %v; want %d", n, err, len(all)-1)
	}
	// All but the newest are gone; the newest stays so the sequence goes on.
	if kept := changesSince(t, s, 0); len(kept) != 1 || kept[0].Seq != latest {
		t.Fatalf("changes after purge = %+v, want only seq %d", kept, latest)
	}
	if l, _ := s.LatestChange(ctx); l != latest {
		t.Fatalf("purge reset the sequence: %d, want %d", l, latest)
	}
}

func testPurgeSessions(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newSession(t, s, "old", t0.Add(time.Hour))
	n, err := s.PurgeSessions(ctx, t0.Add(30*time.Minute))
	if err != nil || n != 0 {
		t.Fatalf("purge before expiry = %d, %v", n, err)
	}
	n, err = s.PurgeSessions(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purge after expiry = %d, %v", n, err)
	}
	_, err = s.RotateRefreshToken(ctx, "old", t0, &gatehouse.RefreshToken{Hash: "x"}, nil)
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testLiveSessions(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := newSession(t, s, "h1", t0.Add(time.Hour))
	other := mustCreate(t, s, "olga", gatehouse.RoleUser)
	for i, id := range []string{"sess-2", "sess-3"} {
		owner := u.ID
		if i == 1 {
			owner = other.ID
		}
		if err := s.CreateSession(ctx, &gatehouse.Session{ID: id, UserID: owner, CreatedAt: t0.Add(time.Minute)},
			&gatehouse.RefreshToken{Hash: "h-" + id, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeSession(ctx, "sess-1", t0); err != nil {
		t.Fatal(err)
	}
	ids, err := s.LiveSessions(ctx, u.ID)
	if err != nil || len(ids) != 1 || ids[0] != "sess-2" {
		t.Fatalf("LiveSessions = %v, %v; want [sess-2]", ids, err)
	}
}
