package storetest

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func mustTOTP(t *testing.T, s gatehouse.Store, userID int64) gatehouse.TOTP {
	t.Helper()
	st, err := s.TOTP(context.Background(), userID)
	if err != nil {
		t.Fatalf("TOTP(%d): %v", userID, err)
	}
	return *st
}

func wantTOTP(t *testing.T, s gatehouse.Store, want gatehouse.TOTP) {
	t.Helper()
	if got := mustTOTP(t, s, want.UserID); got != want {
		t.Fatalf("TOTP state %+v, want %+v", got, want)
	}
}

func wantTOTPEnabled(t *testing.T, s gatehouse.Store, userID int64, want bool) {
	t.Helper()
	u, err := s.UserByID(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if u.TOTPEnabled != want {
		t.Fatalf("user TOTPEnabled = %v, want %v", u.TOTPEnabled, want)
	}
}

// wantUserChange checks that the feed recorded a change of the user after
// seq: cached copies elsewhere must drop a stale TOTPEnabled.
func wantUserChange(t *testing.T, s gatehouse.Store, seq, userID int64) {
	t.Helper()
	for _, c := range changesSince(t, s, seq) {
		if c.UserID == userID {
			return
		}
	}
	t.Fatalf("no change of user %d recorded after %d", userID, seq)
}

// enrolled returns a user with two-factor enabled from pending secret
// "p1" at step 100, with recovery codes c1 and c2.
func enrolled(t *testing.T, s gatehouse.Store, name string) *gatehouse.User {
	t.Helper()
	ctx := context.Background()
	u := mustCreate(t, s, name, gatehouse.RoleUser)
	if err := s.SetPendingTOTP(ctx, u.ID, "p1"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableTOTP(ctx, u.ID, "p1", 100, []string{"c1", "c2"}); err != nil {
		t.Fatal(err)
	}
	return u
}

func testTOTPLifecycle(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "kate", gatehouse.RoleUser)
	_, err := s.TOTP(ctx, u.ID)
	wantCode(t, err, gatehouse.ENOTFOUND)
	if err := s.SetPendingTOTP(ctx, u.ID, "p1"); err != nil {
		t.Fatal(err)
	}
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Pending: "p1"})
	if ok, err := s.UseTOTPStep(ctx, u.ID, 5); err != nil || ok {
		t.Fatalf("UseTOTPStep before enabling = %v, %v; want false", ok, err)
	}
	start := latestChange(t, s)
	if err := s.EnableTOTP(ctx, u.ID, "p1", 100, []string{"c1"}); err != nil {
		t.Fatal(err)
	}
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Secret: "p1", Enabled: true, LastStep: 100})
	wantTOTPEnabled(t, s, u.ID, true)
	wantUserChange(t, s, start, u.ID)

	// RFC 6238 §5.2: a code is accepted once, and never one older than the
	// last accepted.
	steps := []struct {
		name string
		step int64
		want bool
	}{
		{"the step that enabled it", 100, false},
		{"an earlier step", 99, false},
		{"the next step", 101, true},
		{"the same step again", 101, false},
		{"a step further on", 103, true},
		{"a step skipped over", 102, false},
	}
	for _, st := range steps {
		if ok, err := s.UseTOTPStep(ctx, u.ID, st.step); err != nil || ok != st.want {
			t.Fatalf("%s: UseTOTPStep(%d) = %v, %v; want %v", st.name, st.step, ok, err, st.want)
		}
	}
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Secret: "p1", Enabled: true, LastStep: 103})
}

func testEnableTOTPStale(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "kate", gatehouse.RoleUser)
	for _, p := range []string{"p1", "p2"} { // a second setup began meanwhile
		if err := s.SetPendingTOTP(ctx, u.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	start := latestChange(t, s)
	wantCode(t, s.EnableTOTP(ctx, u.ID, "p1", 100, []string{"c1"}), gatehouse.ECONFLICT)
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Pending: "p2"})
	wantTOTPEnabled(t, s, u.ID, false)
	if ok, err := s.UseRecoveryCode(ctx, u.ID, "c1"); err != nil || ok {
		t.Fatalf("refused enable stored recovery code: %v, %v", ok, err)
	}
	if cs := changesSince(t, s, start); len(cs) != 0 {
		t.Fatalf("refused enable recorded changes %+v", cs)
	}
	// A pending secret enables once; with none there is nothing to enable.
	if err := s.EnableTOTP(ctx, u.ID, "p2", 100, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.EnableTOTP(ctx, u.ID, "p2", 200, nil), gatehouse.ECONFLICT)
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Secret: "p2", Enabled: true, LastStep: 100})
	v := mustCreate(t, s, "liam", gatehouse.RoleUser)
	wantCode(t, s.EnableTOTP(ctx, v.ID, "", 100, nil), gatehouse.ECONFLICT)
}

func testTOTPReenrol(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := enrolled(t, s, "kate")
	if err := s.SetPendingTOTP(ctx, u.ID, "p2"); err != nil {
		t.Fatal(err)
	}
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Secret: "p1", Pending: "p2", Enabled: true, LastStep: 100})
	if ok, err := s.UseTOTPStep(ctx, u.ID, 101); err != nil || !ok {
		t.Fatalf("enabled secret stopped working during re-enrolment: %v, %v", ok, err)
	}
	if err := s.EnableTOTP(ctx, u.ID, "p2", 200, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Secret: "p2", Enabled: true, LastStep: 200})
	for code, want := range map[string]bool{"c1": false, "n1": true} {
		if ok, err := s.UseRecoveryCode(ctx, u.ID, code); err != nil || ok != want {
			t.Fatalf("UseRecoveryCode(%q) after re-enrolment = %v, %v; want %v", code, ok, err, want)
		}
	}
}

func testTOTPStepRace(t *testing.T, s gatehouse.Store) {
	u := enrolled(t, s, "kate")
	wins := race(t, 10, func(int) (bool, error) { return s.UseTOTPStep(context.Background(), u.ID, 101) })
	if wins != 1 {
		t.Fatalf("%d concurrent uses of one step succeeded, want exactly 1", wins)
	}
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Secret: "p1", Enabled: true, LastStep: 101})
}

func testRecoveryCodes(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "kate", gatehouse.RoleUser)
	v := mustCreate(t, s, "liam", gatehouse.RoleUser)
	if err := s.ReplaceRecoveryCodes(ctx, u.ID, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, v.ID, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		replace []string // when set, ReplaceRecoveryCodes(u) first
		user    int64
		code    string
		want    bool
	}{
		{"another user's code", nil, u.ID, "c", false},
		{"a code of one's own", nil, u.ID, "a", true},
		{"the same code again", nil, u.ID, "a", false},
		{"a code voided by replacement", []string{"d"}, u.ID, "b", false},
		{"a replacement code", nil, u.ID, "d", true},
		{"the other user's code is untouched", nil, v.ID, "c", true},
	}
	for _, st := range steps {
		if st.replace != nil {
			if err := s.ReplaceRecoveryCodes(ctx, u.ID, st.replace); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.UseRecoveryCode(ctx, st.user, st.code); err != nil || ok != st.want {
			t.Fatalf("%s: UseRecoveryCode(%q) = %v, %v; want %v", st.name, st.code, ok, err, st.want)
		}
	}
}

func testRecoveryCodeRace(t *testing.T, s gatehouse.Store) {
	u := enrolled(t, s, "kate")
	wins := race(t, 10, func(int) (bool, error) { return s.UseRecoveryCode(context.Background(), u.ID, "c1") })
	if wins != 1 {
		t.Fatalf("%d concurrent uses of one recovery code succeeded, want exactly 1", wins)
	}
}

func testDisableTOTP(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := enrolled(t, s, "kate")
	start := latestChange(t, s)
	if err := s.DisableTOTP(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err := s.TOTP(ctx, u.ID)
	wantCode(t, err, gatehouse.ENOTFOUND)
	wantTOTPEnabled(t, s, u.ID, false)
	wantUserChange(t, s, start, u.ID)
	if ok, err := s.UseRecoveryCode(ctx, u.ID, "c2"); err != nil || ok {
		t.Fatalf("recovery code survived DisableTOTP: %v, %v", ok, err)
	}
	if ok, err := s.UseTOTPStep(ctx, u.ID, 200); err != nil || ok {
		t.Fatalf("UseTOTPStep after DisableTOTP = %v, %v; want false", ok, err)
	}
}

func testResealTOTP(t *testing.T, s gatehouse.Store) {
	ctx := context.Background()
	u := mustCreate(t, s, "rita", gatehouse.RoleUser)
	if ok, err := s.ResealTOTP(ctx, u.ID, "", "x"); err != nil || ok {
		t.Fatalf("reseal with no 2FA = %v, %v; want false", ok, err)
	}
	if err := s.SetPendingTOTP(ctx, u.ID, "old"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableTOTP(ctx, u.ID, "old", 10, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ResealTOTP(ctx, u.ID, "stale", "new"); err != nil || ok {
		t.Fatalf("reseal of a stale secret = %v, %v; want false", ok, err)
	}
	if ok, err := s.ResealTOTP(ctx, u.ID, "old", "new"); err != nil || !ok {
		t.Fatalf("reseal = %v, %v; want true", ok, err)
	}
	wantTOTP(t, s, gatehouse.TOTP{UserID: u.ID, Secret: "new", Enabled: true, LastStep: 10})
}
