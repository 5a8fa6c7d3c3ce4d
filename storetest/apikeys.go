package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func newAPIKey(userID int64, lookup string, created time.Time) *gatehouse.APIKey {
	return &gatehouse.APIKey{UserID: userID, Name: "key " + lookup, LookupID: lookup, SecretHash: []byte("mac-" + lookup),
		Scope: gatehouse.ScopeReadItems, CreatedAt: created, Active: true}
}

func mustCreateAPIKey(t *testing.T, s gatehouse.Store, k *gatehouse.APIKey) {
	t.Helper()
	if err := s.CreateAPIKey(context.Background(), k, 0); err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", k.LookupID, err)
	}
}

func mustAPIKey(t *testing.T, s gatehouse.Store, lookup string) *gatehouse.APIKey {
	t.Helper()
	k, err := s.APIKeyByLookup(context.Background(), lookup)
	if err != nil {
		t.Fatalf("APIKeyByLookup(%q): %v", lookup, err)
	}
	return k
}

func testAPIKeys(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "gina", gatehouse.RoleUser)
	other := mustCreate(t, s, "hank", gatehouse.RoleUser)
	first := newAPIKey(u.ID, "lk1", t0)
	first.ExpiresAt = t0.Add(24 * time.Hour)
	mustCreateAPIKey(t, s, first)
	if first.ID == 0 {
		t.Fatal("CreateAPIKey did not set ID")
	}
	second := newAPIKey(u.ID, "lk2", t0.Add(time.Minute))
	mustCreateAPIKey(t, s, second)
	mustCreateAPIKey(t, s, newAPIKey(other.ID, "lk3", t0))

	got := mustAPIKey(t, s, "lk1")
	if got.ID != first.ID || got.UserID != u.ID || got.Name != "key lk1" || !bytes.Equal(got.SecretHash, []byte("mac-lk1")) ||
		got.Scope != gatehouse.ScopeReadItems || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(first.ExpiresAt) ||
		!got.LastUsedAt.IsZero() || !got.Active {
		t.Fatalf("read back %+v, want %+v", got, first)
	}
	if k := mustAPIKey(t, s, "lk2"); !k.ExpiresAt.IsZero() {
		t.Fatalf("a key without expiry reads back ExpiresAt=%v", k.ExpiresAt)
	}
	_, err := s.APIKeyByLookup(ctx, "no-such-key")
	wantCode(t, err, gatehouse.ENOTFOUND)

	keys, err := s.APIKeysByUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != second.ID || keys[1].ID != first.ID {
		t.Fatalf("APIKeysByUser = %+v, want [lk2 lk1]", keys)
	}
	if keys, err := s.APIKeysByUser(ctx, 12345); err != nil || len(keys) != 0 {
		t.Fatalf("keys of an unknown user = %+v, %v", keys, err)
	}
}

func testAPIKeyConflict(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "gina", gatehouse.RoleUser)
	mustCreateAPIKey(t, s, newAPIKey(u.ID, "lk1", t0))
	dup := newAPIKey(u.ID, "lk1", t0)
	dup.Name = "impostor"
	wantCode(t, s.CreateAPIKey(ctx, dup, 0), gatehouse.ECONFLICT)
	keys, err := s.APIKeysByUser(ctx, u.ID)
	if err != nil || len(keys) != 1 || keys[0].Name != "key lk1" {
		t.Fatalf("after refused duplicate: keys = %+v, %v", keys, err)
	}
}

func testAPIKeyCap(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "gina", gatehouse.RoleUser)
	other := mustCreate(t, s, "hank", gatehouse.RoleUser)
	const max = 3
	create := func(userID int64, lookup string, at time.Time) error {
		return s.CreateAPIKey(ctx, newAPIKey(userID, lookup, at), max)
	}
	expiring := newAPIKey(u.ID, "exp", t0)
	expiring.ExpiresAt = t0.Add(time.Hour)
	if err := s.CreateAPIKey(ctx, expiring, max); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"a", "b"} {
		if err := create(u.ID, l, t0); err != nil {
			t.Fatalf("key %s under the cap: %v", l, err)
		}
	}
	err := create(u.ID, "c", t0)
	wantCode(t, err, gatehouse.ECONFLICT)
	if gatehouse.ErrorMessage(err) != gatehouse.TooManyAPIKeys(max).Message {
		t.Fatalf("over the cap: %v, want TooManyAPIKeys", err)
	}
	if _, err := s.APIKeyByLookup(ctx, "c"); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("a refused key was stored: %v", err)
	}
	if err := create(other.ID, "o", t0); err != nil {
		t.Fatalf("another user's key counted against gina's cap: %v", err)
	}
	// An expired key and a deactivated one are not live.
	if err := create(u.ID, "d", t0.Add(time.Hour)); err != nil {
		t.Fatalf("with one key expired: %v", err)
	}
	if err := s.DeactivateAPIKey(ctx, mustAPIKey(t, s, "a").ID); err != nil {
		t.Fatal(err)
	}
	if err := create(u.ID, "e", t0.Add(time.Hour)); err != nil {
		t.Fatalf("with one key deactivated: %v", err)
	}
	wantCode(t, create(u.ID, "f", t0.Add(time.Hour)), gatehouse.ECONFLICT)
	if err := s.CreateAPIKey(ctx, newAPIKey(u.ID, "g", t0), 0); err != nil {
		t.Fatalf("maxLive 0 means no cap: %v", err)
	}
}

func testAPIKeyCapRace(t *testing.T, s gatehouse.Store) {
	u := mustCreate(t, s, "gina", gatehouse.RoleUser)
	const max = 3
	wins := race(t, 12, func(i int) (bool, error) {
		err := s.CreateAPIKey(context.Background(), newAPIKey(u.ID, fmt.Sprintf("r%d", i), t0), max)
		if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
			return false, nil
		}
		return err == nil, err
	})
	if wins != max {
		t.Fatalf("%d of 12 concurrent creations succeeded under a cap of %d", wins, max)
	}
}

func testDeactivateAPIKey(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "gina", gatehouse.RoleUser)
	k := newAPIKey(u.ID, "lk1", t0)
	mustCreateAPIKey(t, s, k)
	start := latestChange(t, s)
	if err := s.DeactivateAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if got := mustAPIKey(t, s, "lk1"); got.Active {
		t.Fatal("key still active after DeactivateAPIKey")
	}
	cs := changesSince(t, s, start)
	if len(cs) != 1 || cs[0].APIKeyID != k.ID || cs[0].UserID != 0 || cs[0].Revocation != nil {
		t.Fatalf("changes = %+v, want one with APIKeyID %d", cs, k.ID)
	}
	// An unknown key is not found, and nothing is recorded.
	wantCode(t, s.DeactivateAPIKey(ctx, k.ID+1000), gatehouse.ENOTFOUND)
	if cs := changesSince(t, s, cs[0].Seq); len(cs) != 0 {
		t.Fatalf("refused deactivation recorded %+v", cs)
	}
}

func testTouchAPIKeys(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "gina", gatehouse.RoleUser)
	a, b := newAPIKey(u.ID, "lk1", t0), newAPIKey(u.ID, "lk2", t0)
	mustCreateAPIKey(t, s, a)
	mustCreateAPIKey(t, s, b)
	steps := []struct {
		name         string
		used         map[int64]time.Time
		wantA, wantB time.Time
	}{
		{"nothing to record", nil, time.Time{}, time.Time{}},
		{"first use of both", map[int64]time.Time{a.ID: t0.Add(time.Hour), b.ID: t0.Add(time.Minute)}, t0.Add(time.Hour), t0.Add(time.Minute)},
		{"an older time does not move it back", map[int64]time.Time{a.ID: t0.Add(time.Second)}, t0.Add(time.Hour), t0.Add(time.Minute)},
		{"a later time moves it on", map[int64]time.Time{b.ID: t0.Add(2 * time.Hour)}, t0.Add(time.Hour), t0.Add(2 * time.Hour)},
		{"an unknown key is ignored", map[int64]time.Time{b.ID + 1000: t0.Add(3 * time.Hour)}, t0.Add(time.Hour), t0.Add(2 * time.Hour)},
	}
	for _, st := range steps {
		if err := s.TouchAPIKeys(ctx, st.used); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := mustAPIKey(t, s, "lk1").LastUsedAt; !got.Equal(st.wantA) {
			t.Fatalf("%s: lk1 LastUsedAt = %v, want %v", st.name, got, st.wantA)
		}
		if got := mustAPIKey(t, s, "lk2").LastUsedAt; !got.Equal(st.wantB) {
			t.Fatalf("%s: lk2 LastUsedAt = %v, want %v", st.name, got, st.wantB)
		}
	}
}
