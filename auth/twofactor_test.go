package auth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/totp"
)

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
