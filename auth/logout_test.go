package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

// TestLogoutStoresOneRevocationCoveringTheToken: a logout stores the
// session's revocation alone, and it lasts at least as long as the token
// presented (one issued under a longer lifetime included) and every other
// token of the session.
func TestLogoutStoresOneRevocationCoveringTheToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.user(t, "alice", gatehouse.RoleUser)
	now := f.clock.Now()
	for _, tt := range []struct {
		name    string
		expires time.Time
		want    time.Time
	}{
		{"a token of the current lifetime", time.Time{}, now.Add(15*time.Minute + auth.Leeway)},
		{"a token issued under a longer lifetime", now.Add(2 * time.Hour), now.Add(2*time.Hour + auth.Leeway)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at := f.login(t, "alice")
			p, err := f.svc.Authenticate(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.expires.IsZero() {
				p.ExpiresAt = tt.expires
			}
			before, _ := f.db.Revocations(ctx, now)
			if err := f.svc.Logout(ctx, p); err != nil {
				t.Fatal(err)
			}
			after, err := f.db.Revocations(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before)+1 {
				t.Fatalf("logout stored %d revocations, want 1: %+v", len(after)-len(before), after)
			}
			for _, r := range after {
				if r.Kind == gatehouse.RevokeSession && r.Value == p.SessionID {
					if r.ExpiresAt.Before(tt.want) {
						t.Fatalf("the session's revocation lasts until %v, want at least %v", r.ExpiresAt, tt.want)
					}
					if _, err := f.svc.Authenticate(ctx, at); gatehouse.ErrorMessage(err) != "Token has been revoked" {
						t.Fatalf("the logged-out token: %v", err)
					}
					return
				}
			}
			t.Fatalf("no revocation of the session among %+v", after)
		})
	}
}
