package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

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
