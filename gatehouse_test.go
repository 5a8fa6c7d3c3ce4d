package gatehouse_test

import (
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
