package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oauth2-proxy (built from its Go module by .ci/run, outside the
// repository) is a relying party of Gatehouse in front of a small
// backend, as the README's quickstart sets it up: an unauthenticated
// browser lands on Gatehouse's login page, allows the consent page and
// reaches the backend with X-Forwarded-User and X-Forwarded-Email set.

// oauth2ProxyVersion is the release the tests and the README's
// quickstart use.
const oauth2ProxyVersion = "v7.15.6"

// oauth2ProxyBinary is where .ci/run builds oauth2-proxy.
func oauth2ProxyBinary() string {
	if p := os.Getenv("GATEHOUSE_OAUTH2_PROXY"); p != "" {
		return p
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "gatehouse-interop", "oauth2-proxy-"+oauth2ProxyVersion, "oauth2-proxy")
}

func TestOAuth2ProxyInFrontOfABackend(t *testing.T) {
	bin := oauth2ProxyBinary()
	if _, err := os.Stat(bin); err != nil {
		loudSkip(t, fmt.Sprintf("needs oauth2-proxy at %s (GOBIN=%s go install github.com/oauth2-proxy/oauth2-proxy/v7@%s, as .ci/run does): %v",
			bin, filepath.Dir(bin), oauth2ProxyVersion, err))
	}
	s := startOAuth(t)
	// An email an administrator set is a verified one (contract §13),
	// which oauth2-proxy insists on.
	cmd := exec.Command(binary, "user", "create", "alice", "--email", "alice@example.test", "--password-stdin")
	cmd.Env = append(os.Environ(), s.cliEnv...)
	cmd.Stdin = strings.NewReader("alice-password-123\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user create: %v: %s", err, out)
	}

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"path":  r.URL.Path,
			"user":  r.Header.Get("X-Forwarded-User"),
			"email": r.Header.Get("X-Forwarded-Email"),
			"name":  r.Header.Get("X-Forwarded-Preferred-Username"),
		})
	}))
	defer backend.Close()

	addr := freeAddr(t)
	c := s.newClient(t, "oauth2-proxy", "--redirect-uri", "http://"+addr+"/oauth2/callback")
	proxy := exec.Command(bin,
		"--provider=oidc",
		"--oidc-issuer-url="+s.base,
		"--client-id="+c.id,
		"--client-secret="+c.secret,
		"--code-challenge-method=S256",
		"--redirect-url=http://"+addr+"/oauth2/callback",
		"--http-address="+addr,
		"--upstream="+backend.URL+"/",
		"--email-domain=*",
		"--cookie-secret="+randomToken()[:32],
		"--cookie-secure=false",
		"--skip-provider-button=true",
	)
	logs := &lockedBuffer{}
	proxy.Stdout, proxy.Stderr = logs, logs
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proxy.Process.Kill()
		proxy.Wait()
		if t.Failed() {
			t.Logf("oauth2-proxy: %s", logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oauth2-proxy did not start: %v %s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	b := newBrowser(t)
	b.user, b.pass = "alice", "alice-password-123"
	v := b.run("http://"+addr+"/hello", true)
	sawLogin := false
	for _, u := range v.urls {
		sawLogin = sawLogin || strings.HasPrefix(u, "GET "+s.base+"/login")
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(v.body), &got); err != nil || v.status != 200 {
		t.Fatalf("the browser ended at %d %.400s; went through %s", v.status, v.body, strings.Join(v.urls, "\n"))
	}
	if !sawLogin || v.logins != 1 || v.consents != 1 {
		t.Errorf("want Gatehouse's login page and one consent; login page seen %v, %d login and %d consent forms: %s",
			sawLogin, v.logins, v.consents, strings.Join(v.urls, "\n"))
	}
	if got["path"] != "/hello" || got["user"] == "" || got["email"] != "alice@example.test" {
		t.Fatalf("the backend saw %v", got)
	}
	t.Logf("backend reached as X-Forwarded-User=%s X-Forwarded-Email=%s after %d requests", got["user"], got["email"], len(v.urls))

	// The proxy's cookie now carries the browser straight through.
	v = b.run("http://"+addr+"/again", true)
	if err := json.Unmarshal([]byte(v.body), &got); err != nil || got["path"] != "/again" || len(v.urls) != 1 {
		t.Fatalf("signed-in browser: %d %.300s after %v", v.status, v.body, v.urls)
	}
}
