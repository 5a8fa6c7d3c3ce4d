package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/totp"
)

const tfPassword = "correct horse battery"

// auditLog keeps the audit events a server records.
type auditLog struct {
	mu     sync.Mutex
	events []gatehouse.AuditEvent
}

func (a *auditLog) Record(_ context.Context, ev gatehouse.AuditEvent) {
	a.mu.Lock()
	a.events = append(a.events, ev)
	a.mu.Unlock()
}

func (a *auditLog) count(typ, outcome string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, ev := range a.events {
		if ev.Type == typ && ev.Outcome == outcome {
			n++
		}
	}
	return n
}

func (a *auditLog) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, _ := json.Marshal(a.events)
	return string(b)
}

// tfEnv is a running server set up as newEnv's, plus the Sealer that 2FA
// needs and an audit log to inspect.
type tfEnv struct {
	*env
	audit *auditLog
}

func newTwoFactorEnv(t *testing.T) *tfEnv {
	t.Helper()
	audit := &auditLog{}
	return &tfEnv{env: newEnvWith(t, envOptions{auditor: audit}), audit: audit}
}

// code returns the TOTP code of secret at the server's time plus steps.
func (e *tfEnv) code(secret string, steps int) string {
	e.t.Helper()
	c, err := totp.Code(secret, e.clock.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// wrongCode returns a well-formed code that secret does not produce at any
// step the server accepts now.
func (e *tfEnv) wrongCode(secret string) string {
	for n := 0; ; n++ {
		c := strconv.Itoa(100000 + n)
		if c != e.code(secret, -1) && c != e.code(secret, 0) && c != e.code(secret, 1) {
			return c
		}
	}
}

// nextStep moves the clock to the next time step, so that a new code is
// not a replay of the last one.
func (e *tfEnv) nextStep() { e.clock.Advance(30 * time.Second) }

func (e *tfEnv) setupJSON(at string) (secret, uri string) {
	e.t.Helper()
	r := e.do("POST", "/2fa/setup", nil, map[string]string{"Authorization": "Bearer " + at, "Accept": "application/json"})
	wantStatus(e.t, r, 200)
	return r.str("secret"), r.str("otpauth_uri")
}

// postCode sends code as a form field to a /2fa endpoint.
func (e *tfEnv) postCode(path, at, code string) response {
	return e.form(path, url.Values{"code": {code}}, "Authorization", "Bearer "+at)
}

func (e *tfEnv) loginOTP(user, otp string) response {
	return e.form("/token", url.Values{"username": {user}, "password": {tfPassword}, "otp": {otp}})
}

func (e *tfEnv) state(id int64) gatehouse.TOTP {
	e.t.Helper()
	st, err := e.store.TOTP(context.Background(), id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return gatehouse.TOTP{UserID: id}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return *st
}

// enrolled is a user with 2FA enabled.
type enrolled struct {
	user     *gatehouse.User
	at       string // access token from before 2FA was enabled
	secret   string
	recovery []string
}

func (e *tfEnv) enrol(name string) enrolled {
	e.t.Helper()
	u := e.createUser(name, tfPassword, gatehouse.RoleUser)
	at, _ := e.mustLogin(name, tfPassword)
	secret, _ := e.setupJSON(at)
	r := e.postCode("/2fa/verify", at, e.code(secret, 0))
	wantStatus(e.t, r, 200)
	var body struct {
		Recovery []string `json:"recovery_codes"`
	}
	json.Unmarshal([]byte(r.raw), &body)
	e.nextStep()
	return enrolled{user: u, at: at, secret: secret, recovery: body.Recovery}
}

func TestSetupServesPendingSecretAsPNGOrJSON(t *testing.T) {
	e := newTwoFactorEnv(t)
	u := e.createUser("alice", tfPassword, gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", tfPassword)

	png := e.post("/2fa/setup", at)
	wantStatus(t, png, 200)
	if png.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(png.raw, "\x89PNG\r\n\x1a\n") {
		t.Fatalf("PNG answer: Content-Type %q, starts %q", png.header.Get("Content-Type"), png.raw[:min(8, len(png.raw))])
	}
	js := e.do("POST", "/2fa/setup", nil, map[string]string{"Authorization": "Bearer " + at, "Accept": "application/json"})
	wantStatus(t, js, 200)
	secret, uri := js.str("secret"), js.str("otpauth_uri")
	if len(secret) < 32 { // 32 base32 characters = 160 bits
		t.Errorf("secret %d characters, want ≥ 32", len(secret))
	}
	if want := totp.URI("Gatehouse", "alice", secret); uri != want {
		t.Errorf("otpauth_uri = %q, want %q", uri, want)
	}
	for _, r := range []response{png, js} {
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
		}
	}
	st := e.state(u.ID)
	if st.Enabled || st.Pending == "" || st.Secret != "" || strings.Contains(st.Pending, secret) {
		t.Errorf("after setup: enabled %v, pending sealed %v, secret %q", st.Enabled, st.Pending != "", st.Secret)
	}
	if r := e.get("/users/me", at); r.body["totp_enabled"] != false {
		t.Errorf("totp_enabled before verification: %s", r.raw)
	}
	wantStatus(t, e.login("alice", tfPassword), 200) // pending 2FA is not enforced
}

func TestSetupWithoutTokenIs401(t *testing.T) {
	e := newTwoFactorEnv(t)
	wantStatus(t, e.post("/2fa/setup", ""), 401)
	wantStatus(t, e.post("/2fa/verify?code=123456", ""), 401)
}

func TestRepeatedSetupReplacesThePendingSecret(t *testing.T) {
	e := newTwoFactorEnv(t)
	e.createUser("alice", tfPassword, gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", tfPassword)
	first, _ := e.setupJSON(at)
	second, _ := e.setupJSON(at)
	if first == second {
		t.Fatal("setup returned the same secret twice")
	}
	wantDetail(t, e.postCode("/2fa/verify", at, e.code(first, 0)), 400, "Invalid 2FA code")
	wantStatus(t, e.postCode("/2fa/verify", at, e.code(second, 0)), 200)
}

func TestFirstVerifyEnablesAndAnswersTenRecoveryCodesOnce(t *testing.T) {
	e := newTwoFactorEnv(t)
	u := e.createUser("alice", tfPassword, gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", tfPassword)
	secret, _ := e.setupJSON(at)

	r := e.postCode("/2fa/verify", at, e.code(secret, 0))
	wantStatus(t, r, 200)
	codes, _ := r.body["recovery_codes"].([]any)
	seen := map[any]bool{}
	for _, c := range codes {
		seen[c] = true
	}
	if r.str("message") != "2FA verified successfully" || len(codes) != 10 || len(seen) != 10 {
		t.Fatalf("first verify: %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	if st := e.state(u.ID); !st.Enabled || st.Pending != "" || st.Secret == "" {
		t.Errorf("after enabling: %+v", st)
	}
	if me := e.get("/users/me", at); me.body["totp_enabled"] != true {
		t.Errorf("totp_enabled after enabling: %s", me.raw)
	}
	e.nextStep()
	r = e.postCode("/2fa/verify", at, e.code(secret, 0))
	wantStatus(t, r, 200)
	if _, ok := r.body["recovery_codes"]; ok {
		t.Errorf("a later verify answered recovery codes again: %s", r.raw)
	}
	if e.audit.count(gatehouse.EventTwoFactorEnabled, gatehouse.OutcomeSuccess) != 1 {
		t.Errorf("audit: %s", e.audit)
	}
}

func TestVerifyTakesTheCodeFromQueryFormOrJSON(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	bearer := map[string]string{"Authorization": "Bearer " + a.at}
	send := map[string]func(code string) response{
		"query": func(code string) response { return e.post("/2fa/verify?code="+code, a.at) },
		"form":  func(code string) response { return e.postCode("/2fa/verify", a.at, code) },
		"json": func(code string) response {
			return e.do("POST", "/2fa/verify", strings.NewReader(`{"code":"`+code+`"}`),
				map[string]string{"Authorization": "Bearer " + a.at, "Content-Type": "application/json"})
		},
	}
	for _, via := range []string{"query", "form", "json"} {
		t.Run(via, func(t *testing.T) {
			wantStatus(t, send[via](e.code(a.secret, 0)), 200)
			e.nextStep()
		})
	}
	wantValidation(t, e.do("POST", "/2fa/verify", nil, bearer), "code")
	wantValidation(t, e.do("POST", "/2fa/verify", strings.NewReader(`{"code":123456}`),
		map[string]string{"Authorization": "Bearer " + a.at, "Content-Type": "application/json"}), "code")
}

func TestCodesWithinOneStepOfSkewAreAccepted(t *testing.T) {
	// RFC 6238 §5.2, §6: one step either side of the server's time.
	for _, tt := range []struct {
		steps int
		ok    bool
	}{{-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
		t.Run(strconv.Itoa(tt.steps), func(t *testing.T) {
			e := newTwoFactorEnv(t)
			a := e.enrol("alice")
			e.clock.Advance(2 * time.Minute) // the enabling step is well behind
			before := e.state(a.user.ID)
			r := e.postCode("/2fa/verify", a.at, e.code(a.secret, tt.steps))
			after := e.state(a.user.ID)
			if !tt.ok {
				wantDetail(t, r, 400, "Invalid 2FA code")
				if after != before {
					t.Errorf("a refused code changed the state: %+v → %+v", before, after)
				}
				return
			}
			wantStatus(t, r, 200)
			if want := totp.StepAt(e.clock.Now()) + int64(tt.steps); after.LastStep != want {
				t.Errorf("last step = %d, want %d", after.LastStep, want)
			}
		})
	}
}

func TestACodeIsAcceptedOnce(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	code := e.code(a.secret, 0)
	wantStatus(t, e.postCode("/2fa/verify", a.at, code), 200)
	wantDetail(t, e.postCode("/2fa/verify", a.at, code), 400, "Invalid 2FA code")
	r := e.loginOTP("alice", code)
	wantDetail(t, r, 401, "Invalid 2FA code")
	if r.str("error") != "invalid_otp" {
		t.Errorf("replay at /token: %s", r.raw)
	}
	// A code older than the last one used is a replay too.
	wantDetail(t, e.postCode("/2fa/verify", a.at, e.code(a.secret, -1)), 400, "Invalid 2FA code")
	// The code that enabled 2FA cannot log in either.
	e2 := newTwoFactorEnv(t)
	e2.createUser("bob", tfPassword, gatehouse.RoleUser)
	at, _ := e2.mustLogin("bob", tfPassword)
	secret, _ := e2.setupJSON(at)
	first := e2.code(secret, 0)
	wantStatus(t, e2.postCode("/2fa/verify", at, first), 200)
	wantDetail(t, e2.loginOTP("bob", first), 401, "Invalid 2FA code")
}

// race sends n requests at once and counts the answers by status.
func race(n int, send func() response) map[int]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			r := send()
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

func TestConcurrentRequestsWithOneCodeSucceedOnce(t *testing.T) {
	// As many as the limit allows, so every request reaches the code check.
	n := auth.MaxCodeFailures
	t.Run("verify", func(t *testing.T) {
		e := newTwoFactorEnv(t)
		a := e.enrol("alice")
		code := e.code(a.secret, 0)
		got := race(n, func() response { return e.postCode("/2fa/verify", a.at, code) })
		if got[200] != 1 || got[400] != n-1 {
			t.Errorf("statuses %v, want one 200 and %d 400", got, n-1)
		}
	})
	t.Run("login", func(t *testing.T) {
		e := newTwoFactorEnv(t)
		a := e.enrol("alice")
		code := e.code(a.secret, 0)
		got := race(n, func() response { return e.loginOTP("alice", code) })
		if got[200] != 1 || got[401] != n-1 {
			t.Errorf("statuses %v, want one 200 and %d 401", got, n-1)
		}
	})
	t.Run("enabling", func(t *testing.T) {
		e := newTwoFactorEnv(t)
		e.createUser("alice", tfPassword, gatehouse.RoleUser)
		at, _ := e.mustLogin("alice", tfPassword)
		secret, _ := e.setupJSON(at)
		code := e.code(secret, 0)
		got := race(n, func() response { return e.postCode("/2fa/verify", at, code) })
		if got[200] != 1 || got[400] != n-1 {
			t.Errorf("statuses %v, want one 200 and %d 400", got, n-1)
		}
	})
	t.Run("recovery code", func(t *testing.T) {
		e := newTwoFactorEnv(t)
		a := e.enrol("alice")
		got := race(n, func() response { return e.loginOTP("alice", a.recovery[0]) })
		if got[200] != 1 || got[401] != n-1 {
			t.Errorf("statuses %v, want one 200 and %d 401", got, n-1)
		}
	})
}

func TestLoginNeedsTheSecondFactor(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	e.createUser("plain", tfPassword, gatehouse.RoleUser)

	r := e.login("alice", tfPassword)
	wantDetail(t, r, 401, "2FA code required")
	if r.str("error") != "mfa_required" || !strings.HasPrefix(r.str("mfa_token"), "ghm_") || r.str("access_token") != "" {
		t.Errorf("no otp: %s", r.raw)
	}
	if r.header.Get("WWW-Authenticate") != "Bearer" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", r.header)
	}

	r = e.loginOTP("alice", e.wrongCode(a.secret))
	if r.status != 401 || r.str("error") != "invalid_otp" || r.str("mfa_token") != "" {
		t.Errorf("wrong otp: %d %s", r.status, r.raw)
	}

	// A wrong password says nothing about 2FA, and spends no code.
	code := e.code(a.secret, 0)
	wrong := e.form("/token", url.Values{"username": {"alice"}, "password": {"wrong password"}, "otp": {code}})
	plain := e.login("plain", "wrong password")
	if wrong.status != 401 || wrong.raw != plain.raw {
		t.Errorf("wrong password with 2FA on:\n%s\nwithout:\n%s", wrong.raw, plain.raw)
	}
	r = e.loginOTP("alice", code)
	wantStatus(t, r, 200)
	wantStatus(t, e.get("/users/me", r.str("access_token")), 200)

	// A recovery code works in place of a code.
	wantStatus(t, e.loginOTP("alice", strings.ToUpper(a.recovery[1])), 200)
	if e.audit.count(gatehouse.EventTwoFactorUsed, gatehouse.OutcomeSuccess) < 2 ||
		e.audit.count(gatehouse.EventTwoFactorFailed, gatehouse.OutcomeFailure) != 1 {
		t.Errorf("audit: %s", e.audit)
	}
}

func TestRecoveryCodesAreSingleUse(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	wantStatus(t, e.loginOTP("alice", a.recovery[0]), 200)
	r := e.loginOTP("alice", a.recovery[0])
	if r.status != 401 || r.str("error") != "invalid_otp" {
		t.Fatalf("second use: %d %s", r.status, r.raw)
	}
	wantStatus(t, e.loginOTP("alice", a.recovery[1]), 200)
}

func TestNewRecoveryCodesVoidTheOld(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")

	// Refused: the old codes stay valid.
	wantDetail(t, e.postCode("/2fa/recovery-codes", a.at, e.wrongCode(a.secret)), 400, "Invalid 2FA code")
	wantStatus(t, e.loginOTP("alice", a.recovery[0]), 200)

	r := e.postCode("/2fa/recovery-codes", a.at, e.code(a.secret, 0))
	wantStatus(t, r, 200)
	fresh, _ := r.body["recovery_codes"].([]any)
	if len(fresh) != 10 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("new codes: %s (Cache-Control %q)", r.raw, r.header.Get("Cache-Control"))
	}
	wantStatus(t, e.loginOTP("alice", a.recovery[1]), 401)
	wantStatus(t, e.loginOTP("alice", fresh[0].(string)), 200)
}

func TestMFATokenCompletesLoginOnce(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	r := e.login("alice", tfPassword, "read:items")
	wantStatus(t, r, 401)
	mfa := r.str("mfa_token")
	if r.body["mfa_token_expires_in"] != float64(300) {
		t.Errorf("mfa_token_expires_in: %s", r.raw)
	}
	step2 := func(otp string) response {
		return e.form("/token", url.Values{"grant_type": {httpapi.GrantTypeMFA}, "mfa_token": {mfa}, "otp": {otp}})
	}

	// The password step is audited as pending, neither a failure (alerts
	// on failed logins) nor a success (no token yet).
	if p, f := e.audit.count(gatehouse.EventLogin, gatehouse.OutcomePending), e.audit.count(gatehouse.EventLogin, gatehouse.OutcomeFailure); p != 1 || f != 0 {
		t.Fatalf("after the password step: %d pending and %d failed logins audited, want 1 and 0:\n%s", p, f, e.audit)
	}

	r = step2(e.wrongCode(a.secret)) // a typo may be retried
	if r.status != 401 || r.str("error") != "invalid_otp" {
		t.Fatalf("wrong otp: %d %s", r.status, r.raw)
	}
	r = step2(e.code(a.secret, 0))
	wantStatus(t, r, 200)
	if r.str("scope") != "read:items" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("step 2: %s", r.raw)
	}
	wantStatus(t, e.get("/users/me", r.str("access_token")), 200)

	// Replaying the spent token with a fresh code, or with a recovery
	// code, is refused before either is looked at: neither is used up.
	e.nextStep()
	before := e.state(a.user.ID)
	fresh := e.code(a.secret, 0)
	for _, otp := range []string{fresh, a.recovery[0]} {
		r = step2(otp)
		wantDetail(t, r, 401, "Invalid or expired mfa_token")
		if r.str("error") != "invalid_grant" {
			t.Errorf("spent token: %s", r.raw)
		}
	}
	if after := e.state(a.user.ID); after != before {
		t.Errorf("replaying a spent mfa_token changed the 2FA state: %+v → %+v", before, after)
	}
	wantStatus(t, e.loginOTP("alice", fresh), 200)
	wantStatus(t, e.loginOTP("alice", a.recovery[0]), 200)
}

func TestMFATokenRefusals(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	mfa := e.login("alice", tfPassword).str("mfa_token")
	step2 := func(tok, otp string) response {
		return e.form("/token", url.Values{"grant_type": {httpapi.GrantTypeMFA}, "mfa_token": {tok}, "otp": {otp}})
	}
	for name, tok := range map[string]string{
		"garbage":     "ghm_not-a-token",
		"tampered":    mfa[:len(mfa)-3] + "AAA",
		"no prefix":   strings.TrimPrefix(mfa, "ghm_"),
		"access JWT":  a.at,
		"empty-ish":   "ghm_",
		"other label": "ghr_" + strings.TrimPrefix(mfa, "ghm_"),
	} {
		t.Run(name, func(t *testing.T) {
			wantDetail(t, step2(tok, e.code(a.secret, 0)), 401, "Invalid or expired mfa_token")
		})
	}
	wantValidation(t, step2("", "123456"), "mfa_token")
	wantValidation(t, step2(mfa, ""), "otp")

	t.Run("expired", func(t *testing.T) {
		e.clock.Advance(auth.MFATokenTTL)
		before := e.state(a.user.ID)
		code := e.code(a.secret, 0)
		wantDetail(t, step2(mfa, code), 401, "Invalid or expired mfa_token")
		if after := e.state(a.user.ID); after != before {
			t.Errorf("refused step 2 changed the state: %+v → %+v", before, after)
		}
		wantStatus(t, e.loginOTP("alice", code), 200) // the code was not spent
	})
	t.Run("2FA reset meanwhile", func(t *testing.T) {
		mfa := e.login("alice", tfPassword).str("mfa_token")
		if _, err := e.svc.UpdateUser(context.Background(), a.user.ID, auth.UserUpdate{TOTPEnabled: new(false)}); err != nil {
			t.Fatal(err)
		}
		wantDetail(t, step2(mfa, e.code(a.secret, 1)), 401, "Invalid or expired mfa_token")
		wantStatus(t, e.login("alice", tfPassword), 200)
	})
}

func TestFiveWrongCodesLockTheUserOutUntilTheWindowPasses(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	b := e.enrol("bob")
	// Wrong codes count wherever they are tried; a replay counts as wrong.
	used := e.code(a.secret, 0)
	wantStatus(t, e.postCode("/2fa/verify", a.at, used), 200)
	wrong := []func() response{
		func() response { return e.loginOTP("alice", e.wrongCode(a.secret)) },
		func() response { return e.postCode("/2fa/verify", a.at, e.wrongCode(a.secret)) },
		func() response { return e.postCode("/2fa/disable", a.at, e.wrongCode(a.secret)) },
		func() response { return e.postCode("/2fa/recovery-codes", a.at, "not-a-recovery-code") },
		func() response { return e.postCode("/2fa/verify", a.at, used) },
	}
	for i, try := range wrong {
		if r := try(); r.status != 400 && r.status != 401 {
			t.Fatalf("wrong code %d: %d %s", i+1, r.status, r.raw)
		}
		e.clock.Advance(10 * time.Second)
	}

	before := e.state(a.user.ID)
	right := e.code(a.secret, 0)
	for _, r := range []response{
		e.postCode("/2fa/verify", a.at, right),
		e.loginOTP("alice", right),
		e.loginOTP("alice", a.recovery[0]),
		e.postCode("/2fa/disable", a.at, right),
	} {
		wantStatus(t, r, 429)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 300-50 {
			t.Errorf("Retry-After = %q, want the rest of the 5-minute window", r.header.Get("Retry-After"))
		}
	}
	if after := e.state(a.user.ID); after != before {
		t.Errorf("refused codes changed the state: %+v → %+v", before, after)
	}
	wantStatus(t, e.loginOTP("bob", e.code(b.secret, 0)), 200) // others are not affected

	r := e.postCode("/2fa/verify", a.at, right)
	wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
	e.clock.Advance(time.Duration(wait-1) * time.Second)
	wantStatus(t, e.postCode("/2fa/verify", a.at, e.code(a.secret, 0)), 429)
	e.clock.Advance(time.Second)
	wantStatus(t, e.loginOTP("alice", e.code(a.secret, 0)), 200)
	// The recovery code refused during the lockout was not spent.
	wantStatus(t, e.loginOTP("alice", a.recovery[0]), 200)
	if e.audit.count(gatehouse.EventRateLimited, gatehouse.OutcomeFailure) != 6 { // one per 429
		t.Errorf("audit: %s", e.audit)
	}
}

func TestRightCodesDoNotCountTowardsTheLimit(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	for range 2 * auth.MaxCodeFailures {
		wantStatus(t, e.loginOTP("alice", e.code(a.secret, 0)), 200)
		e.nextStep()
	}
}

func TestDisableNeedsAValidCode(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	before := e.state(a.user.ID)
	wantDetail(t, e.postCode("/2fa/disable", a.at, e.wrongCode(a.secret)), 400, "Invalid 2FA code")
	if after := e.state(a.user.ID); after != before {
		t.Fatalf("refused disable changed the state: %+v → %+v", before, after)
	}
	wantStatus(t, e.postCode("/2fa/disable", a.at, e.code(a.secret, 0)), 200)
	if st := e.state(a.user.ID); st.Enabled || st.Secret != "" {
		t.Errorf("after disable: %+v", st)
	}
	if me := e.get("/users/me", a.at); me.body["totp_enabled"] != false {
		t.Errorf("totp_enabled after disable: %s", me.raw)
	}
	wantStatus(t, e.login("alice", tfPassword), 200)
	wantStatus(t, e.loginOTP("alice", a.recovery[0]), 200) // otp is ignored without 2FA
	wantDetail(t, e.postCode("/2fa/disable", a.at, "123456"), 400, "2FA is not enabled")
	if e.audit.count(gatehouse.EventTwoFactorDisabled, gatehouse.OutcomeSuccess) != 1 {
		t.Errorf("audit: %s", e.audit)
	}
	// Re-enrolment after a disable works.
	secret, _ := e.setupJSON(a.at)
	wantStatus(t, e.postCode("/2fa/verify", a.at, e.code(secret, 0)), 200)
}

func TestSetupWhileEnabledIsRefusedAndChangesNothing(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	before := e.state(a.user.ID)
	r := e.do("POST", "/2fa/setup", nil, map[string]string{"Authorization": "Bearer " + a.at, "Accept": "application/json"})
	wantDetail(t, r, 409, "2FA is already enabled; disable it before enrolling again")
	if after := e.state(a.user.ID); after != before {
		t.Errorf("refused setup changed the state: %+v → %+v", before, after)
	}
	wantStatus(t, e.loginOTP("alice", e.code(a.secret, 0)), 200)
}

func TestVerifyBeforeSetupIsRefused(t *testing.T) {
	e := newTwoFactorEnv(t)
	e.createUser("alice", tfPassword, gatehouse.RoleUser)
	at, _ := e.mustLogin("alice", tfPassword)
	wantDetail(t, e.postCode("/2fa/verify", at, "123456"), 400, "2FA is not set up; call /2fa/setup first")
	wantDetail(t, e.postCode("/2fa/recovery-codes", at, "123456"), 400, "2FA is not enabled")
}

func TestNoTwoFactorSecretReachesLogsOrAudit(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	code := e.code(a.secret, 0)
	mfa := e.login("alice", tfPassword).str("mfa_token")
	e.loginOTP("alice", code)
	e.post("/2fa/verify?code="+code, a.at)
	e.loginOTP("alice", a.recovery[0])
	for _, secret := range []string{a.secret, code, mfa, a.recovery[0]} {
		if strings.Contains(e.logs.String(), secret) || strings.Contains(e.audit.String(), secret) {
			t.Errorf("a 2FA secret %.6s… reached the logs or the audit", secret)
		}
	}
}

func TestAPIKeysCannotChangeTheSecondFactor(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.enrol("alice")
	ctx := context.Background()
	p, err := e.svc.Authenticate(ctx, a.at)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := e.svc.CreateAPIKey(ctx, p, "ci", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	before := e.state(a.user.ID)
	for _, path := range []string{"/2fa/setup", "/2fa/verify", "/2fa/disable", "/2fa/recovery-codes"} {
		r := e.do("POST", path+"?code="+e.code(a.secret, 0), nil, map[string]string{"X-API-Key": key})
		wantDetail(t, r, 403, "2FA requires a login token, not an API key")
	}
	if after := e.state(a.user.ID); after != before {
		t.Errorf("API key requests changed the state: %+v → %+v", before, after)
	}
}
