// Package storetest is the conformance suite every gatehouse.Store backend
// must pass: SQLite always, PostgreSQL when its test database is
// configured. It checks the contracts' documented behaviour, including the
// races that matter — two concurrent rotations of one refresh token, two
// concurrent creations of one username — where exactly one may win.
package storetest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Run runs the suite. open returns a new, empty store for each subtest,
// reading the time it records itself from now (a clock stopped at t0).
func Run(t *testing.T, open func(t *testing.T, now func() time.Time) gatehouse.Store) {
	tests := []storeTest{
		{"unknown ids and names are not found", testNotFound},
		{"the times a store records itself come from its clock", testClock},
		{"a closed store is unavailable, to reads as to writes", testClosedIsUnavailable},

		// users.go
		{"create and read a user", testCreateUser},
		{"usernames are unique after NFKC and case folding", testUsernameUnique},
		{"concurrent creation of one username: exactly one wins", testUsernameRace},
		{"update applies in a transaction and keeps the last admin", testUpdateUser},
		{"delete removes the user and keeps the last admin", testDeleteUser},
		{"list pages by id", testListUsers},
		{"concurrent removal of the last two admins: exactly one wins", testLastAdminRace},
		{"update: ending sessions revokes the user's live ones but the one kept", testUpdateEndsSessions},
		{"update: a refused change ends no session and records nothing", testUpdateRefusedChangesNothing},
		{"update: turning two-factor off removes its state", testUpdateClearsTwoFactor},

		// sessions.go
		{"refresh rotation marks used and stores the successor", testRotate},
		{"concurrent rotation of one refresh token: exactly one wins", testRotateRace},
		{"expired and revoked refresh tokens do not rotate", testRotateRefused},
		{"purge removes expired refresh tokens and empty sessions", testPurgeSessions},
		{"purge removes refresh tokens spent before the time given", testPurgeSpentTokens},
		{"a session's rotations are rate limited; reuse is still seen", testRotateLimited},
		{"live sessions are the user's unrevoked ones", testLiveSessions},
		{"a session bound to a changed password is not opened", testCreateSessionChecksTheCredential},
		{"a password change racing logins: none that checked the old password stays open", testPasswordChangeRacesLogins},

		// revocations.go, settings.go, changes.go
		{"revocations are stored, listed while live and purged", testRevocations},
		{"revocations stream in full, are counted, and a walk stops at its callback's error", testRevocationStream},
		{"settings: first value wins", testSettings},
		{"settings: a swap changes only the value named, one racer wins", testSwapSetting},
		{"change feed records user changes and revocations in order", testChangeFeed},
		{"change feed: a poller racing writers misses no change", testChangeFeedRace},

		// apikeys.go
		{"api keys: stored, found by lookup id, listed newest first", testAPIKeys},
		{"api keys: a taken lookup id is a conflict and stores nothing", testAPIKeyConflict},
		{"api keys: deactivation records a change with the key's id", testDeactivateAPIKey},
		{"api keys: touch sets last use and never moves it backwards", testTouchAPIKeys},
		{"api keys: the cap counts live keys of the one user only", testAPIKeyCap},
		{"api keys: concurrent creations cannot pass the cap together", testAPIKeyCapRace},

		// items.go
		{"items: listed by owner, oldest first, up to the limit", testItems},

		// totp.go
		{"totp: pending secret, enable, then each step accepted once", testTOTPLifecycle},
		{"totp: enabling a stale pending secret is a conflict and changes nothing", testEnableTOTPStale},
		{"totp: re-enrolling keeps the enabled secret until verified", testTOTPReenrol},
		{"totp: concurrent use of one step: exactly one wins", testTOTPStepRace},
		{"totp: recovery codes are single use, per user, and replaced", testRecoveryCodes},
		{"totp: concurrent use of one recovery code: exactly one wins", testRecoveryCodeRace},
		{"totp: disable removes all two-factor state", testDisableTOTP},
		{"totp: a secret is resealed only if unchanged", testResealTOTP},

		// nonces.go
		{"nonces: first use only, forgotten once purged after expiry", testNonces},
		{"nonces: concurrent use of one nonce: exactly one wins", testNonceRace},

		// audit.go
		{"audit: events filtered by user, type and time, paged newest first", testAuditEvents},
		{"audit: purge deletes events older than t", testPurgeAudit},
		{"audit: non-ASCII text is stored and read back unchanged", testAuditNonASCII},
		{"audit: a summary's count is kept; an event without one counts once", testAuditCount},
	}
	for _, tt := range slices.Concat(tests, signingKeyTests, sessionInfoTests, passkeyTests, oauthTests, refreshInfoTests) {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t, func() time.Time { return t0 })) })
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

func testNotFound(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	_, err := s.UserByID(ctx, 12345)
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.UserByUsername(ctx, "nobody")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = update(s, 12345, func(*gatehouse.User) error { return nil })
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.DeleteUser(ctx, 12345), gatehouse.ENOTFOUND)
	_, err = s.Setting(ctx, "nothing")
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.RotateRefreshToken(ctx, "nohash", t0, &gatehouse.RefreshToken{Hash: "x"}, nil, gatehouse.RefreshLimit{})
	wantCode(t, err, gatehouse.ENOTFOUND)
}

// testClock checks that a store takes the times it sets from the clock it
// was given (t0), not from the machine's: creation and update times, and
// the change feed's, which PurgeChanges compares.
func testClock(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "clara", gatehouse.RoleUser)
	got, err := s.UserByID(ctx, u.ID)
	if err != nil || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Fatalf("new user: created %v, updated %v (%v); want %v", got.CreatedAt, got.UpdatedAt, err, t0)
	}
	if u, err = update(s, u.ID, func(u *gatehouse.User) error { u.Email = "c@example.com"; return nil }); err != nil || !u.UpdatedAt.Equal(t0) {
		t.Fatalf("updated user: %+v, %v; want UpdatedAt %v", u, err, t0)
	}
	it := &gatehouse.Item{OwnerID: u.ID, Name: "thing"}
	if err := s.CreateItem(ctx, it); err != nil || !it.CreatedAt.Equal(t0) {
		t.Fatalf("new item: %+v, %v; want CreatedAt %v", it, err, t0)
	}
	k := newAPIKey(u.ID, "lk", time.Time{})
	mustCreateAPIKey(t, s, k)
	if got := mustAPIKey(t, s, "lk"); !got.CreatedAt.Equal(t0) {
		t.Fatalf("new API key without a time: CreatedAt %v, want %v", got.CreatedAt, t0)
	}
	if err := s.DeactivateAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	// Two changes (the update and the deactivation), recorded at t0: none
	// is older than t0, both but the newest are older than just after it.
	if n, err := s.PurgeChanges(ctx, t0); err != nil || n != 0 {
		t.Fatalf("PurgeChanges(t0) = %d, %v; want 0", n, err)
	}
	if n, err := s.PurgeChanges(ctx, t0.Add(time.Microsecond)); err != nil || n != 1 {
		t.Fatalf("PurgeChanges(t0 + 1µs) = %d, %v; want 1", n, err)
	}
}

// testClosedIsUnavailable: a store that cannot answer says so with
// EUNAVAILABLE (503) from every method, reads as well as writes, whatever
// the backend; a closed store is the case every backend can produce.
func testClosedIsUnavailable(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "cleo", gatehouse.RoleUser)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"UserByID", func() error { _, err := s.UserByID(ctx, u.ID); return err }},
		{"UserByUsername", func() error { _, err := s.UserByUsername(ctx, "cleo"); return err }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx, 0, 10); return err }},
		{"CountUsers", func() error { _, err := s.CountUsers(ctx); return err }},
		{"UpdateUser", func() error { _, err := update(s, u.ID, func(*gatehouse.User) error { return nil }); return err }},
		{"LiveSessions", func() error { _, err := s.LiveSessions(ctx, u.ID); return err }},
		{"RotateRefreshToken", func() error {
			_, err := s.RotateRefreshToken(ctx, "h", t0, &gatehouse.RefreshToken{Hash: "n"}, nil, gatehouse.RefreshLimit{})
			return err
		}},
		{"Revocations", func() error { _, err := gatehouse.CollectRevocations(ctx, s, t0); return err }},
		{"CountRevocations", func() error { _, err := s.CountRevocations(ctx, t0); return err }},
		{"LatestChange", func() error { _, err := s.LatestChange(ctx); return err }},
		{"ChangesSince", func() error { _, err := s.ChangesSince(ctx, 0, 10); return err }},
		{"Setting", func() error { _, err := s.Setting(ctx, "k"); return err }},
		{"APIKeyByLookup", func() error { _, err := s.APIKeyByLookup(ctx, "lk"); return err }},
		{"APIKeysByUser", func() error { _, err := s.APIKeysByUser(ctx, u.ID); return err }},
		{"ItemsByOwner", func() error { _, err := s.ItemsByOwner(ctx, u.ID, 10); return err }},
		{"TOTP", func() error { _, err := s.TOTP(ctx, u.ID); return err }},
		{"NonceUsed", func() error { _, err := s.NonceUsed(ctx, "n"); return err }},
		{"AuditEvents", func() error { _, err := s.AuditEvents(ctx, gatehouse.AuditFilter{}); return err }},
		{"SigningKeys", func() error { _, err := s.SigningKeys(ctx); return err }},
		{"PasskeyByID", func() error { _, err := s.PasskeyByID(ctx, []byte("id")); return err }},
		{"PasskeysByUser", func() error { _, err := s.PasskeysByUser(ctx, u.ID); return err }},
		{"CountPasskeys", func() error { _, err := s.CountPasskeys(ctx, u.ID); return err }},
		{"UsePasskey", func() error { _, err := s.UsePasskey(ctx, []byte("id"), gatehouse.PasskeyUse{At: t0}); return err }},
		{"Ping", func() error { return s.Ping(ctx) }},
	}
	for _, c := range calls {
		if err := c.call(); gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Errorf("%s on a closed store: %v (code %q); want EUNAVAILABLE", c.name, err, gatehouse.ErrorCode(err))
		}
	}
}
