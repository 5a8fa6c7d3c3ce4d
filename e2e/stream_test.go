package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
)

// toInstance sends every request to one instance, as DNS or a load
// balancer would send requests for the public URL.
type toInstance struct{ in *instance }

func (r toInstance) RoundTrip(req *http.Request) (*http.Response, error) {
	u, _ := url.Parse(r.in.base)
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = u.Scheme, u.Host
	return http.DefaultTransport.RoundTrip(req)
}

// streamKey makes an admin's API key holding read:revocations on in.
func streamKey(t *testing.T, in *instance) string {
	t.Helper()
	code, m := call(t, "POST", in.base+"/token", "", "application/x-www-form-urlencoded",
		url.Values{"username": {"admin"}, "password": {"e2e-admin-password-1"}, "scope": {"admin read:revocations"}}.Encode())
	if code != 200 {
		t.Fatalf("admin login for the stream's key: %d %v", code, m)
	}
	code, k := call(t, "POST", in.base+"/api-keys", m["access_token"].(string), "application/json",
		`{"name":"resource server","scopes":["read:revocations"]}`)
	if code != 201 {
		t.Fatalf("stream key: %d %v", code, k)
	}
	return k["key"].(string)
}

// resourceServer is a Go service guarded by guard.JWKS and the revocation
// stream, its requests to Gatehouse's public URL sent to gh.
func resourceServer(t *testing.T, gh *instance, key string) (*httptest.Server, *guard.Revocations) {
	t.Helper()
	hc := &http.Client{Transport: toInstance{gh}}
	rv, err := guard.NewRevocations(publicURL, guard.RevocationsOptions{APIKey: key, Client: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go rv.Run(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := rv.WaitSynced(wctx); err != nil {
		t.Fatalf("the revocation stream did not sync: %v", err)
	}
	v, err := guard.NewJWKS(publicURL, guard.JWKSOptions{Audience: "gatehouse", Client: &http.Client{Transport: toInstance{gh}, Timeout: 5 * time.Second},
		Revocations: rv})
	if err != nil {
		t.Fatal(err)
	}
	g := guard.New(v, nil, nil)
	srv := httptest.NewServer(g.Require()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := gatehouse.PrincipalFrom(r.Context())
		fmt.Fprintf(w, `{"user":%d}`, p.User.ID)
	})))
	t.Cleanup(srv.Close)
	return srv, rv
}

// measureLogouts logs in on a, checks the service accepts the token, logs
// out on a, and times how long until the service refuses it.
func measureLogouts(t *testing.T, a *instance, svc *httptest.Server, n int) []time.Duration {
	t.Helper()
	var delays []time.Duration
	for range n {
		tok := a.login(t, "admin", "e2e-admin-password-1")
		if code, m := call(t, "GET", svc.URL, tok, "", ""); code != 200 {
			t.Fatalf("a fresh token refused by the service: %d %v", code, m)
		}
		if code, _ := call(t, "POST", a.base+"/logout", tok, "", ""); code != 200 {
			t.Fatalf("logout: %d", code)
		}
		done := time.Now()
		for {
			code, m := call(t, "GET", svc.URL, tok, "", "")
			if code == 401 {
				if m["detail"] != "Token has been revoked" {
					t.Fatalf("the service refused with %v", m)
				}
				break
			}
			if time.Since(done) > 5*time.Second {
				t.Fatal("the service still accepts the token 5 s after the logout")
			}
		}
		delays = append(delays, time.Since(done))
	}
	slices.Sort(delays)
	return delays
}

func percentile(d []time.Duration, p int) time.Duration { return d[(len(d)-1)*p/100] }

// A logout on instance A is refused by a Go service that verifies tokens
// locally (guard.JWKS) and follows the revocation stream of instance B:
// p99 ≤ 100 ms. B restarts; the stream reconnects by itself and logouts
// are refused as fast afterwards. A user disabled on A is refused too.
func TestLogoutReachesALocallyVerifyingServiceThroughTheStream(t *testing.T) {
	c := newCluster(t)
	env := []string{"GATEHOUSE_SECRET_KEY=", "GATEHOUSE_SIGNING_ALG=ES256"}
	a := c.start(env...)
	b := c.start(env...)
	key := streamKey(t, a)
	svc, rv := resourceServer(t, b, key)

	delays := measureLogouts(t, a, svc, 100)
	p50, p99 := percentile(delays, 50), percentile(delays, 99)
	t.Logf("logout on A refused by a guard.JWKS service following B's stream after: p50 %v, p99 %v, max %v (100 trials)",
		p50, p99, delays[len(delays)-1])
	checkPropagation(t, "logout on A refused by the guard.JWKS service", p50, p99)

	// B restarts on the same address; the service's stream reconnects.
	addr := strings.TrimPrefix(b.base, "http://")
	before := rv.Status().Connections
	b.stop(t)
	b = c.startAt(addr, env...)
	eventually(t, "the stream reconnected to the restarted instance", func() bool {
		s := rv.Status()
		return s.Up && s.Connections > before
	})
	delays = measureLogouts(t, a, svc, 20)
	t.Logf("after B restarted: p50 %v, p99 %v (20 trials)", percentile(delays, 50), percentile(delays, 99))
	checkPropagation(t, "after B restarted", percentile(delays, 50), percentile(delays, 99))

	// A user disabled on A: the service refuses their token as Gatehouse does.
	admin := a.login(t, "admin", "e2e-admin-password-1")
	code, u := call(t, "POST", a.base+"/users", admin, "application/json",
		`{"username":"carol","password":"carol's long password","role":"user"}`)
	if code != 201 {
		t.Fatalf("create carol: %d %v", code, u)
	}
	carol := a.login(t, "carol", "carol's long password")
	if code, _ := call(t, "GET", svc.URL, carol, "", ""); code != 200 {
		t.Fatalf("carol's token: %d", code)
	}
	if code, _ := call(t, "PATCH", fmt.Sprint(a.base, "/users/", u["id"]), admin, "application/json", `{"disabled":true}`); code != 200 {
		t.Fatalf("disable carol: %d", code)
	}
	eventually(t, "the service refusing a disabled user", func() bool {
		code, m := call(t, "GET", svc.URL, carol, "", "")
		return code == 400 && m["detail"] == "Inactive user"
	})
}
