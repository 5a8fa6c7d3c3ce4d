package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/totp"
)

// browserFixture is a service with a sealer and a fake clock, and a user.
type browserFixture struct {
	svc   *Service
	clock *fakeclock.Clock
	user  *gatehouse.User
	ctx   context.Context
}

func newBrowserFixture(t *testing.T, cfg Config) *browserFixture {
	t.Helper()
	c := newTFClock()
	cfg.Now, cfg.Sealer = c.Now, newTestSealer(t, 1)
	svc := newTestService(t, cfg)
	ctx := gatehouse.WithRequestInfo(context.Background(),
		&gatehouse.RequestInfo{ClientAddr: netip.MustParseAddr("192.0.2.7"), UserAgent: "Mozilla/5.0 (test)\x00" + strings.Repeat("é", 300)})
	u, err := svc.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	return &browserFixture{svc: svc, clock: c, user: u, ctx: ctx}
}

func (f *browserFixture) login(t *testing.T) *BrowserSession {
	t.Helper()
	b, err := f.svc.BrowserLogin(f.ctx, "alice", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantRefused(t *testing.T, svc *Service, cookie, why string) {
	t.Helper()
	if p, err := svc.AuthenticateSession(context.Background(), cookie); err == nil {
		t.Fatalf("%s: the cookie still authenticates (%v)", why, p.User.Username)
	}
}

func TestBrowserLoginOpensASessionTheCookieAuthenticates(t *testing.T) {
	f := newBrowserFixture(t, Config{})
	b := f.login(t)
	if b.ExpiresAt.Sub(b.IssuedAt) != DefaultSessionTTL || b.AMR != "pwd" || len(b.Cookie) != 99 {
		t.Fatalf("session %v: lifetime %v, amr %q, cookie length %d", b, b.ExpiresAt.Sub(b.IssuedAt), b.AMR, len(b.Cookie))
	}
	p, err := f.svc.AuthenticateSession(f.ctx, b.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	if p.User.ID != f.user.ID || p.SessionID != b.ID || !IsBrowser(p) || p.Scope != "read:items write:items" {
		t.Fatalf("principal %+v", p)
	}
	list, err := f.svc.Sessions(f.ctx, f.user.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions = %v, %v", list, err)
	}
	s := list[0]
	if s.ID != b.ID || s.Kind != gatehouse.SessionBrowser || s.ClientIP != "192.0.2.7" || s.AMR != "pwd" ||
		!s.ExpiresAt.Equal(b.ExpiresAt) || !s.AuthTime.Equal(f.clock.Now()) {
		t.Fatalf("listed session %+v", s)
	}
	if len(s.UserAgent) > maxSessionUserAgent || strings.Contains(s.UserAgent, "\x00") || !strings.HasSuffix(s.UserAgent, "…") {
		t.Fatalf("user agent not capped and cleaned: %d bytes %q", len(s.UserAgent), s.UserAgent[:20])
	}
	if !s.LastUsedAt.Equal(f.clock.Now()) {
		t.Fatalf("the buffered use is not shown: last used %v", s.LastUsedAt)
	}
	// The cookie is not a bearer token, nor a token a cookie.
	if _, err := f.svc.Authenticate(f.ctx, b.Cookie); err == nil {
		t.Fatal("a session cookie passed as an access token")
	}
	pair, err := f.svc.Login(f.ctx, "alice", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, f.svc, pair.AccessToken, "an access token as a cookie")
}

func TestBrowserLoginAnswersAsTokenLogin(t *testing.T) {
	f := newBrowserFixture(t, Config{})
	_, errUnknown := f.svc.BrowserLogin(f.ctx, "nobody", "correct horse battery", "")
	_, errWrong := f.svc.BrowserLogin(f.ctx, "alice", "wrong password!", "")
	if errUnknown == nil || errUnknown.Error() != errWrong.Error() || gatehouse.ErrorMessage(errWrong) != "Incorrect username or password" {
		t.Fatalf("unknown user %v, wrong password %v: must look the same", errUnknown, errWrong)
	}
	if _, err := f.svc.UpdateUser(f.ctx, f.user.ID, disabling()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.BrowserLogin(f.ctx, "alice", "correct horse battery", ""); gatehouse.ErrorCode(err) != gatehouse.EINACTIVE {
		t.Fatalf("disabled user: %v", err)
	}
	if list, _ := f.svc.Sessions(f.ctx, f.user.ID); len(list) != 0 {
		t.Fatalf("refused logins opened sessions: %v", list)
	}
}

func TestBrowserLoginWithTwoFactor(t *testing.T) {
	f := newBrowserFixture(t, Config{})
	en, err := f.svc.SetupTwoFactor(f.ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(en.Secret, f.clock.Now())
	if _, err := f.svc.VerifyTwoFactor(f.ctx, f.user, code); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.BrowserLogin(f.ctx, "alice", "correct horse battery", "")
	var mfa *MFARequiredError
	if !errors.As(err, &mfa) {
		t.Fatalf("no code: %v, want mfa_required", err)
	}
	if _, err := f.svc.BrowserLoginMFA(f.ctx, mfa.Token, "000000"); gatehouse.ErrorMessage(err) != "Invalid 2FA code" {
		t.Fatalf("wrong code: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	code, _ = totp.Code(en.Secret, f.clock.Now())
	b, err := f.svc.BrowserLoginMFA(f.ctx, mfa.Token, code)
	if err != nil {
		t.Fatal(err)
	}
	if b.AMR != "pwd otp" {
		t.Fatalf("amr %q, want pwd otp", b.AMR)
	}
	if p, err := f.svc.AuthenticateSession(f.ctx, b.Cookie); err != nil || p.User.ID != f.user.ID {
		t.Fatalf("cookie after the second step: %v", err)
	}
	if _, err := f.svc.BrowserLoginMFA(f.ctx, mfa.Token, code); err == nil {
		t.Fatal("the mfa_token opened a second session")
	}
}

func TestSessionCookieRefusals(t *testing.T) {
	f := newBrowserFixture(t, Config{SessionTTL: 2 * time.Hour})
	b := f.login(t)
	raw, _ := base64.RawURLEncoding.DecodeString(b.Cookie)
	for i := range raw {
		flipped := append([]byte(nil), raw...)
		flipped[i] ^= 1
		wantRefused(t, f.svc, base64.RawURLEncoding.EncodeToString(flipped), "a cookie with a flipped bit")
	}
	for _, bad := range []string{"", "x", b.Cookie + "A", b.Cookie[:98], strings.ToUpper(b.Cookie), b.Cookie + "="} {
		wantRefused(t, f.svc, bad, "a malformed cookie "+bad)
	}
	other := newBrowserFixture(t, Config{})
	wantRefused(t, other.svc, b.Cookie, "a cookie under another service's key")

	f.clock.Advance(2*time.Hour - time.Second)
	if _, err := f.svc.AuthenticateSession(f.ctx, b.Cookie); err != nil {
		t.Fatalf("a second before its end: %v", err)
	}
	f.clock.Advance(time.Second)
	wantRefused(t, f.svc, b.Cookie, "at its end (absolute, however much it was used)")
}

func TestBrowserLogoutOutlivesTheAccessTokenTTL(t *testing.T) {
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f := newBrowserFixture(t, Config{Store: store, AccessTTL: 5 * time.Minute, SessionTTL: 3 * time.Hour})
	if err := f.svc.LoadSessionKey(f.ctx); err != nil {
		t.Fatal(err)
	}
	b := f.login(t)
	p, err := f.svc.AuthenticateSession(f.ctx, b.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.BrowserLogout(f.ctx, p); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, f.svc, b.Cookie, "after logout")
	// Long after every access token of the session would have expired,
	// the revocation is still kept: the cookie lives longer.
	f.clock.Advance(2 * time.Hour)
	if err := f.svc.Purge(f.ctx); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, f.svc, b.Cookie, "after logout and a purge")
	// A restarted instance on the same database, sharing the key.
	restarted := newTestService(t, Config{Store: store, Now: f.clock.Now, Sealer: newTestSealer(t, 1), SessionTTL: 3 * time.Hour})
	if err := restarted.LoadSessionKey(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Resync(f.ctx); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, restarted, b.Cookie, "after logout, on a restarted instance")
	fresh := f.login(t)
	if _, err := restarted.AuthenticateSession(f.ctx, fresh.Cookie); err != nil {
		t.Fatalf("a new session's cookie on the other instance: %v", err)
	}
}

func TestSessionKeyIsSharedAndSealed(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	a := newBrowserFixture(t, Config{Store: store})
	if err := a.svc.LoadSessionKey(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := store.Setting(ctx, sessionKeySetting)
	if err != nil || !strings.HasPrefix(v, "v1.") || totp.SealedKeyID(v) != newTestSealer(t, 1).KeyID() {
		t.Fatalf("stored key %q (%v): want a sealed value", v, err)
	}
	b := a.login(t)
	// An instance whose encryption key moved on (old one still held)
	// reads the same cookie key and reseals it.
	newKey := make([]byte, totp.KeySize)
	newKey[0] = 9
	old := make([]byte, totp.KeySize)
	old[0] = 1
	sealer, _ := totp.NewSealer(newKey, old)
	other := newTestService(t, Config{Store: store, Now: a.clock.Now, Sealer: sealer})
	if err := other.LoadSessionKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.AuthenticateSession(ctx, b.Cookie); err != nil {
		t.Fatalf("the other instance refuses the cookie: %v", err)
	}
	if v, _ := store.Setting(ctx, sessionKeySetting); totp.SealedKeyID(v) != sealer.KeyID() {
		t.Fatal("the key was not resealed under the current encryption key")
	}
	// An instance holding only a key that cannot open it replaces it:
	// every browser is signed out, and the server still starts.
	lost, _ := totp.NewSealer(make([]byte, totp.KeySize))
	third := newTestService(t, Config{Store: store, Now: a.clock.Now, Sealer: lost})
	if err := third.LoadSessionKey(ctx); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, third, b.Cookie, "under a replaced key")
}

func TestDisabledUsersCookieIsRefusedAtOnce(t *testing.T) {
	f := newBrowserFixture(t, Config{})
	b := f.login(t)
	if _, err := f.svc.UpdateUser(f.ctx, f.user.ID, disabling()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateSession(f.ctx, b.Cookie); gatehouse.ErrorCode(err) != gatehouse.EINACTIVE {
		t.Fatalf("disabled: %v, want EINACTIVE", err)
	}
	if err := f.svc.DeleteUser(f.ctx, f.user.ID); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, f.svc, b.Cookie, "deleted user")
}

func TestEndingSessions(t *testing.T) {
	f := newBrowserFixture(t, Config{})
	first, second := f.login(t), f.login(t)
	pair, err := f.svc.Login(f.ctx, "alice", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := f.svc.CreateUser(f.ctx, NewUser{Username: "bob", Password: "bob's long password"})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := f.svc.Sessions(f.ctx, f.user.ID); len(list) != 3 {
		t.Fatalf("%d sessions listed, want 3 (two browsers, one token login)", len(list))
	}
	// Another user cannot end alice's session; it does not exist for him.
	if err := f.svc.EndSession(f.ctx, bob.ID, second.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("bob ending alice's session: %v", err)
	}
	if err := f.svc.EndSession(f.ctx, f.user.ID, second.ID); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, f.svc, second.Cookie, "an ended session")
	if err := f.svc.EndSession(f.ctx, f.user.ID, second.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("ending it twice: %v", err)
	}
	n, err := f.svc.EndSessions(f.ctx, f.user.ID, first.ID)
	if err != nil || n != 1 {
		t.Fatalf("EndSessions = %d, %v; want 1", n, err)
	}
	if _, err := f.svc.AuthenticateSession(f.ctx, first.Cookie); err != nil {
		t.Fatalf("the kept session was ended: %v", err)
	}
	if _, err := f.svc.Authenticate(f.ctx, pair.AccessToken); err == nil {
		t.Fatal("the token session survived sign-out of the others")
	}
	if _, err := f.svc.Refresh(f.ctx, pair.RefreshToken); err == nil {
		t.Fatal("its refresh token still rotates")
	}
}

func TestSessionUsesAreFlushedInBatches(t *testing.T) {
	f := newBrowserFixture(t, Config{})
	b := f.login(t)
	f.clock.Advance(time.Minute)
	if _, err := f.svc.AuthenticateSession(f.ctx, b.Cookie); err != nil {
		t.Fatal(err)
	}
	s, err := f.svc.cfg.Store.LiveSession(f.ctx, b.ID, f.clock.Now())
	if err != nil || !s.LastUsedAt.IsZero() {
		t.Fatalf("a use was written at once (%v, %v); it is buffered", s, err)
	}
	if err := f.svc.FlushSessionUses(f.ctx); err != nil {
		t.Fatal(err)
	}
	s, err = f.svc.cfg.Store.LiveSession(f.ctx, b.ID, f.clock.Now())
	if err != nil || !s.LastUsedAt.Equal(f.clock.Now()) {
		t.Fatalf("after a flush last used %v (%v), want %v", s.LastUsedAt, err, f.clock.Now())
	}
}

func TestCapText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\x00b", "ab"},
		{"bad \xffutf", "bad \uFFFDutf"},
		{strings.Repeat("a", 10), strings.Repeat("a", 10)},
		{strings.Repeat("é", 6), "ééé…"}, // 12 bytes: cut at a boundary within 7, then "…"
	} {
		if got := capText(c.in, 10); got != c.want || len(got) > 10 {
			t.Errorf("capText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// BenchmarkAuthenticateSession compares verifying a session cookie with
// verifying an access token (Authenticate), both from memory.
func BenchmarkAuthenticateSession(b *testing.B) {
	svc := newTestService(b, Config{Sealer: newTestSealer(b, 1)})
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery"}); err != nil {
		b.Fatal(err)
	}
	bs, err := svc.BrowserLogin(ctx, "alice", "correct horse battery", "")
	if err != nil {
		b.Fatal(err)
	}
	pair, err := svc.Login(ctx, "alice", "correct horse battery", "")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("cookie", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.AuthenticateSession(ctx, bs.Cookie); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.Authenticate(ctx, pair.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func disabling() UserUpdate {
	yes := true
	return UserUpdate{Disabled: &yes}
}

func TestLogoutOfACookiePrincipalEndsOnlyItsSession(t *testing.T) {
	f := newBrowserFixture(t, Config{})
	a, b := f.login(t), f.login(t)
	p, err := f.svc.AuthenticateSession(f.ctx, a.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(f.ctx, p); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, f.svc, a.Cookie, "after Logout")
	if _, err := f.svc.AuthenticateSession(f.ctx, b.Cookie); err != nil {
		t.Fatalf("another session's cookie refused after one Logout: %v", err)
	}
}
