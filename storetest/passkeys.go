package storetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

var passkeyTests = []storeTest{
	{"passkeys: stored whole, found by credential id, listed oldest first per user", testPasskeys},
	{"passkeys: a taken credential id is a conflict, whoever holds it, and stores nothing", testPasskeyConflict},
	{"passkeys: the cap counts the one user's passkeys only", testPasskeyCap},
	{"passkeys: concurrent registrations cannot pass the cap together", testPasskeyCapRace},
	{"passkeys: a use advances the counter only from the counter read (compare-and-set)", testUsePasskey},
	{"passkeys: concurrent uses that read one counter: exactly one wins", testUsePasskeyRace},
	{"passkeys: rename and delete touch only the owner's passkey", testPasskeyOwner},
	{"passkeys: deleting the user deletes its passkeys", testPasskeysGoWithUser},
}

func newPasskey(userID int64, id string, at time.Time) *gatehouse.Passkey {
	return &gatehouse.Passkey{ID: []byte(id), UserID: userID, Name: "key " + id, PublicKey: []byte("cose:" + id),
		SignCount: 5, Transports: []string{"internal", "hybrid"}, AAGUID: bytes.Repeat([]byte{0xAA}, 16),
		BackupEligible: true, BackupState: false, UVInitialized: true, AttestationFormat: "none", CreatedAt: at}
}

func mustCreatePasskey(t *testing.T, s gatehouse.Store, p *gatehouse.Passkey) {
	t.Helper()
	if err := s.CreatePasskey(context.Background(), p, 0); err != nil {
		t.Fatalf("CreatePasskey(%q): %v", p.ID, err)
	}
}

func passkeyIDs(list []*gatehouse.Passkey) []string {
	out := []string{}
	for _, p := range list {
		out = append(out, string(p.ID))
	}
	return out
}

func testPasskeys(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	a, b := mustCreate(t, s, "ana", gatehouse.RoleUser), mustCreate(t, s, "ben", gatehouse.RoleUser)
	// Credential ids are arbitrary bytes, NUL and 0xFF included.
	bin := string([]byte{0, 0xFF, 'x', 0})
	mustCreatePasskey(t, s, newPasskey(a.ID, "second", t0.Add(time.Second)))
	binary := newPasskey(a.ID, bin, t0)
	binary.Name = "binary id" // names are text
	mustCreatePasskey(t, s, binary)
	mustCreatePasskey(t, s, newPasskey(b.ID, "ben's", t0))
	noTime := newPasskey(a.ID, "third", time.Time{})
	noTime.AAGUID, noTime.Transports = nil, nil
	mustCreatePasskey(t, s, noTime)
	if !noTime.CreatedAt.Equal(t0) {
		t.Fatalf("CreatedAt of a passkey created without one = %v, want the store's clock %v", noTime.CreatedAt, t0)
	}

	got, err := s.PasskeyByID(ctx, []byte(bin))
	if err != nil {
		t.Fatal(err)
	}
	want := newPasskey(a.ID, bin, t0)
	want.Name = "binary id"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PasskeyByID = %+v\nwant %+v", got, want)
	}
	if got, err := s.PasskeyByID(ctx, []byte("third")); err != nil || len(got.AAGUID) != 0 || len(got.Transports) != 0 {
		t.Fatalf("a passkey without AAGUID and transports reads back as %+v, %v", got, err)
	}
	_, err = s.PasskeyByID(ctx, []byte("nothing"))
	wantCode(t, err, gatehouse.ENOTFOUND)
	_, err = s.PasskeyByID(ctx, []byte(bin[:2])) // a prefix is another id
	wantCode(t, err, gatehouse.ENOTFOUND)

	list, err := s.PasskeysByUser(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := passkeyIDs(list), []string{bin, "third", "second"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("PasskeysByUser = %q, want oldest first %q", got, want)
	}
	if n, err := s.CountPasskeys(ctx, a.ID); err != nil || n != 3 {
		t.Fatalf("CountPasskeys = %d, %v; want 3", n, err)
	}
	if list, err := s.PasskeysByUser(ctx, 999); err != nil || len(list) != 0 {
		t.Fatalf("passkeys of a user with none: %d, %v", len(list), err)
	}
}

func testPasskeyConflict(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	a, b := mustCreate(t, s, "ana", gatehouse.RoleUser), mustCreate(t, s, "ben", gatehouse.RoleUser)
	mustCreatePasskey(t, s, newPasskey(a.ID, "cred", t0))
	for _, owner := range []int64{a.ID, b.ID} {
		dup := newPasskey(owner, "cred", t0.Add(time.Minute))
		dup.Name = "impostor"
		wantCode(t, s.CreatePasskey(ctx, dup, 0), gatehouse.ECONFLICT)
	}
	got, err := s.PasskeyByID(ctx, []byte("cred"))
	if err != nil || got.UserID != a.ID || got.Name != "key cred" {
		t.Fatalf("after the conflicts the passkey is %+v, %v", got, err)
	}
	if n, _ := s.CountPasskeys(ctx, b.ID); n != 0 {
		t.Fatalf("the refused registration stored %d passkeys", n)
	}
}

func testPasskeyCap(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	a, b := mustCreate(t, s, "ana", gatehouse.RoleUser), mustCreate(t, s, "ben", gatehouse.RoleUser)
	for i := range 2 {
		if err := s.CreatePasskey(ctx, newPasskey(a.ID, fmt.Sprintf("a%d", i), t0), 2); err != nil {
			t.Fatal(err)
		}
	}
	err := s.CreatePasskey(ctx, newPasskey(a.ID, "a2", t0), 2)
	wantCode(t, err, gatehouse.ECONFLICT)
	if _, err := s.PasskeyByID(ctx, []byte("a2")); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("the passkey over the cap was stored: %v", err)
	}
	if err := s.CreatePasskey(ctx, newPasskey(b.ID, "b0", t0), 2); err != nil {
		t.Fatalf("another user's passkeys count against ben's cap: %v", err)
	}
	if err := s.DeletePasskey(ctx, a.ID, []byte("a0")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePasskey(ctx, newPasskey(a.ID, "a2", t0), 2); err != nil {
		t.Fatalf("after a deletion, a registration under the cap: %v", err)
	}
}

func testPasskeyCapRace(t *testing.T, s gatehouse.Store) {
	u := mustCreate(t, s, "ana", gatehouse.RoleUser)
	const max = 3
	wins := race(t, 12, func(i int) (bool, error) {
		err := s.CreatePasskey(context.Background(), newPasskey(u.ID, fmt.Sprintf("r%d", i), t0), max)
		if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
			return false, nil
		}
		return err == nil, err
	})
	if wins != max {
		t.Fatalf("%d of 12 concurrent registrations succeeded under a cap of %d", wins, max)
	}
}

func testUsePasskey(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, "ana", gatehouse.RoleUser)
	mustCreatePasskey(t, s, newPasskey(a.ID, "cred", t0)) // counter 5
	at := t0.Add(time.Hour)

	// A stale counter changes nothing.
	if ok, err := s.UsePasskey(ctx, []byte("cred"), gatehouse.PasskeyUse{OldCount: 4, NewCount: 9, BackupState: true, At: at}); err != nil || ok {
		t.Fatalf("UsePasskey from a stale counter = %v, %v; want false", ok, err)
	}
	if got, _ := s.PasskeyByID(ctx, []byte("cred")); got.SignCount != 5 || got.BackupState || !got.LastUsedAt.IsZero() {
		t.Fatalf("a refused use changed the passkey: %+v", got)
	}
	// From the counter read, it advances, with the backup state and the
	// time; the full uint32 range is kept.
	if ok, err := s.UsePasskey(ctx, []byte("cred"), gatehouse.PasskeyUse{OldCount: 5, NewCount: 0xFFFFFFF0, BackupState: true, At: at}); err != nil || !ok {
		t.Fatalf("UsePasskey = %v, %v; want true", ok, err)
	}
	got, _ := s.PasskeyByID(ctx, []byte("cred"))
	if got.SignCount != 0xFFFFFFF0 || !got.BackupState || !got.LastUsedAt.Equal(at) {
		t.Fatalf("after a use: count %d, backup state %v, last use %v", got.SignCount, got.BackupState, got.LastUsedAt)
	}
	// The old counter no longer matches: a replay of that use fails.
	if ok, err := s.UsePasskey(ctx, []byte("cred"), gatehouse.PasskeyUse{OldCount: 5, NewCount: 6, At: at}); err != nil || ok {
		t.Fatalf("a second use from the same counter = %v, %v; want false", ok, err)
	}
	_, err := s.UsePasskey(ctx, []byte("gone"), gatehouse.PasskeyUse{NewCount: 1, At: at})
	wantCode(t, err, gatehouse.ENOTFOUND)
}

func testUsePasskeyRace(t *testing.T, s gatehouse.Store) {
	a := mustCreate(t, s, "ana", gatehouse.RoleUser)
	mustCreatePasskey(t, s, newPasskey(a.ID, "cred", t0))
	wins := race(t, 10, func(i int) (bool, error) {
		return s.UsePasskey(context.Background(), []byte("cred"), gatehouse.PasskeyUse{OldCount: 5, NewCount: uint32(6 + i), At: t0})
	})
	if wins != 1 {
		t.Fatalf("%d concurrent uses from one counter succeeded, want exactly 1", wins)
	}
}

func testPasskeyOwner(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	a, b := mustCreate(t, s, "ana", gatehouse.RoleUser), mustCreate(t, s, "ben", gatehouse.RoleUser)
	mustCreatePasskey(t, s, newPasskey(a.ID, "cred", t0))
	wantCode(t, s.RenamePasskey(ctx, b.ID, []byte("cred"), "mine now"), gatehouse.ENOTFOUND)
	wantCode(t, s.DeletePasskey(ctx, b.ID, []byte("cred")), gatehouse.ENOTFOUND)
	if got, err := s.PasskeyByID(ctx, []byte("cred")); err != nil || got.Name != "key cred" {
		t.Fatalf("another user's rename or delete changed the passkey: %+v, %v", got, err)
	}
	if err := s.RenamePasskey(ctx, a.ID, []byte("cred"), "laptop"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PasskeyByID(ctx, []byte("cred")); got.Name != "laptop" {
		t.Fatalf("name after rename: %q", got.Name)
	}
	if err := s.DeletePasskey(ctx, a.ID, []byte("cred")); err != nil {
		t.Fatal(err)
	}
	_, err := s.PasskeyByID(ctx, []byte("cred"))
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantCode(t, s.DeletePasskey(ctx, a.ID, []byte("cred")), gatehouse.ENOTFOUND)
	wantCode(t, s.RenamePasskey(ctx, a.ID, []byte("cred"), "x"), gatehouse.ENOTFOUND)
}

func testPasskeysGoWithUser(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	mustCreate(t, s, "root", gatehouse.RoleAdmin)
	a := mustCreate(t, s, "ana", gatehouse.RoleUser)
	mustCreatePasskey(t, s, newPasskey(a.ID, "cred", t0))
	if err := s.DeleteUser(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.PasskeyByID(ctx, []byte("cred"))
	wantCode(t, err, gatehouse.ENOTFOUND)
}
