package httpapi_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

// TestTwoFactorLockoutsGrow (issue 9 finding 11): someone holding the
// password who guesses codes window after window is locked out for the
// rest of the first window, then 10 minutes, then 20 …; each lockout is
// audited (2fa_lockout) and counted (gatehouse_2fa_checks_total
// {outcome="lockout"}); the owner's right code ends the escalation, and a
// password change lifts the lockout at once.
func TestTwoFactorLockoutsGrow(t *testing.T) {
	audit := &auditLog{}
	e := &tfEnv{env: newEnvWith(t, envOptions{auditor: audit, metrics: true}), audit: audit}
	a := e.enrol("alice")
	guessWindow := func() int { // five wrong codes, then the lockout's Retry-After
		t.Helper()
		for range auth.MaxCodeFailures {
			wantStatus(t, e.loginOTP("alice", e.wrongCode(a.secret)), 401)
		}
		r := e.loginOTP("alice", e.code(a.secret, 0))
		wantStatus(t, r, 429)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		e.clock.Advance(time.Duration(secs) * time.Second)
		return secs
	}
	for i, want := range []int{300, 600, 1200, 2400} {
		if got := guessWindow(); got != want {
			t.Fatalf("lockout %d lasted %d s, want %d", i+1, got, want)
		}
	}
	if n := e.audit.count(gatehouse.EventTwoFactorLockout, gatehouse.OutcomeFailure); n != 4 {
		t.Fatalf("%d lockouts audited, want 4:\n%s", n, e.audit)
	}
	if !strings.Contains(e.audit.String(), "lockout 4 in a row, 40m0s") {
		t.Errorf("the fourth lockout's audit does not say its level and length:\n%s", e.audit)
	}
	if m := e.get("/metrics", "").raw; !strings.Contains(m, `gatehouse_2fa_checks_total{outcome="lockout"} 4`) {
		t.Errorf("lockouts not counted in /metrics")
	}

	// The owner's right code ends the escalation.
	e.nextStep()
	wantStatus(t, e.loginOTP("alice", e.code(a.secret, 0)), 200)
	e.nextStep()
	if got := guessWindow(); got != 300 {
		t.Fatalf("after a right code the lockout lasted %d s, want 300 again", got)
	}
	guessWindow()
	// A password change lifts a lockout: whoever guessed holds the old one.
	for range auth.MaxCodeFailures {
		wantStatus(t, e.loginOTP("alice", e.wrongCode(a.secret)), 401)
	}
	wantStatus(t, e.loginOTP("alice", e.code(a.secret, 0)), 429)
	if _, err := e.svc.SetPassword(t.Context(), a.user.ID, "a brand new passphrase", ""); err != nil {
		t.Fatal(err)
	}
	r := e.form("/token", map[string][]string{"username": {"alice"}, "password": {"a brand new passphrase"}, "otp": {e.code(a.secret, 0)}})
	wantStatus(t, r, 200)
}
