package e2e

import (
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// TestIDTokenAlgorithms: ID tokens are RS256 unless the client registered
// another asymmetric algorithm (contract §13), whatever the server signs
// its access tokens with (§10); each verifies against the JWKS.
func TestIDTokenAlgorithms(t *testing.T) {
	s := startOAuth(t, "GATEHOUSE_SIGNING_ALG=EdDSA")
	ctx := ctxT(t)
	provider, err := oidc.NewProvider(ctx, s.base)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	for _, tc := range []struct{ registered, want string }{{"", "RS256"}, {"EdDSA", "EdDSA"}} {
		body := map[string]any{"name": "alg-" + tc.want, "first_party": true, "redirect_uris": []string{"https://rp.example.test/cb"}}
		if tc.registered != "" {
			body["id_token_alg"] = tc.registered
		}
		c := s.newClientAPI(t, body)
		tok, _, _ := s.codeFlow(t, b, c, "basic", "openid", nil)
		raw := str(tok, "id_token")
		if got := header(t, raw)["alg"]; got != tc.want {
			t.Errorf("client registered with id_token_alg %q: ID token %v, want %s", tc.registered, got, tc.want)
			continue
		}
		v := provider.Verifier(&oidc.Config{ClientID: c.id, SupportedSigningAlgs: []string{tc.want}})
		if _, err := v.Verify(ctx, raw); err != nil {
			t.Errorf("%s ID token: %v", tc.want, err)
		}
		if got := header(t, str(tok, "access_token"))["alg"]; got != "EdDSA" {
			t.Errorf("access token %v, want the server's EdDSA", got)
		}
	}
}
