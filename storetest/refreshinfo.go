package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// refreshInfoTests cover gatehouse.RefreshTokenReader.
var refreshInfoTests = []storeTest{
	{"a live refresh token is read, with its client, without being spent", testLiveRefreshToken},
}

func testLiveRefreshToken(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "rti", gatehouse.RoleUser)
	mustCreateClient(t, s, newClient("rti-app"))
	createSession(t, s, &gatehouse.Session{ID: "rti-oa", UserID: u.ID, Scope: "openid offline_access", CreatedAt: t0,
		Kind: gatehouse.SessionOAuth, ClientID: "rti-app", AuthTime: t0, AMR: "pwd"}, t0.Add(time.Hour))
	createSession(t, s, &gatehouse.Session{ID: "rti-fp", UserID: u.ID, Scope: "read:items", CreatedAt: t0}, t0.Add(time.Hour))

	rt, client, err := s.LiveRefreshToken(ctx, "h-rti-oa", t0)
	if err != nil || client != "rti-app" || rt.SessionID != "rti-oa" || rt.UserID != u.ID || rt.Scope != "openid offline_access" ||
		!rt.ExpiresAt.Equal(t0.Add(time.Hour)) || !rt.CreatedAt.Equal(t0) {
		t.Fatalf("LiveRefreshToken(oauth) = %+v, %q, %v", rt, client, err)
	}
	if _, client, err := s.LiveRefreshToken(ctx, "h-rti-fp", t0); err != nil || client != "" {
		t.Fatalf("LiveRefreshToken(first-party) = %q, %v", client, err)
	}
	// Reading spends nothing: the token still rotates.
	next := &gatehouse.RefreshToken{Hash: "h-rti-oa-2", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	rot, err := s.RotateRefreshToken(ctx, "h-rti-oa", t0, next, []byte("sealed"), gatehouse.RefreshLimit{})
	if err != nil || !rot.Rotated {
		t.Fatalf("rotation after a read = %+v, %v", rot, err)
	}
	for name, tt := range map[string]struct {
		hash string
		now  time.Time
	}{
		"spent":   {"h-rti-oa", t0},
		"expired": {"h-rti-oa-2", t0.Add(time.Hour)},
		"unknown": {"nope", t0},
	} {
		if _, _, err := s.LiveRefreshToken(ctx, tt.hash, tt.now); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			t.Errorf("%s: %v, want ENOTFOUND", name, err)
		}
	}
	if err := s.RevokeSession(ctx, "rti-oa", t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LiveRefreshToken(ctx, "h-rti-oa-2", t0); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Errorf("token of a revoked session: %v, want ENOTFOUND", err)
	}
}
