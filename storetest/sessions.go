package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

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
	rot, err := s.RotateRefreshToken(ctx, "old", t0.Add(time.Minute), next, []byte("sealed"), gatehouse.RefreshLimit{})
	if err != nil || !rot.Rotated || rot.SessionRevoked {
		t.Fatalf("rotate = %+v, %v", rot, err)
	}
	if next.SessionID != "sess-1" || next.UserID != u.ID || next.Scope != "read:items write:items" {
		t.Fatalf("successor not filled from the old token: %+v", next)
	}
	// Presenting it again: not rotated; the use time and sealed successor are returned.
	again, err := s.RotateRefreshToken(ctx, "old", t0.Add(2*time.Minute), &gatehouse.RefreshToken{Hash: "other", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, []byte("x"), gatehouse.RefreshLimit{})
	if err != nil || again.Rotated {
		t.Fatalf("second rotate = %+v, %v", again, err)
	}
	if !again.Old.UsedAt.Equal(t0.Add(time.Minute)) || string(again.Old.Successor) != "sealed" {
		t.Fatalf("second rotate saw UsedAt=%v successor=%q", again.Old.UsedAt, again.Old.Successor)
	}
	// The successor rotates in turn.
	rot2, err := s.RotateRefreshToken(ctx, "next", t0.Add(3*time.Minute), &gatehouse.RefreshToken{Hash: "third", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
	if err != nil || !rot2.Rotated {
		t.Fatalf("rotate successor = %+v, %v", rot2, err)
	}
	// "other" was never stored.
	_, err = s.RotateRefreshToken(ctx, "other", t0, &gatehouse.RefreshToken{Hash: "y"}, nil, gatehouse.RefreshLimit{})
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testRotateRace(t *testing.T, s gatehouse.Store) {
	newSession(t, s, "old", t0.Add(time.Hour))
	const n = 10
	rotated := race(t, n, func(i int) (bool, error) {
		next := &gatehouse.RefreshToken{Hash: fmt.Sprintf("next%d", i), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		rot, err := s.RotateRefreshToken(context.Background(), "old", t0.Add(time.Second), next, []byte{byte(i)}, gatehouse.RefreshLimit{})
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
	rot, err := s.RotateRefreshToken(ctx, "old", t0.Add(time.Hour), next(), nil, gatehouse.RefreshLimit{})
	if err != nil || rot.Rotated || !rot.Old.UsedAt.IsZero() {
		t.Fatalf("expired token: %+v, %v", rot, err)
	}
	if err := s.RevokeSession(ctx, "sess-1", t0); err != nil {
		t.Fatal(err)
	}
	rot, err = s.RotateRefreshToken(ctx, "old", t0.Add(time.Minute), next(), nil, gatehouse.RefreshLimit{})
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

func testPurgeSessions(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newSession(t, s, "old", t0.Add(time.Hour))
	n, err := s.PurgeSessions(ctx, t0.Add(30*time.Minute), t0)
	if err != nil || n != 0 {
		t.Fatalf("purge before expiry = %d, %v", n, err)
	}
	n, err = s.PurgeSessions(ctx, t0.Add(2*time.Hour), t0)
	if err != nil || n != 1 {
		t.Fatalf("purge after expiry = %d, %v", n, err)
	}
	_, err = s.RotateRefreshToken(ctx, "old", t0, &gatehouse.RefreshToken{Hash: "x"}, nil, gatehouse.RefreshLimit{})
	wantCode(t, err, gatehouse.ENOTFOUND)
}

// testPurgeSpentTokens: spent refresh tokens are purged once used before
// the time given, whatever their expiry; later spent ones stay, still
// recognised as spent, and the session with its live token.
func testPurgeSpentTokens(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newSession(t, s, "t0", t0.Add(time.Hour))
	for i := range 3 { // t0 → t1 → t2 → t3, one a minute
		next := &gatehouse.RefreshToken{Hash: fmt.Sprint("t", i+1), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if rot, err := s.RotateRefreshToken(ctx, fmt.Sprint("t", i), t0.Add(time.Duration(i+1)*time.Minute), next, nil, gatehouse.RefreshLimit{}); err != nil || !rot.Rotated {
			t.Fatalf("rotate t%d: %+v, %v", i, rot, err)
		}
	}
	n, err := s.PurgeSessions(ctx, t0.Add(5*time.Minute), t0.Add(150*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("purge of tokens spent before 2m30s = %d, %v; want t0 and t1", n, err)
	}
	probe := func(hash string) (gatehouse.Rotation, error) {
		return s.RotateRefreshToken(ctx, hash, t0.Add(6*time.Minute), &gatehouse.RefreshToken{Hash: "p-" + hash, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
	}
	for _, gone := range []string{"t0", "t1"} {
		_, err := probe(gone)
		wantCode(t, err, gatehouse.ENOTFOUND)
	}
	if rot, err := probe("t2"); err != nil || rot.Rotated || rot.Old.UsedAt.IsZero() {
		t.Fatalf("t2, spent after the cut: %+v, %v; want it kept and seen as spent", rot, err)
	}
	if rot, err := probe("t3"); err != nil || !rot.Rotated {
		t.Fatalf("the live token: %+v, %v; want it to rotate", rot, err)
	}
}

// testRotateLimited (contract §12): a session rotates at most Burst
// times at once and one more per Interval; a refused rotation changes
// nothing and says when to come back, and reuse of a spent token is
// still reported as such while the session is held back.
func testRotateLimited(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	newSession(t, s, "r0", t0.Add(time.Hour))
	limit := gatehouse.RefreshLimit{Interval: time.Minute, Burst: 2}
	rotate := func(from, to string, at time.Time) gatehouse.Rotation {
		t.Helper()
		rot, err := s.RotateRefreshToken(ctx, from, at, &gatehouse.RefreshToken{Hash: to, CreatedAt: at, ExpiresAt: t0.Add(time.Hour)}, []byte(to), limit)
		if err != nil {
			t.Fatalf("rotate %s: %v", from, err)
		}
		return rot
	}
	if !rotate("r0", "r1", t0).Rotated || !rotate("r1", "r2", t0).Rotated {
		t.Fatal("the burst was refused")
	}
	rot := rotate("r2", "r3", t0.Add(time.Second))
	if rot.Rotated || rot.RetryAfter != time.Minute-time.Second {
		t.Fatalf("beyond the burst: %+v; want refused, retry after 59s", rot)
	}
	if rot := rotate("r0", "x", t0.Add(time.Second)); rot.Rotated || rot.Old.UsedAt.IsZero() || rot.RetryAfter != 0 {
		t.Fatalf("a spent token presented while limited: %+v; want it reported spent", rot)
	}
	if rot := rotate("r2", "r3", t0.Add(time.Minute)); !rot.Rotated {
		t.Fatalf("after the interval: %+v; want the refused token, unspent, to rotate", rot)
	}
	if rot := rotate("r3", "r4", t0.Add(time.Minute)); rot.Rotated || rot.RetryAfter != time.Minute {
		t.Fatalf("the next at once: %+v; want refused for a minute", rot)
	}
	// Another session has a budget of its own.
	other := mustCreate(t, s, "ozzy", gatehouse.RoleUser)
	sessionsOf(t, s, other.ID, "os")
	if rot := rotate("h-os", "os1", t0.Add(time.Minute)); !rot.Rotated {
		t.Fatalf("another session: %+v", rot)
	}
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

// openBound opens session id of userID bound to cred, with one refresh
// token named after it.
func openBound(s gatehouse.Store, userID int64, id, cred string) error {
	return s.CreateSession(context.Background(), &gatehouse.Session{ID: id, UserID: userID, CreatedAt: t0, Credential: cred},
		&gatehouse.RefreshToken{Hash: "h-" + id, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
}

// testCreateSessionChecksTheCredential: a session bound to a password hash
// the user no longer has, or to a user who is gone, is not opened and
// stores nothing; one bound to the current hash, or to none, is.
func testCreateSessionChecksTheCredential(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "cora", gatehouse.RoleUser)
	old := gatehouse.CredentialFingerprint(u.PasswordHash)
	if _, err := update(s, u.ID, func(u *gatehouse.User) error { u.PasswordHash = "$argon2id$new"; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		userID int64
		cred   string
		ok     bool
	}{
		{"the hash before the change", u.ID, old, false},
		{"a hash never stored", u.ID, gatehouse.CredentialFingerprint("$argon2id$other"), false},
		{"a user who does not exist", u.ID + 1000, old, false},
		{"the current hash", u.ID, gatehouse.CredentialFingerprint("$argon2id$new"), true},
		{"no credential", u.ID, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "s-" + strings.ReplaceAll(tt.name, " ", "-")
			err := openBound(s, tt.userID, id, tt.cred)
			if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, gatehouse.ErrCredentialChanged) {
				t.Fatalf("CreateSession = %v; want opened %v, else ErrCredentialChanged", err, tt.ok)
			}
			_, err = s.RotateRefreshToken(ctx, "h-"+id, t0.Add(time.Second), &gatehouse.RefreshToken{Hash: "n-" + id, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
			if tt.ok != (err == nil) {
				t.Fatalf("its refresh token: %v; want stored %v", err, tt.ok)
			}
		})
	}
}

// testPasswordChangeRacesLogins (issue 9 finding 3, contract §12): logins
// that verified the old password keep opening sessions while the password
// is changed with every session ended. Each opens its session either
// before the change, which then ends it, or not at all: none opened with
// the old credential is live afterwards, and those opened after the change
// with the new one are.
func testPasswordChangeRacesLogins(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "rhea", gatehouse.RoleUser)
	oldCred := gatehouse.CredentialFingerprint(u.PasswordHash)
	const logins = 4
	var (
		mu     sync.Mutex
		opened []string // sessions opened with the old credential
		wg     sync.WaitGroup
		done   atomic.Bool
	)
	start := make(chan struct{})
	for i := range logins {
		wg.Go(func() {
			<-start
			// Keep logging in until the change is over, and a few times
			// after, so that some logins start after it.
			for n, after := 0, 0; after < 3; n++ {
				if done.Load() {
					after++
				}
				id := fmt.Sprintf("s%d-%d", i, n)
				err := openBound(s, u.ID, id, oldCred)
				switch {
				case err == nil:
					mu.Lock()
					opened = append(opened, id)
					mu.Unlock()
				case !errors.Is(err, gatehouse.ErrCredentialChanged):
					t.Errorf("CreateSession: %v", err)
					return
				}
			}
		})
	}
	close(start)
	time.Sleep(5 * time.Millisecond) // let some logins open sessions first; the property holds however they interleave
	end := gatehouse.SessionEnd{At: t0, Until: t0.Add(time.Hour)}
	_, ended, err := s.UpdateUser(ctx, u.ID, gatehouse.UserEdit{
		Apply:       func(u *gatehouse.User) error { u.PasswordHash = "$argon2id$changed"; return nil },
		EndSessions: &end,
	})
	done.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.LiveSessions(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Fatalf("%d sessions opened with the old password outlived its change: %v (%d opened, %d ended)", len(live), live, len(opened), len(ended))
	}
	if len(ended) != len(opened) {
		t.Fatalf("the change ended %d sessions; %d were opened with the old password before it", len(ended), len(opened))
	}
	if err := openBound(s, u.ID, "after", gatehouse.CredentialFingerprint("$argon2id$changed")); err != nil {
		t.Fatalf("a login with the new password: %v", err)
	}
	wantLiveSessions(t, s, u.ID, "after")
}
