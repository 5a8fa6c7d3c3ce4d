package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func testChangeFeed(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	start, err := s.LatestChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := mustCreate(t, s, "frank", gatehouse.RoleUser)
	mustCreate(t, s, "root", gatehouse.RoleAdmin)
	if _, err := update(s, u.ID, func(u *gatehouse.User) error { u.Disabled = true; return nil }); err != nil {
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
	if n, err := s.PurgeChanges(ctx, t0.Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge before the changes were recorded = %d, %v; want 0", n, err)
	}
	if kept := changesSince(t, s, 0); len(kept) != len(all) {
		t.Fatalf("purge before the changes were recorded left %d of %d changes", len(kept), len(all))
	}
	if n, err := s.PurgeChanges(ctx, t0.Add(time.Hour)); err != nil || n != int64(len(all)-1) {
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

// changesSince returns the change feed after seq.
func changesSince(t *testing.T, s gatehouse.Store, seq int64) []gatehouse.Change {
	t.Helper()
	cs, err := s.ChangesSince(context.Background(), seq, 100)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func latestChange(t *testing.T, s gatehouse.Store) int64 {
	t.Helper()
	seq, err := s.LatestChange(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// testChangeFeedRace polls the change feed while writers append to it: a
// poller that only asks for changes after the last it saw must still see
// every change, so none may become visible after a later one.
func testChangeFeedRace(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				rev := gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: fmt.Sprint(w, "-", i), ExpiresAt: t0}
				if err := s.AddRevocations(ctx, rev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var seen []int64
	var last int64
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true // one more poll after the last write
		default:
		}
		for _, c := range changesSince(t, s, last) {
			seen, last = append(seen, c.Seq), c.Seq
		}
	}
	all := changesSince(t, s, 0)
	if len(all) != writers*each || len(seen) != len(all) {
		t.Fatalf("the poller saw %d changes of %d (want %d)", len(seen), len(all), writers*each)
	}
}
