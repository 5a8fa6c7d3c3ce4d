package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestTurningOneselfsTwoFactorOffThroughTheAdminAPINeedsACode (issue 9
// finding 6, contract §12): an admin's token or key cannot PATCH its own
// totp_enabled to false without a current code or recovery code, so a
// stolen admin credential cannot strip its owner's second factor and enrol
// its own; an admin still resets another user's 2FA without one.
func TestTurningOneselfsTwoFactorOffThroughTheAdminAPINeedsACode(t *testing.T) {
	e := newTwoFactorEnv(t)
	ctx := context.Background()
	root := e.createUser("root", tfPassword, gatehouse.RoleAdmin)
	before, _ := e.mustLogin("root", tfPassword)
	secret, _ := e.setupJSON(before)
	wantStatus(t, e.postCode("/2fa/verify", before, e.code(secret, 0)), 200)
	e.nextStep()
	r := e.loginOTP("root", e.code(secret, 0))
	wantStatus(t, r, 200)
	at := cred{bearer: r.str("access_token")}
	e.nextStep()
	p, err := e.svc.Authenticate(ctx, at.bearer)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := e.svc.CreateAPIKey(ctx, p, "ops", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	self := fmt.Sprint("/users/", root.ID)
	stillOn := func(what string) {
		t.Helper()
		if st := e.state(root.ID); !st.Enabled || !e.userByID(root.ID).TOTPEnabled {
			t.Fatalf("%s turned root's 2FA off", what)
		}
	}

	wantValidation(t, e.call("PATCH", self, at, map[string]any{"totp_enabled": false}), "totp_code")
	stillOn("a PATCH without a code")
	wantDetail(t, e.call("PATCH", self, at, map[string]any{"totp_enabled": false, "totp_code": e.wrongCode(secret)}), 400, "Invalid 2FA code")
	stillOn("a PATCH with a wrong code")
	if n := e.audit.count(gatehouse.EventTwoFactorFailed, gatehouse.OutcomeFailure); n != 1 {
		t.Fatalf("the wrong code was audited %d times, want once", n)
	}
	wantDetail(t, e.call("PATCH", self, cred{key: key}, map[string]any{"totp_enabled": false, "totp_code": e.code(secret, 0)}),
		403, "2FA requires a login token, not an API key")
	stillOn("an API key")

	r = e.call("PATCH", self, at, map[string]any{"totp_enabled": false, "totp_code": e.code(secret, 0)})
	wantStatus(t, r, 200)
	if r.body["totp_enabled"] != false || e.state(root.ID).Enabled {
		t.Fatalf("with a right code, 2FA is still on: %s", r.raw)
	}

	// Another user's 2FA: an admin's reset, no code asked.
	bob := e.enrol("bob")
	r = e.call("PATCH", fmt.Sprint("/users/", bob.user.ID), at, map[string]any{"totp_enabled": false})
	wantStatus(t, r, 200)
	if e.state(bob.user.ID).Enabled {
		t.Fatal("an admin could not reset another user's 2FA")
	}
}
