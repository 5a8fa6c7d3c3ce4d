package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// featureTests cover the API key, item, two-factor, nonce and audit
// contracts, and two races of the core contracts that only a real
// concurrent backend can lose: the last enabled admin and the change
// feed's order.
var featureTests = []storeTest{
	{"totp: a secret is resealed only if unchanged", testResealTOTP},
	{"api keys: stored, found by lookup id, listed newest first", testAPIKeys},
	{"api keys: a taken lookup id is a conflict and stores nothing", testAPIKeyConflict},
	{"api keys: deactivation records a change with the key's id", testDeactivateAPIKey},
	{"api keys: touch sets last use and never moves it backwards", testTouchAPIKeys},
	{"api keys: the cap counts live keys of the one user only", testAPIKeyCap},
	{"api keys: concurrent creations cannot pass the cap together", testAPIKeyCapRace},
	{"items: listed by owner, oldest first, up to the limit", testItems},
	{"totp: pending secret, enable, then each step accepted once", testTOTPLifecycle},
	{"totp: enabling a stale pending secret is a conflict and changes nothing", testEnableTOTPStale},
	{"totp: re-enrolling keeps the enabled secret until verified", testTOTPReenrol},
	{"totp: concurrent use of one step: exactly one wins", testTOTPStepRace},
	{"totp: recovery codes are single use, per user, and replaced", testRecoveryCodes},
	{"totp: concurrent use of one recovery code: exactly one wins", testRecoveryCodeRace},
	{"totp: disable removes all two-factor state", testDisableTOTP},
	{"nonces: first use only, forgotten once purged after expiry", testNonces},
	{"nonces: concurrent use of one nonce: exactly one wins", testNonceRace},
	{"audit: events filtered by user, type and time, paged newest first", testAuditEvents},
	{"audit: purge deletes events older than t", testPurgeAudit},
	{"audit: non-ASCII text is stored and read back unchanged", testAuditNonASCII},
	{"audit: a summary's count is kept; an event without one counts once", testAuditCount},
	{"settings: a swap changes only the value named, one racer wins", testSwapSetting},
	{"concurrent removal of the last two admins: exactly one wins", testLastAdminRace},
	{"change feed: a poller racing writers misses no change", testChangeFeedRace},
}

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

func testItems(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "ivy", gatehouse.RoleUser)
	other := mustCreate(t, s, "jack", gatehouse.RoleUser)
	price := 9.5
	items := []*gatehouse.Item{
		{OwnerID: u.ID, Name: "first", Description: "with a price", Price: &price},
		{OwnerID: other.ID, Name: "not mine"},
		{OwnerID: u.ID, Name: "second"},
		{OwnerID: u.ID, Name: "third"},
	}
	for _, it := range items {
		if err := s.CreateItem(ctx, it); err != nil {
			t.Fatal(err)
		}
		if it.ID == 0 || it.CreatedAt.IsZero() {
			t.Fatalf("CreateItem did not set ID/CreatedAt: %+v", it)
		}
	}
	got, err := s.ItemsByOwner(ctx, u.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != items[0].ID || got[1].ID != items[2].ID {
		t.Fatalf("ItemsByOwner(limit 2) = %+v, want first and second", got)
	}
	first := got[0]
	if first.Name != "first" || first.Description != "with a price" || first.Price == nil || *first.Price != 9.5 ||
		!first.CreatedAt.Equal(items[0].CreatedAt) {
		t.Fatalf("read back %+v, want %+v", first, items[0])
	}
	if got[1].Price != nil {
		t.Fatalf("an item without a price reads back %v", *got[1].Price)
	}
	if all, err := s.ItemsByOwner(ctx, u.ID, 10); err != nil || len(all) != 3 {
		t.Fatalf("ItemsByOwner(limit 10) = %d items, %v; want 3", len(all), err)
	}
}

func testAuditEvents(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	var events []*gatehouse.AuditEvent
	for i := range 6 {
		events = append(events, &gatehouse.AuditEvent{
			Time: t0.Add(time.Duration(i) * time.Minute), Type: []string{"login", "logout"}[i%2], Outcome: "success",
			UserID: int64(1 + i%3), Username: fmt.Sprint("u", i), ClientIP: "192.0.2.1", UserAgent: "ua",
			RequestID: fmt.Sprint("req", i), Path: "/token", Detail: "d", Count: 1,
		})
	}
	if err := s.AddAuditEvents(ctx, events[:2]...); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAuditEvents(ctx, events[2:]...); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(events); i++ {
		if events[i].ID <= events[i-1].ID {
			t.Fatalf("event ids not set in order: %d then %d", events[i-1].ID, events[i].ID)
		}
	}
	// ids returns the indexes into events of the events in got.
	ids := func(got []*gatehouse.AuditEvent) []int {
		var out []int
		for _, g := range got {
			for i, e := range events {
				if e.ID == g.ID {
					out = append(out, i)
				}
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    gatehouse.AuditFilter
		want []int
	}{
		{"everything, newest first", gatehouse.AuditFilter{}, []int{5, 4, 3, 2, 1, 0}},
		{"by user", gatehouse.AuditFilter{UserID: 2}, []int{4, 1}},
		{"by type", gatehouse.AuditFilter{Type: "logout"}, []int{5, 3, 1}},
		{"since is inclusive, until exclusive", gatehouse.AuditFilter{Since: t0.Add(time.Minute), Until: t0.Add(4 * time.Minute)}, []int{3, 2, 1}},
		{"user and type together", gatehouse.AuditFilter{UserID: 1, Type: "logout"}, []int{3}},
		{"first page", gatehouse.AuditFilter{Limit: 4}, []int{5, 4, 3, 2}},
		{"next page, before the last seen id", gatehouse.AuditFilter{Limit: 4, Before: events[2].ID}, []int{1, 0}},
		{"a cursor combines with filters", gatehouse.AuditFilter{Type: "login", Before: events[4].ID}, []int{2, 0}},
	}
	for _, tt := range tests {
		got, err := s.AuditEvents(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if g := ids(got); fmt.Sprint(g) != fmt.Sprint(tt.want) {
			t.Fatalf("%s: events %v, want %v", tt.name, g, tt.want)
		}
	}
	got, err := s.AuditEvents(ctx, gatehouse.AuditFilter{Before: events[4].ID, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	e, want := *got[0], *events[3]
	if !e.Time.Equal(want.Time) {
		t.Fatalf("read back time %v, want %v", e.Time, want.Time)
	}
	e.Time, want.Time = time.Time{}, time.Time{}
	if e != want {
		t.Fatalf("read back %+v, want %+v", e, want)
	}
}

func testPurgeAudit(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	for i := range 3 {
		if err := s.AddAuditEvents(ctx, &gatehouse.AuditEvent{Time: t0.Add(time.Duration(i) * time.Hour), Type: "login", Outcome: "failure"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeAudit(ctx, t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeAudit = %d, %v; want 1", n, err)
	}
	left, err := s.AuditEvents(ctx, gatehouse.AuditFilter{})
	if err != nil || len(left) != 2 || !left[1].Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after purge: %+v, %v", left, err)
	}
}
