package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

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

func testUpdateUser(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	admin := mustCreate(t, s, "root", gatehouse.RoleAdmin)
	u, err := update(s, admin.ID, func(u *gatehouse.User) error {
		u.Email, u.Permissions = "r@example.com", []string{gatehouse.PermReadUsers}
		return nil
	})
	if err != nil || u.Email != "r@example.com" {
		t.Fatalf("UpdateUser = %+v, %v", u, err)
	}
	// The last enabled admin can be neither demoted nor disabled.
	_, err = update(s, admin.ID, func(u *gatehouse.User) error { u.Role = gatehouse.RoleUser; return nil })
	wantCode(t, err, gatehouse.EFORBIDDEN)
	_, err = update(s, admin.ID, func(u *gatehouse.User) error { u.Disabled = true; return nil })
	wantCode(t, err, gatehouse.EFORBIDDEN)
	if got, _ := s.UserByID(ctx, admin.ID); got.Role != gatehouse.RoleAdmin || got.Disabled {
		t.Fatalf("refused update changed the user: %+v", got)
	}
	// fn's own error aborts and changes nothing.
	boom := gatehouse.Errorf(gatehouse.EINVALID, "boom")
	_, err = update(s, admin.ID, func(u *gatehouse.User) error { u.Email = "x"; return boom })
	wantCode(t, err, gatehouse.EINVALID)
	if got, _ := s.UserByID(ctx, admin.ID); got.Email != "r@example.com" {
		t.Fatalf("aborted update changed email to %q", got.Email)
	}
	// With a second admin, demotion is allowed.
	mustCreate(t, s, "root2", gatehouse.RoleAdmin)
	if _, err := update(s, admin.ID, func(u *gatehouse.User) error { u.Role = gatehouse.RoleUser; return nil }); err != nil {
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
	_, err = s.RotateRefreshToken(ctx, "h1", t0, &gatehouse.RefreshToken{Hash: "h2", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
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

// testLastAdminRace removes, at once, each of the only two enabled admins,
// in several rounds: one removal must win and the other be refused, or
// the server would be left with no admin.
func testLastAdminRace(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	demote := func(u *gatehouse.User) error { u.Role = gatehouse.RoleModerator; return nil }
	disable := func(u *gatehouse.User) error { u.Disabled = true; return nil }
	remove := []func(id int64) error{
		func(id int64) error { _, err := update(s, id, demote); return err },
		func(id int64) error { _, err := update(s, id, disable); return err },
		func(id int64) error { return s.DeleteUser(ctx, id) },
	}
	survivor := mustCreate(t, s, "root", gatehouse.RoleAdmin).ID
	for round := range 6 {
		admins := []int64{survivor, mustCreate(t, s, fmt.Sprint("root", round), gatehouse.RoleAdmin).ID}
		wins := race(t, 2, func(i int) (bool, error) {
			err := remove[(round+i)%len(remove)](admins[i])
			switch gatehouse.ErrorCode(err) {
			case "":
				return true, nil
			case gatehouse.EFORBIDDEN:
				return false, nil
			}
			return false, err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d of two concurrent removals of the last admins succeeded, want 1", round, wins)
		}
		users, err := s.ListUsers(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var left []int64
		for _, u := range users {
			if u.Role == gatehouse.RoleAdmin && !u.Disabled {
				left = append(left, u.ID)
			}
		}
		if len(left) != 1 {
			t.Fatalf("round %d: enabled admins %v, want exactly one", round, left)
		}
		survivor = left[0]
	}
}

// update changes the user with fn through UpdateUser, with no other effect.
func update(s gatehouse.Store, id int64, fn func(*gatehouse.User) error) (*gatehouse.User, error) {
	u, _, err := s.UpdateUser(context.Background(), id, gatehouse.UserEdit{Apply: fn})
	return u, err
}

// sessionsOf creates, for each named session, a session of owner with one
// refresh token, "h-" + its id.
func sessionsOf(t *testing.T, s gatehouse.Store, owner int64, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateSession(context.Background(), &gatehouse.Session{ID: id, UserID: owner, CreatedAt: t0},
			&gatehouse.RefreshToken{Hash: "h-" + id, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
}

func wantLiveSessions(t *testing.T, s gatehouse.Store, userID int64, want ...string) {
	t.Helper()
	ids, err := s.LiveSessions(context.Background(), userID)
	if err != nil || fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("LiveSessions(%d) = %v, %v; want %v", userID, ids, err, want)
	}
}

// testUpdateEndsSessions: a password change ends the user's sessions in
// its own transaction, all but the one asked to be kept, as RevokeSession
// would end each, and says which it ended.
func testUpdateEndsSessions(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "uma", gatehouse.RoleUser)
	other := mustCreate(t, s, "otto", gatehouse.RoleUser)
	sessionsOf(t, s, u.ID, "s1", "s2", "s3")
	sessionsOf(t, s, other.ID, "s4")
	if err := s.RevokeSession(ctx, "s3", t0); err != nil { // ended already
		t.Fatal(err)
	}
	start := latestChange(t, s)
	end := gatehouse.SessionEnd{At: t0.Add(time.Minute), Until: t0.Add(time.Hour), Except: "s2"}
	got, revs, err := s.UpdateUser(ctx, u.ID, gatehouse.UserEdit{
		Apply:       func(u *gatehouse.User) error { u.PasswordHash = "new"; return nil },
		EndSessions: &end,
	})
	if err != nil || got.PasswordHash != "new" {
		t.Fatalf("UpdateUser = %+v, %v", got, err)
	}
	want := gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: "s1", ExpiresAt: end.Until}
	if len(revs) != 1 || revs[0].Kind != want.Kind || revs[0].Value != want.Value || !revs[0].ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("ended %+v, want only %+v", revs, want)
	}
	wantLiveSessions(t, s, u.ID, "s2")
	wantLiveSessions(t, s, other.ID, "s4")
	rot, err := s.RotateRefreshToken(ctx, "h-s1", t0.Add(2*time.Minute), &gatehouse.RefreshToken{Hash: "n", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
	if err != nil || rot.Rotated || !rot.SessionRevoked {
		t.Fatalf("rotating an ended session's token: %+v, %v; want refused as revoked", rot, err)
	}
	stored, err := gatehouse.CollectRevocations(ctx, s, t0)
	if err != nil || len(stored) != 1 || stored[0].Value != "s1" || !stored[0].ExpiresAt.Equal(end.Until) {
		t.Fatalf("stored revocations %+v, %v; want s1's until %v", stored, err, end.Until)
	}
	var sawRev, sawUser bool
	for _, c := range changesSince(t, s, start) {
		sawRev = sawRev || c.Revocation != nil && c.Revocation.Value == "s1"
		sawUser = sawUser || c.UserID == u.ID
	}
	if !sawRev || !sawUser {
		t.Fatalf("change feed after the update: revocation of s1 %v, change of the user %v; want both", sawRev, sawUser)
	}
	// With no session left to end, none is.
	if _, revs, err := s.UpdateUser(ctx, other.ID, gatehouse.UserEdit{
		Apply:       func(*gatehouse.User) error { return nil },
		EndSessions: &gatehouse.SessionEnd{At: t0, Until: t0.Add(time.Hour), Except: "s4"},
	}); err != nil || len(revs) != 0 {
		t.Fatalf("ending all but the only session: %+v, %v; want none ended", revs, err)
	}
}

// testUpdateRefusedChangesNothing: an update refused by the last-admin
// rule, or by its own Apply, ends no session and records nothing.
func testUpdateRefusedChangesNothing(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	admin := mustCreate(t, s, "root", gatehouse.RoleAdmin)
	sessionsOf(t, s, admin.ID, "s1")
	start := latestChange(t, s)
	end := &gatehouse.SessionEnd{At: t0, Until: t0.Add(time.Hour)}
	for _, apply := range []func(*gatehouse.User) error{
		func(u *gatehouse.User) error { u.PasswordHash, u.Disabled = "new", true; return nil },
		func(u *gatehouse.User) error {
			u.PasswordHash = "new"
			return gatehouse.Errorf(gatehouse.EINVALID, "no")
		},
	} {
		_, revs, err := s.UpdateUser(ctx, admin.ID, gatehouse.UserEdit{Apply: apply, EndSessions: end})
		if err == nil || revs != nil {
			t.Fatalf("refused update: %+v, %v; want an error and nothing ended", revs, err)
		}
	}
	wantLiveSessions(t, s, admin.ID, "s1")
	if got, _ := s.UserByID(ctx, admin.ID); got.PasswordHash == "new" || got.Disabled {
		t.Fatalf("refused updates changed the user: %+v", got)
	}
	if cs := changesSince(t, s, start); len(cs) != 0 {
		t.Fatalf("refused updates recorded %+v", cs)
	}
	if revs, err := gatehouse.CollectRevocations(ctx, s, t0); err != nil || len(revs) != 0 {
		t.Fatalf("refused updates stored revocations %+v, %v", revs, err)
	}
}

// testUpdateClearsTwoFactor: an update that turns TOTPEnabled off (an
// admin's reset) removes the two-factor state with it; one that leaves it
// off leaves a pending enrolment alone.
func testUpdateClearsTwoFactor(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := enrolled(t, s, "kate")
	got, err := update(s, u.ID, func(u *gatehouse.User) error { u.TOTPEnabled = false; return nil })
	if err != nil || got.TOTPEnabled {
		t.Fatalf("UpdateUser = %+v, %v", got, err)
	}
	_, err = s.TOTP(ctx, u.ID)
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantTOTPEnabled(t, s, u.ID, false)
	if ok, err := s.UseRecoveryCode(ctx, u.ID, "c1"); err != nil || ok {
		t.Fatalf("a recovery code survived the reset: %v, %v", ok, err)
	}

	pending := mustCreate(t, s, "pat", gatehouse.RoleUser)
	if err := s.SetPendingTOTP(ctx, pending.ID, "p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := update(s, pending.ID, func(u *gatehouse.User) error { u.TOTPEnabled = false; u.Email = "p@example.com"; return nil }); err != nil {
		t.Fatal(err)
	}
	wantTOTP(t, s, gatehouse.TOTP{UserID: pending.ID, Pending: "p1"})
}
