package gatehouse_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// TestUserSnapshotIsFrozen: nothing done with the user a snapshot was
// made from, or with what it gives out, changes the snapshot.
func TestUserSnapshotIsFrozen(t *testing.T) {
	u := &gatehouse.User{ID: 7, Username: "alice", Role: gatehouse.RoleModerator, Permissions: []string{gatehouse.PermReadUsers}}
	s := gatehouse.NewUserSnapshot(u)

	u.Role, u.Permissions[0] = gatehouse.RoleAdmin, gatehouse.PermDeleteUsers
	got := s.User()
	got.Username, got.Permissions[0] = "mallory", gatehouse.PermWriteUsers

	again := s.User()
	if again.ID != 7 || again.Username != "alice" || again.Role != gatehouse.RoleModerator ||
		!slices.Equal(again.Permissions, []string{gatehouse.PermReadUsers}) {
		t.Fatalf("snapshot now gives %+v, want the user as it was frozen", again)
	}
	if again == got {
		t.Fatal("User returned the same copy twice")
	}
	if empty := gatehouse.NewUserSnapshot(&gatehouse.User{}).User(); empty.Permissions != nil {
		t.Fatalf("no permissions became %#v", empty.Permissions)
	}
}

func TestUserSnapshotMemo(t *testing.T) {
	u := &gatehouse.User{ID: 7, Username: "ann"}
	s := gatehouse.NewUserSnapshot(u)
	calls := 0
	enc := func(u *gatehouse.User) ([]byte, error) { calls++; return []byte(u.Username), nil }
	for range 3 {
		if b, err := s.Memo(enc); err != nil || string(b) != "ann" {
			t.Fatalf("Memo = %q, %v", b, err)
		}
	}
	if calls != 1 {
		t.Fatalf("encoded %d times, want once per snapshot", calls)
	}
	u.Username = "bob" // the snapshot froze a copy: its memo and user stay
	if b, _ := s.Memo(enc); string(b) != "ann" {
		t.Fatalf("Memo after the source changed = %q", b)
	}
	if b, _ := gatehouse.NewUserSnapshot(u).Memo(enc); string(b) != "bob" || calls != 2 {
		t.Fatalf("a new snapshot's Memo = %q after %d encodings", b, calls)
	}
	failing := gatehouse.NewUserSnapshot(u)
	if _, err := failing.Memo(func(*gatehouse.User) ([]byte, error) { return nil, errors.New("boom") }); err == nil {
		t.Fatal("an encoding error must be returned")
	}
	if b, _ := failing.Memo(enc); string(b) != "bob" {
		t.Fatalf("a failed encoding must not be kept: got %q", b)
	}
}
