package storetest

import (
	"context"
	"errors"
	"fmt"
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
	revs, err := gatehouse.CollectRevocations(ctx, s, t0)
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
	revs, err = gatehouse.CollectRevocations(ctx, s, t0.Add(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].Kind != later.Kind || revs[0].Value != later.Value || !revs[0].ExpiresAt.Equal(later.ExpiresAt) {
		t.Fatalf("revocations after storing %+v then %+v = %+v, want only the first", later, earlier, revs)
	}
}

// testRevocationStream: EachRevocation hands over every live revocation
// once, many of them across batches of the driver, CountRevocations counts
// the same ones, and fn's first error stops the walk and is returned as is.
func testRevocationStream(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	const n = 2500
	revs := make([]gatehouse.Revocation, 0, n+1)
	for i := range n {
		kind := gatehouse.RevokeToken
		if i%5 == 0 {
			kind = gatehouse.RevokeSession
		}
		revs = append(revs, gatehouse.Revocation{Kind: kind, Value: fmt.Sprintf("stream-%d", i), ExpiresAt: t0.Add(time.Hour)})
	}
	revs = append(revs, gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: "stream-dead", ExpiresAt: t0.Add(-time.Second)})
	if err := s.AddRevocations(ctx, revs...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	err := s.EachRevocation(ctx, t0, func(r gatehouse.Revocation) error {
		seen[r.Kind+":"+r.Value]++
		if !r.ExpiresAt.Equal(t0.Add(time.Hour)) {
			return fmt.Errorf("%+v: expiry %v, want %v", r, r.ExpiresAt, t0.Add(time.Hour))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("EachRevocation gave %d distinct revocations, want %d", len(seen), n)
	}
	for i, r := range revs[:n] {
		if seen[r.Kind+":"+r.Value] != 1 {
			t.Fatalf("revocation %d (%+v) seen %d times", i, r, seen[r.Kind+":"+r.Value])
		}
	}
	if c, err := s.CountRevocations(ctx, t0); err != nil || c != n {
		t.Fatalf("CountRevocations = %d, %v; want %d", c, err, n)
	}
	if c, err := s.CountRevocations(ctx, t0.Add(2*time.Hour)); err != nil || c != 0 {
		t.Fatalf("CountRevocations after they expired = %d, %v; want 0", c, err)
	}
	stop := errors.New("enough")
	calls := 0
	err = s.EachRevocation(ctx, t0, func(gatehouse.Revocation) error {
		if calls++; calls == 10 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 10 {
		t.Fatalf("EachRevocation stopped by fn: err %v after %d calls; want %v after 10", err, calls, stop)
	}
	// The store is usable afterwards: the walk's rows were released.
	if err := s.AddRevocations(ctx, gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: "after-stop", ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}
