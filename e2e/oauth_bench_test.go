package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOAuth measures the provider of issue 13 §6 over HTTP against
// the built binary on SQLite, 32 requests in flight, with /health as the
// same run's baseline (scripts/oauthbench.sh runs it):
//
//   - health: GET /health
//   - code-flow: a signed-in browser's GET /authorize (consent given) and
//     the client's code exchange at /token; login excluded
//   - exchange: /token's authorization_code grant alone, codes made
//     beforehand
//   - client-credentials: /token's client_credentials grant
//   - introspect: POST /introspect of a live access token
//
// Each reports ops/s (a whole flow, or one request); ns/op is the
// wall time per op across the 32 in flight. OAUTHBENCH_ALG=ES256 or EdDSA
// signs access tokens and the client's ID tokens with that algorithm
// instead of RS256.
func BenchmarkOAuth(b *testing.B) {
	var s *oauthServer
	var fp, svc *oclient
	if alg := os.Getenv("OAUTHBENCH_ALG"); alg != "" {
		// Access tokens and the client's ID tokens signed with alg
		// instead of RS256, to see what the RSA signatures cost.
		s = startOAuth(b, "GATEHOUSE_SIGNING_ALG="+alg)
		fp = s.newClientAPI(b, map[string]any{"name": "bench-rp", "first_party": true, "id_token_alg": alg,
			"redirect_uris": []string{"https://rp.example.test/cb"}})
		svc = s.newClientAPI(b, map[string]any{"name": "bench-svc", "grants": []string{"client_credentials"}, "id_token_alg": alg})
	} else {
		s = startOAuth(b)
		fp = s.newClient(b, "bench-rp", "--first-party", "--redirect-uri", "https://rp.example.test/cb")
		svc = s.newClient(b, "bench-svc", "--grant", "client_credentials")
	}
	br := newBrowser(b)
	// One login; every flow after it is the single-sign-on path.
	s.codeFlow(b, br, fp, "basic", "openid", nil)
	hc := &http.Client{Jar: br.c.Jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Errors are reported, not fatal: the ops run on RunParallel's
	// goroutines, where FailNow may not be called.
	var errs atomic.Int64
	do := func(b *testing.B, req *http.Request, want int) *http.Response {
		res, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body) // read to the end, so that the connection is kept
			res.Body.Close()
			if res.StatusCode == want {
				return res
			}
			err = fmt.Errorf("%d, want %d", res.StatusCode, want)
		}
		if errs.Add(1) <= 5 {
			b.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		return nil
	}
	// code runs /authorize in the signed-in browser and returns a code
	// and its verifier, or "" after an error.
	code := func(b *testing.B) (string, string) {
		a := newAuthReq(fp, fp.redirect, "openid", nil)
		req, _ := http.NewRequest("GET", s.authorizeURL(a), nil)
		res := do(b, req, http.StatusFound)
		if res == nil {
			return "", ""
		}
		loc, err := url.Parse(res.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			if errs.Add(1) <= 5 {
				b.Errorf("authorize: redirected to %q", res.Header.Get("Location"))
			}
			return "", ""
		}
		return loc.Query().Get("code"), a.verifier
	}
	tokenReq := func(c *oclient, form url.Values) *http.Request {
		req, _ := http.NewRequest("POST", s.base+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.id, c.secret)
		return req
	}
	exchange := func(b *testing.B, code, verifier string) {
		if code == "" {
			return
		}
		do(b, tokenReq(fp, url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {fp.redirect}, "code_verifier": {verifier}}), 200)
	}
	parallel := func(b *testing.B, op func(b *testing.B)) {
		b.SetParallelism(16) // 32 in flight on 2 cores
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op(b)
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	}

	b.Run("health", func(b *testing.B) {
		parallel(b, func(b *testing.B) {
			req, _ := http.NewRequest("GET", s.base+"/health", nil)
			do(b, req, 200)
		})
	})
	b.Run("code-flow", func(b *testing.B) {
		parallel(b, func(b *testing.B) { c, v := code(b); exchange(b, c, v) })
	})
	b.Run("exchange", func(b *testing.B) {
		type pair struct{ code, verifier string }
		codes := make([]pair, b.N)
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
					c, v := code(b)
					codes[i] = pair{c, v}
				}
			}()
		}
		wg.Wait()
		next.Store(0)
		parallel(b, func(b *testing.B) {
			p := codes[next.Add(1)-1]
			exchange(b, p.code, p.verifier)
		})
	})
	b.Run("client-credentials", func(b *testing.B) {
		parallel(b, func(b *testing.B) {
			do(b, tokenReq(svc, url.Values{"grant_type": {"client_credentials"}}), 200)
		})
	})
	b.Run("introspect", func(b *testing.B) {
		tok, _, _ := s.codeFlow(b, br, fp, "basic", "openid", nil)
		at := str(tok, "access_token")
		parallel(b, func(b *testing.B) {
			req, _ := http.NewRequest("POST", s.base+"/introspect", strings.NewReader(url.Values{"token": {at}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(svc.id, svc.secret)
			do(b, req, 200)
		})
	})
}
