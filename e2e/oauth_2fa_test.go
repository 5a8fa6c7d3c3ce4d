package e2e

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	be "encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// totpAt is the RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret
// at t, computed here as an authenticator app does.
func totpAt(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		t.Fatalf("TOTP secret %q: %v", secret, err)
	}
	var msg [8]byte
	be.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 15
	n := be.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", n%1000000)
}

// TestOAuthLoginWithTwoFactor: an OAuth login of a user with 2FA goes
// through the login page's second step (contract §13 keeps §6's rules),
// and the ID token's amr says both factors.
func TestOAuthLoginWithTwoFactor(t *testing.T) {
	s := startOAuth(t)
	cmd := exec.Command(binary, "user", "create", "carol", "--password-stdin")
	cmd.Env = append(os.Environ(), s.cliEnv...)
	cmd.Stdin = strings.NewReader("carol-password-123\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user create: %v: %s", err, out)
	}
	bearer := s.login(t, "carol", "carol-password-123")
	req, _ := http.NewRequest("POST", s.base+"/2fa/setup", nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	st, m, _ := doJSON(t, req)
	secret := str(m, "secret")
	if st != 200 || secret == "" {
		t.Fatalf("2fa setup: %d %v", st, m)
	}
	// Enrol with the previous step's code, so that the login's code (this
	// step's) is not a replay.
	st, m = call(t, "POST", s.base+"/2fa/verify", bearer, "application/json",
		fmt.Sprintf(`{"code": %q}`, totpAt(t, secret, time.Now().Add(-30*time.Second))))
	if st != 200 {
		t.Fatalf("2fa verify: %d %v", st, m)
	}

	rp := s.newClient(t, "mfa-rp", "--redirect-uri", "https://rp.example.test/cb")
	b := newBrowser(t)
	b.user, b.pass = "carol", "carol-password-123"
	b.otp = func() string { return totpAt(t, secret, time.Now()) }
	tok, _, v := s.codeFlow(t, b, rp, "basic", "openid", nil)
	if v.logins != 1 || v.codes != 1 {
		t.Errorf("login forms %d, code forms %d; want 1 and 1", v.logins, v.codes)
	}
	idt := claims(t, str(tok, "id_token"))
	amr, _ := idt["amr"].([]any)
	if !slices.Contains(amr, any("pwd")) || !slices.Contains(amr, any("otp")) {
		t.Errorf("amr %v: want pwd and otp", amr)
	}
	// acr tells a two-factor login from a password-only one.
	one, _, _ := s.codeFlow(t, newBrowser(t), rp, "basic", "openid", nil)
	if acr1 := claims(t, str(one, "id_token"))["acr"]; idt["acr"] == nil || idt["acr"] == acr1 {
		t.Errorf("acr %v after password and code, %v after a password alone: want two different values", idt["acr"], acr1)
	}

	// Without the code, no code reaches the client.
	b2 := newBrowser(t)
	b2.user, b2.pass = "carol", "carol-password-123"
	b2.otp = func() string { return "000000" }
	a := newAuthReq(rp, rp.redirect, "openid", url.Values{})
	v = b2.run(s.authorizeURL(a), false)
	if v.redirect != nil || v.codes < 1 {
		t.Fatalf("a wrong code: redirected to %v after %d code forms", v.redirect, v.codes)
	}
}
