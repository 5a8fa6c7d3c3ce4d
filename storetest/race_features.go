package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// testLastAdminRace removes, at once, each of the only two enabled admins,
// in several rounds: one removal must win and the other be refused, or
// the server would be left with no admin.
func testLastAdminRace(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	demote := func(u *gatehouse.User) error { u.Role = gatehouse.RoleModerator; return nil }
	disable := func(u *gatehouse.User) error { u.Disabled = true; return nil }
	remove := []func(id int64) error{
		func(id int64) error { _, err := s.UpdateUser(ctx, id, demote); return err },
		func(id int64) error { _, err := s.UpdateUser(ctx, id, disable); return err },
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
