package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
	"github.com/gatehouse/gatehouse/totp"
)

func newTFClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1_700_000_000, 0)) }

// limiterStep is one step of a MemoryCodeLimiter script.
type limiterStep func(t *testing.T, l *MemoryCodeLimiter, c *fakeclock.Clock)

func reserve(user int64, want time.Duration) limiterStep {
	return func(t *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) {
		t.Helper()
		if got, err := l.Reserve(context.Background(), user); err != nil || got != want {
			t.Fatalf("Reserve(%d) = %v, %v; want %v", user, got, err, want)
		}
	}
}

func release(user int64) limiterStep {
	return func(_ *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) { l.Release(context.Background(), user) }
}

func advance(d time.Duration) limiterStep {
	return func(_ *testing.T, _ *MemoryCodeLimiter, c *fakeclock.Clock) { c.Advance(d) }
}

func fail(user int64, n int) limiterStep {
	return func(t *testing.T, l *MemoryCodeLimiter, c *fakeclock.Clock) {
		t.Helper()
		for range n {
			reserve(user, 0)(t, l, c)
		}
	}
}

func TestMemoryCodeLimiter(t *testing.T) {
	const window = 5 * time.Minute
	tests := []struct {
		name  string
		steps []limiterStep
	}{
		{"five failures pass, the sixth waits for the window to end",
			[]limiterStep{fail(1, 5), reserve(1, window), advance(time.Minute), reserve(1, 4*time.Minute)}},
		{"the window is fixed: it ends five minutes after its first failure",
			[]limiterStep{fail(1, 1), advance(4 * time.Minute), fail(1, 4), reserve(1, time.Minute),
				advance(time.Minute - time.Nanosecond), reserve(1, time.Nanosecond), advance(time.Nanosecond), fail(1, 5)}},
		{"a lockout ends with its window",
			[]limiterStep{fail(1, 5), advance(window), fail(1, 5), reserve(1, window)}},
		{"released attempts (right codes) do not count",
			[]limiterStep{fail(1, 4), reserve(1, 0), release(1), reserve(1, 0), release(1), fail(1, 1), reserve(1, window)}},
		{"a release after only right codes opens the next window afresh",
			[]limiterStep{reserve(1, 0), release(1), advance(4 * time.Minute), fail(1, 5), advance(2 * time.Minute), reserve(1, 3*time.Minute)}},
		{"refused attempts are not counted", // so a lockout does not outlast its window
			[]limiterStep{fail(1, 5), reserve(1, window), reserve(1, window), advance(window), fail(1, 5)}},
		{"users are counted apart",
			[]limiterStep{fail(1, 5), reserve(1, window), fail(2, 5), reserve(2, window)}},
		{"releasing an unknown user is harmless",
			[]limiterStep{release(9), fail(9, 5), reserve(9, window)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTFClock()
			l := NewMemoryCodeLimiter(MaxCodeFailures, window, c.Now)
			for _, step := range tt.steps {
				step(t, l, c)
			}
		})
	}
}

func TestMemoryCodeLimiterAdmitsExactlyMaxConcurrentAttempts(t *testing.T) {
	c := newTFClock()
	l := NewMemoryCodeLimiter(MaxCodeFailures, CodeFailureWindow, c.Now)
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if wait, _ := l.Reserve(context.Background(), 1); wait == 0 {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != MaxCodeFailures {
		t.Fatalf("%d of 50 concurrent attempts admitted, want %d", admitted.Load(), MaxCodeFailures)
	}
}

func TestMemoryCodeLimiterForgetsEndedWindows(t *testing.T) {
	c := newTFClock()
	l := NewMemoryCodeLimiter(MaxCodeFailures, CodeFailureWindow, c.Now)
	for id := range int64(5000) {
		l.Reserve(context.Background(), id)
	}
	c.Advance(CodeFailureWindow)
	for id := range int64(5000) {
		l.Reserve(context.Background(), 10_000+id)
	}
	if n := len(l.users); n > 5000+1024 {
		t.Fatalf("%d users remembered; ended windows were not swept", n)
	}
}

func newTestSealer(t testing.TB, seed byte) *totp.Sealer {
	t.Helper()
	key := make([]byte, totp.KeySize)
	key[0] = seed
	s, err := totp.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMFATokenOpensOnlyAsIssuedAndUntilExpiry(t *testing.T) {
	c := newTFClock()
	s := &Service{cfg: Config{Sealer: newTestSealer(t, 1)}, now: c.Now}
	tok := s.newMFAToken(42, "read:items")
	claims, ok := s.openMFAToken(tok)
	if !ok || claims.UserID != 42 || claims.Scope != "read:items" || claims.ID == "" {
		t.Fatalf("fresh token: %+v, %v", claims, ok)
	}
	if other, _ := s.openMFAToken(s.newMFAToken(42, "read:items")); other.ID == claims.ID {
		t.Fatal("two tokens share an ID, so spending one would spend both")
	}
	if strings.Contains(tok, "read:items") {
		t.Error("the token shows its claims")
	}
	otherKey := &Service{cfg: Config{Sealer: newTestSealer(t, 2)}, now: c.Now}
	sealedSecret := mfaTokenPrefix + s.cfg.Sealer.Seal([]byte(`{"jti":"x","sub":42,"exp":9999999999}`), secretAAD(42))
	for _, tt := range []struct {
		name string
		svc  *Service
		tok  string
	}{
		{"without its prefix", s, strings.TrimPrefix(tok, mfaTokenPrefix)},
		{"altered", s, tok[:len(tok)-2] + "AA"},
		{"under another key", otherKey, tok},
		{"sealed for a TOTP secret", s, sealedSecret},
		{"oversized", s, tok + strings.Repeat("A", 512)},
		{"empty", s, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tt.svc.openMFAToken(tt.tok); ok {
				t.Fatal("opened")
			}
		})
	}
	c.Advance(MFATokenTTL - time.Second)
	if _, ok := s.openMFAToken(tok); !ok {
		t.Fatal("refused before expiry")
	}
	c.Advance(time.Second)
	if _, ok := s.openMFAToken(tok); ok {
		t.Fatal("opened at expiry")
	}
}

func TestSecretsAndTokensStayOutOfStrings(t *testing.T) {
	en := Enrolment{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", URI: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}
	mfa := &MFARequiredError{Token: "ghm_secret-token"}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", en, en, en), fmt.Sprintf("%v %+v %#v", mfa, mfa, mfa)} {
		if strings.Contains(s, "JBSWY3DP") || strings.Contains(s, "secret-token") {
			t.Errorf("%q shows a secret", s)
		}
	}
	if gatehouse.ErrorCode(mfa) != gatehouse.EUNAUTHENTICATED || gatehouse.ErrorCode(&CodeLockoutError{}) != gatehouse.ERATELIMIT {
		t.Error("2FA errors lost their codes")
	}
}

func BenchmarkMemoryCodeLimiter(b *testing.B) {
	c := newTFClock()
	l := NewMemoryCodeLimiter(MaxCodeFailures, CodeFailureWindow, c.Now)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := int64(i % 1000)
		l.Reserve(ctx, id)
		l.Release(ctx, id)
	}
}

func BenchmarkOpenMFAToken(b *testing.B) {
	c := newTFClock()
	s := &Service{cfg: Config{Sealer: newTestSealer(b, 1)}, now: c.Now}
	tok := s.newMFAToken(42, "read:items write:items")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.openMFAToken(tok); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkSecondFactorCode is the whole check of a TOTP code at login
// against a real SQLite store: read the state, open the secret, verify,
// and store the step with a compare-and-set.
func BenchmarkSecondFactorCode(b *testing.B) {
	ctx := context.Background()
	c := newTFClock()
	s := newTestService(b, Config{Now: c.Now, Sealer: newTestSealer(b, 1)})
	u, err := s.CreateUser(ctx, NewUser{Username: "bench", Password: "correct horse battery"})
	if err != nil {
		b.Fatal(err)
	}
	en, err := s.SetupTwoFactor(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	code, _ := totp.Code(en.Secret, c.Now())
	if _, err := s.VerifyTwoFactor(ctx, u, code); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c.Advance(30 * time.Second) // a code is accepted once per step
		code, _ := totp.Code(en.Secret, c.Now())
		b.StartTimer()
		st, err := s.enabledState(ctx, u.ID)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.requireCode(ctx, u.ID, st, code, "login", errInvalidOTP); err != nil {
			b.Fatal(err)
		}
	}
}
