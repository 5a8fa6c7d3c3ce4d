package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// TestOAuthAcrossInstances runs the provider on two instances sharing
// PostgreSQL and Redis behind one address that sends each request to the
// other instance in turn, as a load balancer without sticky sessions
// does: the authorization request, the login, the consent and the code
// exchange each land on a different instance than the step before, and
// what one instance revokes (a reused code's or a reused refresh token's
// session) is refused by both.
func TestOAuthAcrossInstances(t *testing.T) {
	c := newCluster(t)
	var mu sync.Mutex
	var targets []*url.URL
	var turn atomic.Int64
	lb := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		mu.Lock()
		target := targets[int(turn.Add(1))%len(targets)]
		mu.Unlock()
		r.SetURL(target)
	}})
	defer lb.Close()
	env := []string{"GATEHOUSE_PUBLIC_URL=" + lb.URL} // the issuer, for both
	a, b := c.start(env...), c.start(env...)
	mu.Lock()
	for _, in := range []*instance{a, b} {
		u, _ := url.Parse(in.base)
		targets = append(targets, u)
	}
	mu.Unlock()
	s := &oauthServer{instance: &instance{base: lb.URL}, cliEnv: []string{"GATEHOUSE_DATABASE_URL=" + c.dbURL,
		"GATEHOUSE_ENCRYPTION_KEY=" + c.secret + "-encryption", "GATEHOUSE_SECRET_KEY=" + c.secret, "GATEHOUSE_REDIS_URL="}}
	rp := s.newClientAPI(t, map[string]any{"name": "cluster-rp", "redirect_uris": []string{"https://rp.example.test/cb"}})
	ctx := ctxT(t)
	provider, err := oidc.NewProvider(ctx, lb.URL)
	if err != nil {
		t.Fatalf("go-oidc discovery through the balancer: %v", err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: rp.id})

	// refusedEverywhere: both instances, asked directly, refuse the token.
	refusedEverywhere := func(what, at string) {
		t.Helper()
		eventually(t, what, func() bool {
			for _, in := range []*instance{a, b} {
				req, _ := http.NewRequest("GET", in.base+"/userinfo", nil)
				req.Header.Set("Authorization", "Bearer "+at)
				if st, _, _ := doJSON(t, req); st != 401 {
					return false
				}
			}
			return true
		})
	}

	br := newBrowser(t)
	tok, _, v := s.codeFlow(t, br, rp, "basic", "openid offline_access", nil)
	if v.logins != 1 || v.consents != 1 {
		t.Errorf("login forms %d, consent forms %d; want 1 and 1", v.logins, v.consents)
	}
	if _, err := verifier.Verify(ctx, str(tok, "id_token")); err != nil {
		t.Fatalf("ID token: %v", err)
	}
	for _, in := range []*instance{a, b} {
		req, _ := http.NewRequest("GET", in.base+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+str(tok, "access_token"))
		if st, m, _ := doJSON(t, req); st != 200 || str(m, "sub") == "" {
			t.Fatalf("userinfo on %s: %d %v", in.base, st, m)
		}
	}

	// Single sign-on and consent remembered, whichever instance answers.
	for i := 0; i < 3; i++ {
		a := newAuthReq(rp, rp.redirect, "openid", url.Values{"prompt": {"none"}})
		s.codeOf(t, a, br.run(s.authorizeURL(a), false))
	}

	// A reused code revokes what its first use issued, on both instances.
	ar := newAuthReq(rp, rp.redirect, "openid", nil)
	code := s.codeOf(t, ar, br.run(s.authorizeURL(ar), false))
	st, first := s.exchange(t, rp, "basic", ar, code)
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, first)
	}
	if st, m := s.exchange(t, rp, "basic", ar, code); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("reused code: %d %v", st, m)
	}
	refusedEverywhere("a reused code's access token refused by both instances", str(first, "access_token"))

	// Refresh rotation, then reuse of the spent token after the 2 s window.
	rt := str(tok, "refresh_token")
	st, m, _ := s.tokenCall(t, "/token", rp, "basic", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if st != 200 || str(m, "refresh_token") == "" {
		t.Fatalf("refresh: %d %v", st, m)
	}
	eventually(t, "the spent refresh token refused as reuse", func() bool {
		st, m, _ := s.tokenCall(t, "/token", rp, "basic", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		return st == 400 && m["error"] == "invalid_grant"
	})
	refusedEverywhere("a reused refresh token's session refused by both instances", str(m, "access_token"))
	if s.introspect(t, rp, str(tok, "access_token")) {
		t.Errorf("the first access token of a session ended by reuse is still active")
	}
}
