package passkey_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/passkey"
	"github.com/gatehouse/gatehouse/passkey/passkeytest"
)

const origin = "https://auth.example.com"

func newRP(t *testing.T) *passkey.RP {
	t.Helper()
	rp, err := passkey.New(passkey.Config{RPID: "example.com", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func TestCheckConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rpID    string
		origins []string
		ok      bool
	}{
		{"host name and its origin", "auth.example.com", []string{"https://auth.example.com"}, true},
		{"a parent domain as RP ID", "example.com", []string{"https://auth.example.com", "https://example.com:8443"}, true},
		{"localhost over http", "localhost", []string{"http://localhost:8000"}, true},
		{"an IPv4 address", "127.0.0.1", []string{"http://127.0.0.1:8000"}, false},
		{"an IPv6 address", "::1", []string{"http://[::1]:8000"}, false},
		{"a bracketed IPv6 address", "[::1]", []string{"http://[::1]:8000"}, false},
		{"an origin on another domain", "example.com", []string{"https://example.org"}, false},
		{"a suffix that is not a parent domain", "example.com", []string{"https://badexample.com"}, false},
		{"plain http off localhost", "example.com", []string{"http://example.com"}, false},
		{"an origin with a path", "example.com", []string{"https://example.com/login"}, false},
		{"no origin", "example.com", nil, false},
		{"empty RP ID", "", []string{"https://example.com"}, false},
		{"an RP ID with a port", "example.com:443", []string{"https://example.com"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := passkey.CheckConfig(tt.rpID, tt.origins)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckConfig(%q, %q) = %v, want ok %v", tt.rpID, tt.origins, err, tt.ok)
			}
		})
	}
	if err := passkey.CheckConfig("127.0.0.1", []string{"http://127.0.0.1"}); err != passkey.ErrIPAddress {
		t.Fatalf("an IP address: %v, want ErrIPAddress", err)
	}
}

func TestUserHandle(t *testing.T) {
	for _, id := range []int64{1, 42, 1 << 40} {
		if got, ok := passkey.UserIDOf(passkey.UserHandle(id)); !ok || got != id {
			t.Fatalf("UserIDOf(UserHandle(%d)) = %d, %v", id, got, ok)
		}
	}
	for _, h := range [][]byte{nil, {1}, make([]byte, 8), make([]byte, 64)} {
		if _, ok := passkey.UserIDOf(h); ok {
			t.Fatalf("UserIDOf(%x) accepted", h)
		}
	}
}

// register runs a registration for u with a and returns the passkey.
func register(t *testing.T, rp *passkey.RP, a *passkeytest.Authenticator, u *passkey.User) (*gatehouse.Passkey, *passkeytest.Credential) {
	t.Helper()
	opts, c, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	resp, cred, err := a.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := rp.FinishRegistration(c, u, resp)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return pk, cred
}

func TestRegistration(t *testing.T) {
	rp := newRP(t)
	u := &passkey.User{ID: 7, Name: "alice"}
	opts, c, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RP                     struct{ ID string }
			Attestation            string
			AuthenticatorSelection struct {
				ResidentKey      string
				UserVerification string
			}
			Timeout int
		}
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	pk := o.PublicKey
	if pk.RP.ID != "example.com" || pk.Attestation != "none" || pk.AuthenticatorSelection.ResidentKey != "required" ||
		pk.AuthenticatorSelection.UserVerification != "preferred" || pk.Timeout != 300000 {
		t.Fatalf("creation options: %s", opts)
	}
	a := passkeytest.New(origin, "example.com")
	a.BackupEligible = true
	resp, cred, err := a.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rp.FinishRegistration(c, u, resp)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.ID) != string(cred.ID) || got.UserID != 7 || !got.UVInitialized || !got.BackupEligible || got.BackupState ||
		len(got.AAGUID) != 16 || got.AttestationFormat != "none" || strings.Join(got.Transports, " ") != "internal" {
		t.Fatalf("registered passkey: %+v", got)
	}

	// The user's passkeys are excluded from the next registration.
	u.Passkeys = []*gatehouse.Passkey{got}
	opts, _, _ = rp.BeginRegistration(u)
	if !strings.Contains(string(opts), `"excludeCredentials":[{"type":"public-key","id":"`) {
		t.Fatalf("existing passkeys not excluded: %s", opts)
	}
}

func TestRegistrationRefusals(t *testing.T) {
	rp := newRP(t)
	u := &passkey.User{ID: 7, Name: "alice"}
	for _, tt := range []struct {
		name   string
		break_ func(a *passkeytest.Authenticator, c *passkey.Ceremony, u *passkey.User)
		want   passkey.Reason
	}{
		{"wrong origin", func(a *passkeytest.Authenticator, _ *passkey.Ceremony, _ *passkey.User) {
			a.Origin = "https://evil.example"
		}, passkey.ReasonOrigin},
		{"another port is another origin", func(a *passkeytest.Authenticator, _ *passkey.Ceremony, _ *passkey.User) {
			a.Origin = "https://auth.example.com:8443"
		}, passkey.ReasonOrigin},
		{"wrong RP ID", func(a *passkeytest.Authenticator, _ *passkey.Ceremony, _ *passkey.User) { a.RPID = "evil.example" }, passkey.ReasonRPID},
		{"another ceremony's challenge", func(a *passkeytest.Authenticator, _ *passkey.Ceremony, _ *passkey.User) {
			a.Challenge = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}, passkey.ReasonChallenge},
		{"an assertion's type", func(a *passkeytest.Authenticator, _ *passkey.Ceremony, _ *passkey.User) { a.Type = "webauthn.get" }, passkey.ReasonType},
		{"a ceremony begun for another user", func(_ *passkeytest.Authenticator, c *passkey.Ceremony, _ *passkey.User) { c.UserID = 8 }, passkey.ReasonOtherUser},
		{"no user verification when required", func(a *passkeytest.Authenticator, c *passkey.Ceremony, _ *passkey.User) {
			a.NoUV, c.RequireUV = true, true
		}, passkey.ReasonInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts, c, err := rp.BeginRegistration(u)
			if err != nil {
				t.Fatal(err)
			}
			a := passkeytest.New(origin, "example.com")
			tt.break_(a, &c, u)
			resp, _, err := a.Register(opts)
			if err != nil {
				t.Fatal(err)
			}
			pk, err := rp.FinishRegistration(c, u, resp)
			if got := passkey.ReasonOf(err); got != tt.want || pk != nil {
				t.Fatalf("FinishRegistration = %v, %v; want refusal %q", pk, err, tt.want)
			}
		})
	}
	_, c, _ := rp.BeginRegistration(u)
	for _, body := range []string{"", "{}", "null", `{"id":"x","type":"public-key","response":{}}`, strings.Repeat("[", 10000)} {
		if _, err := rp.FinishRegistration(c, u, []byte(body)); passkey.ReasonOf(err) != passkey.ReasonMalformed {
			t.Fatalf("FinishRegistration(%.20q) = %v, want malformed", body, err)
		}
	}
}

func TestLogin(t *testing.T) {
	rp := newRP(t)
	u := &passkey.User{ID: 7, Name: "alice"}
	a := passkeytest.New(origin, "example.com")
	pk, cred := register(t, rp, a, u)

	// Without a username: no allow list, a conditional request.
	opts, c, err := rp.BeginLogin(0, nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts), `"mediation":"conditional"`) || strings.Contains(string(opts), "allowCredentials") {
		t.Fatalf("discoverable login options: %s", opts)
	}
	resp, err := a.Assert(opts, cred)
	if err != nil {
		t.Fatal(err)
	}
	as, err := passkey.ParseAssertion(resp)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := passkey.UserIDOf(as.UserHandle); !ok || id != 7 || string(as.CredentialID) != string(pk.ID) {
		t.Fatalf("assertion names user %d, credential %x", id, as.CredentialID)
	}
	v, err := rp.FinishLogin(c, as, u, pk)
	if err != nil {
		t.Fatal(err)
	}
	if !v.UserVerified || v.SignCount != 1 {
		t.Fatalf("verified: %+v", v)
	}

	// As a second factor: the user's passkeys allowed, no user handle
	// needed (a security key that is not discoverable sends none).
	pk.SignCount = v.SignCount
	opts, c, _ = rp.BeginLogin(7, []*gatehouse.Passkey{pk}, false, false)
	if !strings.Contains(string(opts), `"allowCredentials":[{"type":"public-key"`) {
		t.Fatalf("second-factor options: %s", opts)
	}
	cred.UserHandle = nil
	a.NoUV = true
	resp, _ = a.Assert(opts, cred)
	as, _ = passkey.ParseAssertion(resp)
	v, err = rp.FinishLogin(c, as, u, pk)
	if err != nil || v.UserVerified || v.SignCount != 2 {
		t.Fatalf("second factor without UV: %+v, %v", v, err)
	}
}

func TestLoginRefusals(t *testing.T) {
	rp := newRP(t)
	alice := &passkey.User{ID: 7, Name: "alice"}
	bob := &passkey.User{ID: 8, Name: "bob"}
	for _, tt := range []struct {
		name   string
		break_ func(a *passkeytest.Authenticator, cred *passkeytest.Credential, pk *gatehouse.Passkey, c *passkey.Ceremony) *passkey.User
		want   passkey.Reason
	}{
		{"wrong origin", func(a *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			a.Origin = "https://auth.example.com.evil.example"
			return alice
		}, passkey.ReasonOrigin},
		{"plain http of the same host", func(a *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			a.Origin = "http://auth.example.com"
			return alice
		}, passkey.ReasonOrigin},
		{"wrong RP ID", func(a *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			a.RPID = "auth.example.com"
			return alice
		}, passkey.ReasonRPID},
		{"a registration's type", func(a *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			a.Type = "webauthn.create"
			return alice
		}, passkey.ReasonType},
		{"another ceremony's challenge", func(a *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			a.Challenge = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			return alice
		}, passkey.ReasonChallenge},
		{"counter going backwards", func(_ *passkeytest.Authenticator, cred *passkeytest.Credential, pk *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			pk.SignCount, cred.Counter = 10, 5
			return alice
		}, passkey.ReasonCounter},
		{"counter standing still", func(_ *passkeytest.Authenticator, cred *passkeytest.Credential, pk *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			pk.SignCount, cred.Counter, cred.FixedCounter = 10, 10, true
			return alice
		}, passkey.ReasonCounter},
		{"a credential of another user", func(_ *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			return bob
		}, passkey.ReasonOtherUser},
		{"a user handle naming another user", func(_ *passkeytest.Authenticator, cred *passkeytest.Credential, _ *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			cred.UserHandle = passkey.UserHandle(8)
			return alice
		}, passkey.ReasonUserHandle},
		{"a second factor begun for another user", func(_ *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, c *passkey.Ceremony) *passkey.User {
			c.UserID = 8
			return alice
		}, passkey.ReasonOtherUser},
		{"no user verification when required", func(a *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, c *passkey.Ceremony) *passkey.User {
			a.NoUV, c.RequireUV = true, true
			return alice
		}, passkey.ReasonNoUV},
		{"backup eligibility changed", func(a *passkeytest.Authenticator, _ *passkeytest.Credential, _ *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			a.BackupEligible = true
			return alice
		}, passkey.ReasonInvalid},
		{"a signature by another key", func(_ *passkeytest.Authenticator, _ *passkeytest.Credential, pk *gatehouse.Passkey, _ *passkey.Ceremony) *passkey.User {
			pk.PublicKey = passkeytest.NewCredential(nil).COSEKey()
			return alice
		}, passkey.ReasonInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := passkeytest.New(origin, "example.com")
			pk, cred := register(t, rp, a, alice)
			opts, c, err := rp.BeginLogin(0, nil, false, false)
			if err != nil {
				t.Fatal(err)
			}
			u := tt.break_(a, cred, pk, &c)
			resp, err := a.Assert(opts, cred)
			if err != nil {
				t.Fatal(err)
			}
			as, err := passkey.ParseAssertion(resp)
			if err != nil {
				t.Fatal(err)
			}
			v, err := rp.FinishLogin(c, as, u, pk)
			if got := passkey.ReasonOf(err); got != tt.want || v != nil {
				t.Fatalf("FinishLogin = %+v, %v; want refusal %q", v, err, tt.want)
			}
		})
	}
	for _, body := range []string{"", "{}", `{"id":"","rawId":"","type":"public-key","response":{}}`, `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}`} {
		if _, err := passkey.ParseAssertion([]byte(body)); passkey.ReasonOf(err) != passkey.ReasonMalformed {
			t.Fatalf("ParseAssertion(%.30q) = %v, want malformed", body, err)
		}
	}
}
