package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
	"github.com/gatehouse/gatehouse/passkey"
	"github.com/gatehouse/gatehouse/passkey/passkeytest"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

const pkOrigin = "https://auth.example.com"

// auditLog keeps the events a service records.
type auditLog struct {
	mu     sync.Mutex
	events []gatehouse.AuditEvent
}

func (l *auditLog) Record(_ context.Context, e gatehouse.AuditEvent) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// last returns the last event of type typ, or nil.
func (l *auditLog) last(typ string) *gatehouse.AuditEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.events) - 1; i >= 0; i-- {
		if l.events[i].Type == typ {
			e := l.events[i]
			return &e
		}
	}
	return nil
}

func (l *auditLog) count(typ string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

type pkFixture struct {
	svc   *auth.Service
	db    *sqlite.DB
	clock *fakeclock.Clock
	audit *auditLog
	authn *passkeytest.Authenticator
}

func newPKFixture(tb testing.TB) *pkFixture {
	tb.Helper()
	ctx := context.Background()
	clock := fakeclock.New(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "g.db"), sqlite.WithNow(clock.Now))
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := token.NewManager(token.Config{Keys: []token.Key{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}},
		Issuer: "gatehouse", Audience: "gatehouse", Leeway: time.Minute, Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	sealer, err := totp.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	rp, err := passkey.New(passkey.Config{RPID: "example.com", Origins: []string{pkOrigin}})
	if err != nil {
		tb.Fatal(err)
	}
	pool := password.NewPool(1, 4)
	log := &auditLog{}
	svc, err := auth.New(auth.Config{Store: db, Tokens: tokens, Pool: pool, Policy: password.DefaultPolicy(), Now: clock.Now,
		Hasher:    password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		KeyPepper: []byte("pepper-pepper-pepper-pepper-pepper!"), Sealer: sealer, Auditor: log, Passkeys: rp, MaxPasskeys: 3})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pool.Close(); db.Close() })
	return &pkFixture{svc: svc, db: db, clock: clock, audit: log, authn: passkeytest.New(pkOrigin, "example.com")}
}

func (f *pkFixture) user(tb testing.TB, name string) *gatehouse.User {
	tb.Helper()
	u, err := f.svc.CreateUser(context.Background(), auth.NewUser{Username: name, Password: testPassword, Role: gatehouse.RoleUser})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// browser signs u in with the password and returns the session's
// principal, as the pages see it.
func (f *pkFixture) browser(tb testing.TB, name string) *gatehouse.Principal {
	tb.Helper()
	b, err := f.svc.BrowserLogin(context.Background(), name, testPassword, "")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := f.svc.AuthenticateSession(context.Background(), b.Cookie)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// register runs a whole registration for the session's user.
func (f *pkFixture) register(tb testing.TB, p *gatehouse.Principal, name string) (*gatehouse.Passkey, *passkeytest.Credential) {
	tb.Helper()
	ctx := context.Background()
	opts, st, err := f.svc.BeginPasskeyRegistration(ctx, p, name, "")
	if err != nil {
		tb.Fatal(err)
	}
	resp, cred, err := f.authn.Register(opts)
	if err != nil {
		tb.Fatal(err)
	}
	pk, err := f.svc.FinishPasskeyRegistration(ctx, p, st, resp)
	if err != nil {
		tb.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	return pk, cred
}

// signIn runs a sign-in without a username with cred.
func (f *pkFixture) signIn(tb testing.TB, cred *passkeytest.Credential) (*auth.BrowserSession, error) {
	tb.Helper()
	ctx := context.Background()
	opts, st, err := f.svc.BeginPasskeyLogin(ctx, false)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := f.authn.Assert(opts, cred)
	if err != nil {
		tb.Fatal(err)
	}
	return f.svc.FinishPasskeyLogin(ctx, st, resp, "")
}

func TestPasskeyRegisterAndSignInWithoutAUsername(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	alice := f.user(t, "alice")
	p := f.browser(t, "alice")
	pk, cred := f.register(t, p, "  my laptop ")
	if pk.Name != "my laptop" || pk.UserID != alice.ID {
		t.Fatalf("registered %+v", pk)
	}
	if e := f.audit.last(gatehouse.EventPasskeyRegistered); e == nil || e.UserID != alice.ID || !strings.Contains(e.Detail, "my laptop") {
		t.Fatalf("registration audit: %+v", e)
	}

	f.clock.Advance(time.Minute)
	b, err := f.signIn(t, cred)
	if err != nil {
		t.Fatal(err)
	}
	if b.UserID != alice.ID || b.AMR != "hwk user" {
		t.Fatalf("session: user %d, amr %q", b.UserID, b.AMR)
	}
	got, err := f.svc.AuthenticateSession(ctx, b.Cookie)
	if err != nil || got.User.ID != alice.ID {
		t.Fatalf("the passkey session's cookie: %v, %v", got, err)
	}
	list, _ := f.svc.Passkeys(ctx, alice.ID)
	if len(list) != 1 || list[0].SignCount != 1 || !list[0].LastUsedAt.Equal(f.clock.Now()) {
		t.Fatalf("after the sign-in: %+v", list[0])
	}
	if e := f.audit.last(gatehouse.EventLogin); e == nil || e.Outcome != gatehouse.OutcomeSuccess || e.UserID != alice.ID || e.Detail != "amr: hwk user" {
		t.Fatalf("login audit (with the methods, issue 14 §3): %+v", e)
	}
	// The session is one like any other: listed, with its methods.
	sessions, _ := f.svc.Sessions(ctx, alice.ID)
	found := false
	for _, s := range sessions {
		if s.ID == b.ID {
			found = s.AMR == "hwk user" && s.Kind == gatehouse.SessionBrowser
		}
	}
	if !found {
		t.Fatal("the passkey session is not listed with amr \"hwk user\"")
	}
}

func TestPasskeyWithUserVerificationSatisfiesTwoFactor(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	u := f.user(t, "bob")
	en, err := f.svc.SetupTwoFactor(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(en.Secret, f.clock.Now())
	if _, err := f.svc.VerifyTwoFactor(ctx, u, code); err != nil {
		t.Fatal(err)
	}
	// Registered from a session that passed both steps.
	_, err = f.svc.BrowserLogin(ctx, "bob", testPassword, "")
	var mfa *auth.MFARequiredError
	if !errors.As(err, &mfa) {
		t.Fatalf("password login of a 2FA user: %v", err)
	}
	b, err := f.svc.BrowserLoginMFA(ctx, mfa.Token, mustCode(t, en.Secret, f.clock.Now().Add(30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.svc.AuthenticateSession(ctx, b.Cookie)
	_, cred := f.register(t, p, "phone")

	b, err = f.signIn(t, cred)
	if err != nil {
		t.Fatalf("a user-verifying passkey of a 2FA user: %v", err)
	}
	if b.AMR != "hwk user" {
		t.Fatalf("amr %q", b.AMR)
	}

	// Without user verification it signs nobody in alone.
	f.authn.NoUV = true
	_, err = f.signIn(t, cred)
	if gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED || !strings.Contains(gatehouse.ErrorMessage(err), "did not verify you") {
		t.Fatalf("a passkey without UV alone: %v", err)
	}
	if e := f.audit.last(gatehouse.EventPasskeyRefused); e == nil || !strings.Contains(e.Detail, string(passkey.ReasonNoUV)) {
		t.Fatalf("refusal audit: %+v", e)
	}

	// …but it is a second factor after the password.
	_, err = f.svc.BrowserLogin(ctx, "bob", testPassword, "")
	errors.As(err, &mfa)
	opts, st, err := f.svc.BeginPasskeySecondFactor(ctx, mfa.Token)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := f.authn.Assert(opts, cred)
	b, err = f.svc.FinishPasskeyLogin(ctx, st, resp, mfa.Token)
	if err != nil {
		t.Fatalf("passkey as the second step: %v", err)
	}
	if b.AMR != "pwd hwk" {
		t.Fatalf("second-step amr %q, want \"pwd hwk\"", b.AMR)
	}
	// The mfa_token is spent: neither a code nor another passkey uses it.
	_, err = f.svc.BrowserLoginMFA(ctx, mfa.Token, mustCode(t, en.Secret, f.clock.Now().Add(60*time.Second)))
	if gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
		t.Fatalf("the spent mfa_token with a code: %v", err)
	}

	// A password change between the two steps: the mfa_token checked the
	// old password, so the passkey finishes no login with it (contract
	// §12), as a code would not.
	_, err = f.svc.BrowserLogin(ctx, "bob", testPassword, "")
	errors.As(err, &mfa)
	opts, st, err = f.svc.BeginPasskeySecondFactor(ctx, mfa.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetPassword(ctx, u.ID, "a brand new passphrase", ""); err != nil {
		t.Fatal(err)
	}
	resp, _ = f.authn.Assert(opts, cred)
	if _, err = f.svc.FinishPasskeyLogin(ctx, st, resp, mfa.Token); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
		t.Fatalf("passkey as the second step after a password change: %v", err)
	}
	if list, err := f.db.UserSessions(ctx, u.ID, f.clock.Now(), 10); err != nil || len(list) != 0 {
		t.Fatalf("sessions after the change: %d, %v", len(list), err)
	}
}

func mustCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPasskeySignInRefusals: each refusal is refused, changes nothing, and
// is audited with its reason.
func TestPasskeySignInRefusals(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(f *pkFixture, cred *passkeytest.Credential, other *passkeytest.Credential)
		want  passkey.Reason
		typ   string
	}{
		{"wrong origin", func(f *pkFixture, _, _ *passkeytest.Credential) { f.authn.Origin = "https://evil.example" },
			passkey.ReasonOrigin, gatehouse.EventPasskeyRefused},
		{"wrong RP ID", func(f *pkFixture, _, _ *passkeytest.Credential) { f.authn.RPID = "evil.example" },
			passkey.ReasonRPID, gatehouse.EventPasskeyRefused},
		{"counter going backwards", func(_ *pkFixture, cred, _ *passkeytest.Credential) { cred.Counter = 0; cred.FixedCounter = true },
			passkey.ReasonCounter, gatehouse.EventPasskeyCounter},
		{"a credential of another user", func(_ *pkFixture, cred, other *passkeytest.Credential) { cred.UserHandle = other.UserHandle },
			passkey.ReasonUserHandle, gatehouse.EventPasskeyRefused},
		{"a deleted credential", func(f *pkFixture, cred, _ *passkeytest.Credential) {
			id, _ := passkey.UserIDOf(cred.UserHandle)
			if err := f.db.DeletePasskey(context.Background(), id, cred.ID); err != nil {
				panic(err)
			}
		}, passkey.ReasonUnknown, gatehouse.EventPasskeyRefused},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newPKFixture(t)
			ctx := context.Background()
			carol := f.user(t, "carol")
			f.user(t, "dave")
			_, cred := f.register(t, f.browser(t, "carol"), "key")
			_, other := f.register(t, f.browser(t, "dave"), "key")
			// One use first, so that the counter has something to go back from.
			if _, err := f.signIn(t, cred); err != nil {
				t.Fatal(err)
			}
			before, _ := f.svc.Passkeys(ctx, carol.ID)
			tt.setup(f, cred, other)
			b, err := f.signIn(t, cred)
			if b != nil || gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
				t.Fatalf("sign-in = %v, %v; want refused", b, err)
			}
			e := f.audit.last(tt.typ)
			if e == nil || e.Outcome != gatehouse.OutcomeFailure || !strings.HasSuffix(e.Detail, string(tt.want)) {
				t.Fatalf("audit %s: %+v; want reason %q", tt.typ, e, tt.want)
			}
			if tt.want != passkey.ReasonUnknown {
				after, _ := f.svc.Passkeys(ctx, carol.ID)
				if after[0].SignCount != before[0].SignCount || !after[0].LastUsedAt.Equal(before[0].LastUsedAt) {
					t.Fatalf("a refused sign-in changed the passkey: %+v → %+v", before[0], after[0])
				}
			}
			if n := f.audit.count(gatehouse.EventLogin); n != 3 { // the two password logins and the first passkey sign-in
				t.Fatalf("%d login events; a refusal is audited once, as a passkey refusal", n)
			}
		})
	}
}

func TestPasskeyChallengeIsSingleUseShortLivedAndBound(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	f.user(t, "erin")
	f.user(t, "frank")
	_, cred := f.register(t, f.browser(t, "erin"), "key")

	refused := func(name string, err error) {
		t.Helper()
		if gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED || !strings.Contains(gatehouse.ErrorMessage(err), "took too long or was already used") {
			t.Fatalf("%s: %v", name, err)
		}
		if e := f.audit.last(gatehouse.EventPasskeyRefused); e == nil || !strings.HasSuffix(e.Detail, string(passkey.ReasonExpired)) {
			t.Fatalf("%s: audit %+v", name, e)
		}
	}

	// Replayed: the same state and answer a second time.
	opts, st, _ := f.svc.BeginPasskeyLogin(ctx, true)
	resp, _ := f.authn.Assert(opts, cred)
	if _, err := f.svc.FinishPasskeyLogin(ctx, st, resp, ""); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.FinishPasskeyLogin(ctx, st, resp, "")
	refused("replay", err)

	// A failed finish spends the ceremony too.
	opts, st, _ = f.svc.BeginPasskeyLogin(ctx, false)
	f.authn.Origin = "https://evil.example"
	bad, _ := f.authn.Assert(opts, cred)
	f.authn.Origin = pkOrigin
	if _, err := f.svc.FinishPasskeyLogin(ctx, st, bad, ""); err == nil {
		t.Fatal("wrong origin accepted")
	}
	good, _ := f.authn.Assert(opts, cred)
	_, err = f.svc.FinishPasskeyLogin(ctx, st, good, "")
	refused("after a failure", err)

	// Expired: five minutes.
	opts, st, _ = f.svc.BeginPasskeyLogin(ctx, false)
	f.clock.Advance(passkey.Timeout)
	resp, _ = f.authn.Assert(opts, cred)
	_, err = f.svc.FinishPasskeyLogin(ctx, st, resp, "")
	refused("expired", err)

	// Forged or tampered state, or a registration's state for a sign-in.
	opts, st, _ = f.svc.BeginPasskeyLogin(ctx, false)
	resp, _ = f.authn.Assert(opts, cred)
	for _, forged := range []string{"", "ghc_", "ghc_AAAA", st[:len(st)-2] + "AA", strings.Repeat("x", 5000)} {
		_, err = f.svc.FinishPasskeyLogin(ctx, forged, resp, "")
		refused("forged state", err)
	}
	p := f.browser(t, "erin")
	_, regState, _ := f.svc.BeginPasskeyRegistration(ctx, p, "x", "")
	_, err = f.svc.FinishPasskeyLogin(ctx, regState, resp, "")
	refused("a registration's state", err)

	// A registration begun by one session cannot be finished by another,
	// even of the same user.
	regOpts, regState, _ := f.svc.BeginPasskeyRegistration(ctx, p, "x", "")
	regResp, _, _ := f.authn.Register(regOpts)
	_, err = f.svc.FinishPasskeyRegistration(ctx, f.browser(t, "erin"), regState, regResp)
	refused("another session's registration", err)
	_, err = f.svc.FinishPasskeyRegistration(ctx, f.browser(t, "frank"), regState, regResp)
	refused("another user's registration", err)
}

func TestPasskeyChangesNeedARecentLogin(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	u := f.user(t, "gina")
	p := f.browser(t, "gina")
	pk, _ := f.register(t, p, "key")

	f.clock.Advance(auth.RecentAuth + time.Second)
	if _, _, err := f.svc.BeginPasskeyRegistration(ctx, p, "another", ""); !errors.Is(err, auth.ErrReauthRequired) {
		t.Fatalf("registration from an old session: %v", err)
	}
	if err := f.svc.DeletePasskey(ctx, p, pk.ID, ""); !errors.Is(err, auth.ErrReauthRequired) {
		t.Fatalf("deletion from an old session: %v", err)
	}
	if err := f.svc.DeletePasskey(ctx, p, pk.ID, "wrong password"); gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
		t.Fatalf("deletion with a wrong password: %v", err)
	}
	if list, _ := f.svc.Passkeys(ctx, u.ID); len(list) != 1 {
		t.Fatal("a refused deletion deleted")
	}
	// Another user's passkey is not found, before any password is asked.
	f.user(t, "hal")
	if err := f.svc.DeletePasskey(ctx, f.browser(t, "hal"), pk.ID, ""); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("deleting another user's passkey: %v", err)
	}
	if _, _, err := f.svc.BeginPasskeyRegistration(ctx, p, "another", testPassword); err != nil {
		t.Fatalf("registration with the password: %v", err)
	}
	if err := f.svc.DeletePasskey(ctx, p, pk.ID, testPassword); err != nil {
		t.Fatalf("deletion with the password: %v", err)
	}
	if e := f.audit.last(gatehouse.EventPasskeyDeleted); e == nil || e.UserID != u.ID {
		t.Fatalf("deletion audit: %+v", e)
	}
	// A token session is no browser session: passkeys are managed from the page.
	tp := &gatehouse.Principal{User: u, TokenID: "jti", SessionID: "sid"}
	if _, _, err := f.svc.BeginPasskeyRegistration(ctx, tp, "x", testPassword); gatehouse.ErrorCode(err) != gatehouse.EFORBIDDEN {
		t.Fatalf("registration from a token: %v", err)
	}
}

func TestPasskeyLimitAndNames(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	f.user(t, "ivy")
	p := f.browser(t, "ivy")
	for range 3 { // the fixture's cap
		f.register(t, p, "key")
	}
	if _, _, err := f.svc.BeginPasskeyRegistration(ctx, p, "fourth", ""); gatehouse.ErrorCode(err) != gatehouse.ECONFLICT {
		t.Fatalf("a fourth passkey under a cap of 3: %v", err)
	}
	for _, bad := range []string{strings.Repeat("x", 65), "tab\there", "nul\x00"} {
		if _, err := auth.PasskeyName(bad); gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			t.Fatalf("PasskeyName(%q) = %v", bad, err)
		}
	}
	if n, err := auth.PasskeyName(""); err != nil || n != "Passkey" {
		t.Fatalf("PasskeyName(\"\") = %q, %v", n, err)
	}
}

func TestPasskeyOfADisabledUserIsRefusedAfterVerification(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	u := f.user(t, "jon")
	_, cred := f.register(t, f.browser(t, "jon"), "key")
	disabled := true
	if _, err := f.svc.UpdateUser(ctx, u.ID, auth.UserUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.signIn(t, cred); gatehouse.ErrorCode(err) != gatehouse.EINACTIVE {
		t.Fatalf("a disabled user's passkey: %v", err)
	}
}

func TestPasskeysUnavailableWithoutAnRP(t *testing.T) {
	f := newFixture(t)
	if f.svc.PasskeysEnabled() {
		t.Fatal("enabled without an RP")
	}
	if _, _, err := f.svc.BeginPasskeyLogin(context.Background(), false); !errors.Is(err, auth.ErrPasskeysOff) {
		t.Fatalf("BeginPasskeyLogin: %v", err)
	}
}

// BenchmarkPasskeyLogin is a whole sign-in without a username on SQLite:
// begin (challenge, sealed state), the authenticator's signature (outside
// the timer), finish (open and spend the state, parse, find the passkey
// and its user, verify the ES256 assertion, counter compare-and-set, open
// the browser session).
func BenchmarkPasskeyLogin(b *testing.B) {
	f := newPKFixture(b)
	ctx := context.Background()
	f.user(b, "bench")
	_, cred := f.register(b, f.browser(b, "bench"), "key")
	b.ReportAllocs()
	for b.Loop() {
		opts, st, err := f.svc.BeginPasskeyLogin(ctx, false)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		resp, err := f.authn.Assert(opts, cred)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := f.svc.FinishPasskeyLogin(ctx, st, resp, ""); err != nil {
			b.Fatal(err)
		}
	}
}
