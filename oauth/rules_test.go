package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func TestRedirectURIsMatchExactlyButLoopbackPorts(t *testing.T) {
	reg := []string{"https://app.example/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb?x=1", "http://localhost/cb"}
	for _, tt := range []struct {
		uri  string
		want bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example/cb/", false},
		{"https://app.example/cb?x=1", false},
		{"https://APP.example/cb", false},
		{"https://app.example:443/cb", false},
		{"https://app.example/cb#frag", false},
		{"http://app.example/cb", false},
		{"http://127.0.0.1/cb", true},
		{"http://127.0.0.1:49152/cb", true}, // RFC 8252 §7.3: any port
		{"http://127.0.0.1:49152/other", false},
		{"http://127.0.0.1:49152/cb?x=1", false},
		{"https://127.0.0.1:49152/cb", false},
		{"http://user@127.0.0.1:49152/cb", false},
		{"http://[::1]:1/cb?x=1", true},
		{"http://[::1]:1/cb", false},
		{"http://localhost:3000/cb", true},
		{"http://127.0.0.2:3000/cb", false}, // not registered: another loopback address is another host
		{"", false},
	} {
		if got := redirectAllowed(reg, tt.uri); got != tt.want {
			t.Errorf("redirectAllowed(%q) = %v, want %v", tt.uri, got, tt.want)
		}
	}
}

func TestPKCEVerifierRules(t *testing.T) {
	v := strings.Repeat("a", 43)
	sum := sha256.Sum256([]byte(v))
	ch := base64.RawURLEncoding.EncodeToString(sum[:])
	if !verifierMatches(v, ch) {
		t.Fatal("the right verifier was refused")
	}
	long := strings.Repeat("b", 129)
	lsum := sha256.Sum256([]byte(long))
	for name, tt := range map[string][2]string{
		"wrong verifier":             {strings.Repeat("b", 43), ch},
		"too short (42)":             {v[:42], ch},
		"too long (129)":             {long, base64.RawURLEncoding.EncodeToString(lsum[:])},
		"plain: verifier as is":      {v, v},
		"character outside RFC 7636": {strings.Repeat("a", 42) + "+", ch},
	} {
		if verifierMatches(tt[0], tt[1]) {
			t.Errorf("%s: accepted", name)
		}
	}
	if !validChallenge(ch) || validChallenge(ch+"=") || validChallenge(v) || validChallenge("") {
		t.Error("validChallenge accepts only a base64url SHA-256")
	}
}

func TestClientSecretsDuringARotation(t *testing.T) {
	now := time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC)
	hash := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	secrets := []gatehouse.ClientSecret{
		{Hash: hash("new"), CreatedAt: now},
		{Hash: hash("old"), CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Minute)},
		{Hash: hash("older"), CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now},
	}
	for secret, want := range map[string]bool{"new": true, "old": true, "older": false, "": false, "NEW": false} {
		if got := VerifyClientSecret(&gatehouse.OAuthClient{Secrets: secrets}, secret, now); got != want {
			t.Errorf("secret %q: %v, want %v", secret, got, want)
		}
	}
	if VerifyClientSecret(&gatehouse.OAuthClient{Secrets: secrets}, "old", now.Add(time.Minute)) {
		t.Error("the old secret works after its overlap ended")
	}
	if VerifyClientSecret(&gatehouse.OAuthClient{}, "", now) {
		t.Error("no secrets matched an empty secret")
	}
}

func TestAMRAndACR(t *testing.T) {
	for amr, want := range map[string]struct {
		amr []string
		acr string
	}{
		"pwd":          {[]string{"pwd"}, acrSingleFactor},
		"pwd otp":      {[]string{"pwd", "otp", "mfa"}, acrMultiFactor},
		"hwk":          {[]string{"hwk"}, acrSingleFactor},
		"hwk user":     {[]string{"hwk", "user", "mfa"}, acrMultiFactor},
		"pwd hwk user": {[]string{"pwd", "hwk", "user", "mfa"}, acrMultiFactor},
	} {
		got, acr := amrAndACR(amr)
		if !slices.Equal(got, want.amr) || acr != want.acr {
			t.Errorf("amrAndACR(%q) = %v %s, want %v %s", amr, got, acr, want.amr, want.acr)
		}
	}
}

func TestScopeGrants(t *testing.T) {
	p := &Provider{}
	user := &gatehouse.User{Role: gatehouse.RoleUser}
	admin := &gatehouse.User{Role: gatehouse.RoleAdmin}
	withRefresh := &gatehouse.OAuthClient{Grants: []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken}}
	noRefresh := &gatehouse.OAuthClient{Grants: []string{gatehouse.GrantAuthorizationCode}}
	limited := &gatehouse.OAuthClient{Grants: withRefresh.Grants, Scopes: []string{"openid", "read:items"}}
	for _, tt := range []struct {
		c         *gatehouse.OAuthClient
		u         *gatehouse.User
		ask, want string
	}{
		{withRefresh, user, "openid profile email offline_access read:items", "openid profile email offline_access read:items"},
		{withRefresh, user, "openid admin unknown openid", "openid"},
		{withRefresh, admin, "openid admin", "openid admin"},
		{noRefresh, user, "openid offline_access", "openid"},
		{limited, user, "openid email write:items read:items", "openid read:items"},
		{withRefresh, user, "", "openid"},
	} {
		if got := p.grantScopes(tt.c, tt.ask, tt.u); got != tt.want {
			t.Errorf("grantScopes(%q) for %s = %q, want %q", tt.ask, tt.u.Role, got, tt.want)
		}
	}
}
