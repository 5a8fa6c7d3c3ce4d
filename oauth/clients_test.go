package oauth

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

var regT0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func TestRegistrationNewClient(t *testing.T) {
	c, secret, err := NewClient(ClientSpec{Name: " Grafana ", RedirectURIs: []string{"https://grafana.example.com/login/generic_oauth"}}, regT0)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{22}$`).MatchString(c.ID) {
		t.Errorf("client id %q is not 22 characters of [A-Za-z0-9]", c.ID)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`).MatchString(secret) {
		t.Errorf("secret %q is not ≥ 43 characters of [A-Za-z0-9_-] (256 bits)", secret)
	}
	if c.Name != "Grafana" || !slices.Equal(c.Grants, DefaultClientGrants) || c.Public {
		t.Errorf("client = %+v; want the name trimmed, the default grants, confidential", c)
	}
	if len(c.Secrets) != 1 || c.Secrets[0].Hash == secret || c.Secrets[0].Hash != HashClientSecret(secret) ||
		!c.Secrets[0].CreatedAt.Equal(regT0) || !c.Secrets[0].ExpiresAt.IsZero() {
		t.Fatalf("secrets = %+v; want one hash of the secret, created at t0, no end", c.Secrets)
	}
	if !VerifyClientSecret(c, secret, regT0) {
		t.Fatal("the issued secret does not verify")
	}
	// Ids and secrets never repeat.
	c2, secret2, err := NewClient(ClientSpec{Name: "x", RedirectURIs: []string{"https://a.example/cb"}}, regT0)
	if err != nil || c2.ID == c.ID || secret2 == secret {
		t.Fatalf("second client: %v; id %s vs %s", err, c2.ID, c.ID)
	}

	pub, secret, err := NewClient(ClientSpec{Name: "cli", Public: true, RedirectURIs: []string{"http://127.0.0.1/callback"}}, regT0)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" || pub.Secrets != nil || !pub.Public {
		t.Fatalf("public client: %+v, secret %q; want no secret", pub, secret)
	}
	if VerifyClientSecret(pub, "", regT0) || VerifyClientSecret(pub, "anything", regT0) {
		t.Fatal("a public client verified a secret")
	}

	svc, _, err := NewClient(ClientSpec{Name: "svc", Grants: []string{gatehouse.GrantClientCredentials}}, regT0)
	if err != nil || !slices.Equal(svc.Grants, []string{gatehouse.GrantClientCredentials}) {
		t.Fatalf("client_credentials only, no redirect URI: %+v, %v", svc, err)
	}
}

func TestRegistrationRules(t *testing.T) {
	ok := ClientSpec{Name: "app", RedirectURIs: []string{"https://app.example.com/cb"}}
	with := func(f func(*ClientSpec)) ClientSpec {
		s := ok
		f(&s)
		return s
	}
	uris := func(u ...string) ClientSpec { return with(func(s *ClientSpec) { s.RedirectURIs = u }) }
	for _, tt := range []struct {
		name  string
		spec  ClientSpec
		field string // "" when the spec is fine
	}{
		{"https", uris("https://app.example.com/cb?x=1"), ""},
		{"loopback v4, any port", uris("http://127.0.0.1:8765/cb"), ""},
		{"loopback v6", uris("http://[::1]/cb"), ""},
		{"localhost", uris("http://localhost:3000/cb"), ""},
		{"plain http elsewhere", uris("http://app.example.com/cb"), "redirect_uris"},
		{"http to a private address", uris("http://10.0.0.1/cb"), "redirect_uris"},
		{"relative", uris("/cb"), "redirect_uris"},
		{"no host", uris("https:///cb"), "redirect_uris"},
		{"opaque", uris("mailto:a@example.com"), "redirect_uris"},
		{"custom scheme", uris("com.example.app:/cb"), "redirect_uris"},
		{"javascript", uris("javascript:alert(1)"), "redirect_uris"},
		{"fragment", uris("https://app.example.com/cb#frag"), "redirect_uris"},
		{"empty fragment", uris("https://app.example.com/cb#"), "redirect_uris"},
		{"user info", uris("https://user:pw@app.example.com/cb"), "redirect_uris"},
		{"space", uris("https://app.example.com/c b"), "redirect_uris"},
		{"newline", uris("https://app.example.com/cb\n"), "redirect_uris"},
		{"too long", uris("https://app.example.com/" + strings.Repeat("a", ClientURIMax)), "redirect_uris"},
		{"too many", uris(regManyURIs(ClientURIsMax + 1)...), "redirect_uris"},
		{"as many as allowed", uris(regManyURIs(ClientURIsMax)...), ""},
		{"code grant without a redirect URI", uris(), "redirect_uris"},
		{"bad post-logout URI", with(func(s *ClientSpec) { s.PostLogoutRedirectURIs = []string{"http://evil.example/"} }), "post_logout_redirect_uris"},
		{"no name", with(func(s *ClientSpec) { s.Name = "  " }), "name"},
		{"long name", with(func(s *ClientSpec) { s.Name = strings.Repeat("é", ClientNameMax+1) }), "name"},
		{"longest name", with(func(s *ClientSpec) { s.Name = strings.Repeat("é", ClientNameMax) }), ""},
		{"control character in name", with(func(s *ClientSpec) { s.Name = "a\x1bb" }), "name"},
		{"unknown grant", with(func(s *ClientSpec) { s.Grants = []string{"password"} }), "grants"},
		{"implicit grant", with(func(s *ClientSpec) { s.Grants = []string{"implicit"} }), "grants"},
		{"empty grant list", with(func(s *ClientSpec) { s.Grants = []string{} }), "grants"},
		{"refresh without code", with(func(s *ClientSpec) { s.Grants = []string{gatehouse.GrantRefreshToken} }), "grants"},
		{"public with client_credentials", with(func(s *ClientSpec) {
			s.Public, s.Grants = true, []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantClientCredentials}
		}), "grants"},
		{"known scopes", with(func(s *ClientSpec) { s.Scopes = []string{"openid", "offline_access", "read:items", "admin"} }), ""},
		{"unknown scope", with(func(s *ClientSpec) { s.Scopes = []string{"openid", "write:everything"} }), "scopes"},
		{"ES256", with(func(s *ClientSpec) { s.IDTokenAlg = "ES256" }), ""},
		{"HS256 refused", with(func(s *ClientSpec) { s.IDTokenAlg = "HS256" }), "id_token_alg"},
		{"none refused", with(func(s *ClientSpec) { s.IDTokenAlg = "none" }), "id_token_alg"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewClient(tt.spec, regT0)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ge *gatehouse.Error
			if gatehouse.ErrorCode(err) != gatehouse.EINVALID || !regAsError(err, &ge) || len(ge.Fields) != 1 ||
				len(ge.Fields[0].Loc) < 2 || ge.Fields[0].Loc[1] != tt.field {
				t.Fatalf("error %v (%+v); want a 422 on field %q", err, ge, tt.field)
			}
		})
	}
}

func regAsError(err error, target **gatehouse.Error) bool {
	e, ok := err.(*gatehouse.Error)
	*target = e
	return ok
}

func regManyURIs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "https://app.example.com/cb/" + strings.Repeat("x", i+1)
	}
	return out
}

func TestRegistrationNormalises(t *testing.T) {
	c, _, err := NewClient(ClientSpec{Name: "app", RedirectURIs: []string{"https://a.example/cb", "https://a.example/cb", ""},
		Grants: []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantAuthorizationCode}, Scopes: []string{"openid", "openid"},
		IDTokenAlg: "RS256"}, regT0)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RedirectURIs) != 1 || len(c.Grants) != 1 || len(c.Scopes) != 1 || c.IDTokenAlg != "" {
		t.Fatalf("client = %+v; want repeats dropped and RS256 stored as the default", c)
	}
}

func TestRegistrationSecretRotation(t *testing.T) {
	c, first, err := NewClient(ClientSpec{Name: "app", RedirectURIs: []string{"https://a.example/cb"}}, regT0)
	if err != nil {
		t.Fatal(err)
	}
	at := regT0.Add(time.Hour)
	second, err := RotateClientSecret(c, at, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || len(c.Secrets) != 2 || c.Secrets[0].Hash != HashClientSecret(second) || !c.Secrets[0].ExpiresAt.IsZero() {
		t.Fatalf("after rotation: %+v; want the new secret first, with no end", c.Secrets)
	}
	if !c.Secrets[1].ExpiresAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("old secret ends %v, want %v", c.Secrets[1].ExpiresAt, at.Add(time.Hour))
	}
	// During the overlap both work; after it, the new one only.
	for _, tt := range []struct {
		secret string
		at     time.Time
		want   bool
	}{
		{first, at.Add(59 * time.Minute), true},
		{second, at.Add(59 * time.Minute), true},
		{first, at.Add(time.Hour), false},
		{second, at.Add(time.Hour), true},
		{"wrong", at, false},
		{first + "x", at, false},
		{"", at, false},
	} {
		if got := VerifyClientSecret(c, tt.secret, tt.at); got != tt.want {
			t.Errorf("VerifyClientSecret(%.8s…, %v) = %v, want %v", tt.secret, tt.at.Sub(at), got, tt.want)
		}
	}
	// A second rotation within the overlap keeps the first secret's end
	// (it never lengthens), and the third drops beyond ClientSecretsKept.
	third, err := RotateClientSecret(c, at.Add(time.Minute), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Secrets) != 3 || !c.Secrets[2].ExpiresAt.Equal(at.Add(time.Hour)) || !c.Secrets[1].ExpiresAt.Equal(at.Add(time.Minute+24*time.Hour)) {
		t.Fatalf("after a second rotation: %+v", c.Secrets)
	}
	if _, err := RotateClientSecret(c, at.Add(2*time.Minute), 24*time.Hour); err != nil || len(c.Secrets) != ClientSecretsKept {
		t.Fatalf("after a third rotation: %d secrets, %v; want %d", len(c.Secrets), err, ClientSecretsKept)
	}
	if VerifyClientSecret(c, first, at.Add(3*time.Minute)) {
		t.Fatal("the oldest secret still works after being pushed out")
	}
	if !VerifyClientSecret(c, third, at.Add(3*time.Minute)) {
		t.Fatal("the secret before the last stopped working within its overlap")
	}
	// No overlap: the old secrets end at once.
	last, err := RotateClientSecret(c, at.Add(time.Hour), 0)
	if err != nil || len(c.Secrets) != 1 || !VerifyClientSecret(c, last, at.Add(time.Hour)) {
		t.Fatalf("rotation without overlap: %+v, %v", c.Secrets, err)
	}
	// Bounds, and public clients.
	if _, err := RotateClientSecret(c, at, -time.Second); gatehouse.ErrorCode(err) != gatehouse.EINVALID {
		t.Fatalf("negative overlap: %v", err)
	}
	if _, err := RotateClientSecret(c, at, ClientSecretOverlapMax+time.Second); gatehouse.ErrorCode(err) != gatehouse.EINVALID {
		t.Fatalf("overlap over the maximum: %v", err)
	}
	pub := &gatehouse.OAuthClient{Public: true}
	if _, err := RotateClientSecret(pub, at, 0); gatehouse.ErrorCode(err) != gatehouse.ECONFLICT || pub.Secrets != nil {
		t.Fatalf("rotating a public client's secret: %v, %+v", err, pub.Secrets)
	}
}

func TestRegistrationRandomIsUniform(t *testing.T) {
	// Every character of the alphabet turns up, and nothing else does.
	seen := map[rune]int{}
	for range 200 {
		for _, r := range clientRandom(44) {
			seen[r]++
		}
	}
	if len(seen) != 62 {
		t.Fatalf("%d distinct characters in 8800 draws, want all 62", len(seen))
	}
	for r := range seen {
		if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", r) {
			t.Fatalf("character %q outside [A-Za-z0-9]", r)
		}
	}
}

func TestRegistrationBoundsLongLists(t *testing.T) {
	long, uris := make([]string, 100_000), make([]string, 100_000)
	for i := range long {
		long[i] = "openid"
		uris[i] = "https://a.example/" + strconv.Itoa(i)
	}
	start := time.Now()
	for _, spec := range []ClientSpec{
		{Name: "x", RedirectURIs: uris},
		{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, Scopes: long},
		{Name: "x", RedirectURIs: []string{"https://a.example/cb"}, Grants: long},
	} {
		if _, _, err := NewClient(spec, regT0); gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			t.Fatalf("a list of 100,000: %v, want 422", err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing long lists took %v", d)
	}
}

// BenchmarkVerifyClientSecret is the client authentication of /token and
// /introspect during a rotation's overlap: two secrets, both compared.
func BenchmarkVerifyClientSecret(b *testing.B) {
	c, secret, err := NewClient(ClientSpec{Name: "app", RedirectURIs: []string{"https://a.example/cb"}}, regT0)
	if err != nil {
		b.Fatal(err)
	}
	if secret, err = RotateClientSecret(c, regT0, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyClientSecret(c, secret, regT0) {
			b.Fatal("no match")
		}
	}
}
