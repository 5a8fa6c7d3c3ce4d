package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A proxy is a real reverse proxy put in front of a backend, asking
// Gatehouse's /auth/verify before each request: /api/ needs read:items and
// passes the user on in X-Auth-Request-User; /admin/ needs the admin role.
// conf is its configuration, with %[1]s the work directory, %[2]s the
// listen address, %[3]s the backend's host:port and %[4]s Gatehouse's.
type proxy struct {
	name, bin, install string
	conf               string
	args               func(dir, conf string) []string
}

var proxies = []proxy{
	{
		name: "nginx", bin: "nginx", install: "nginx-light",
		args: func(dir, conf string) []string { return []string{"-c", conf, "-p", dir} },
		// The configuration the README shows, with a second location.
		conf: `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  server {
    listen %[2]s;
    location /api/ {
      auth_request /_gatehouse_items;
      auth_request_set $gh_user $upstream_http_x_auth_request_user;
      proxy_set_header X-Auth-Request-User $gh_user;
      proxy_pass http://%[3]s/;
    }
    location /admin/ {
      auth_request /_gatehouse_admin;
      proxy_pass http://%[3]s/;
    }
    location = /_gatehouse_items {
      internal;
      proxy_pass http://%[4]s/auth/verify?scope=read:items;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }
    location = /_gatehouse_admin {
      internal;
      proxy_pass http://%[4]s/auth/verify?role=admin;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }
    # A web application for browsers: the session cookie passes, and a
    # browser without one is sent to the login page and back (the README's
    # portal configuration).
    location /app/ {
      auth_request /_gatehouse_portal;
      auth_request_set $gh_user $upstream_http_x_auth_request_user;
      proxy_set_header X-Auth-Request-User $gh_user;
      error_page 401 = @gatehouse_login;
      proxy_pass http://%[3]s/;
    }
    location = /_gatehouse_portal {
      internal;
      proxy_pass http://%[4]s/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
    }
    location @gatehouse_login {
      return 302 http://%[4]s/login?rd=$scheme://$http_host$request_uri;
    }
  }
}
`,
	},
	{
		name: "caddy", bin: "caddy", install: "caddy",
		args: func(_, conf string) []string { return []string{"run", "--config", conf, "--adapter", "caddyfile"} },
		conf: `{
	admin off
	auto_https off
	storage file_system %[1]s
}
http://%[2]s {
	route /api/* {
		forward_auth %[4]s {
			uri /auth/verify?scope=read:items
			copy_headers X-Auth-Request-User
		}
		uri strip_prefix /api
		reverse_proxy %[3]s
	}
	route /admin/* {
		forward_auth %[4]s {
			uri /auth/verify?role=admin
		}
		uri strip_prefix /admin
		reverse_proxy %[3]s
	}
	route /app/* {
		forward_auth %[4]s {
			uri /auth/verify?redirect=1
			copy_headers X-Auth-Request-User
		}
		uri strip_prefix /app
		reverse_proxy %[3]s
	}
}
`,
	},
}

// start runs the proxy and returns its base URL; it skips the test when
// the proxy is not installed.
func (px proxy) start(t *testing.T, backend, gatehouse string) string {
	t.Helper()
	bin, err := exec.LookPath(px.bin)
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/" + px.bin); err != nil {
			t.Skipf("%s not installed (apt-get install %s; .ci/run does): skipping the real-proxy test", px.name, px.install)
		}
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := filepath.Join(dir, px.name+".conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, px.conf, dir, addr, backend, gatehouse), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, px.args(dir, conf)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(base + "/"); err == nil {
			res.Body.Close()
			return base
		}
		time.Sleep(50 * time.Millisecond)
	}
	errs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	t.Fatalf("%s did not start: %s %s", px.name, out.String(), errs)
	return ""
}

// TestForwardAuthThroughRealProxies guards a backend with each proxy and
// two Gatehouse instances: the proxy asks B, the user logs out on A.
func TestForwardAuthThroughRealProxies(t *testing.T) {
	for _, px := range proxies {
		t.Run(px.name, func(t *testing.T) { testForwardAuth(t, px) })
	}
}

func testForwardAuth(t *testing.T, px proxy) {
	c := newCluster(t)
	a := c.start()
	b := c.start()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s method=%s path=%s", strings.Join(r.Header.Values("X-Auth-Request-User"), ","), r.Method, r.URL.Path)
	}))
	defer backend.Close()
	base := px.start(t, strings.TrimPrefix(backend.URL, "http://"), strings.TrimPrefix(b.base, "http://"))

	send := func(method, path string, header ...string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader("a=b"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body), res.Header
	}

	if code, _, h := send("GET", "/api/things"); code != 401 || h.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("no credential: %d, WWW-Authenticate %q", code, h.Get("WWW-Authenticate"))
	}
	admin := a.login(t, "admin", "e2e-admin-password-1")
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		code, body, _ := send(m, "/api/things", "Authorization", "Bearer "+admin)
		if want := "user=admin method=" + m + " path=/things"; code != 200 || body != want {
			t.Fatalf("%s with a token: %d %q, want 200 %q", m, code, body, want)
		}
	}
	// A client cannot name itself to the backend: the proxy replaces the
	// header with Gatehouse's answer.
	code, body, _ := send("GET", "/api/things", "Authorization", "Bearer "+admin,
		"X-Auth-Request-User", "mallory", "X-Auth-Request-User", "eve")
	if code != 200 || !strings.HasPrefix(body, "user=admin ") {
		t.Fatalf("a forged X-Auth-Request-User reached the backend: %d %q", code, body)
	}
	if code, _, _ := send("GET", "/admin/x", "Authorization", "Bearer "+admin); code != 200 {
		t.Fatalf("admin route for an admin: %d", code)
	}

	// A user's API key passes /api/ (read:items) but not /admin/.
	code, m := call(t, "POST", a.base+"/users", admin, "application/json", `{"username":"kim","password":"kim's long password"}`)
	if code != 201 {
		t.Fatalf("create kim: %d %v", code, m)
	}
	kim := a.login(t, "kim", "kim's long password")
	code, m = call(t, "POST", a.base+"/api-keys", kim, "application/json", `{"name":"ci"}`)
	if code != 201 {
		t.Fatalf("create key: %d %v", code, m)
	}
	key := m["key"].(string)
	if code, body, _ := send("GET", "/api/things", "X-API-Key", key); code != 200 || !strings.HasPrefix(body, "user=kim ") {
		t.Fatalf("API key: %d %q", code, body)
	}
	if code, _, _ := send("GET", "/admin/x", "X-API-Key", key); code != 403 {
		t.Fatalf("a user's key on the admin route: %d, want 403", code)
	}

	// Logout on A reaches the proxy's answers from B.
	if code, _ := call(t, "POST", a.base+"/logout", admin, "", ""); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	eventually(t, "the logged-out token refused through "+px.name, func() bool {
		code, _, _ := send("GET", "/api/things", "Authorization", "Bearer "+admin)
		return code == 401
	})
}

// TestLoginPortalThroughRealProxies puts each proxy in front of a web
// application for browsers (contract §11): a browser (a client with a
// cookie jar) that goes to the application is sent to Gatehouse's login
// page, signs in, lands on the URL it wanted with the session cookie
// passing /auth/verify, signs out, and is refused again.
func TestLoginPortalThroughRealProxies(t *testing.T) {
	for _, px := range proxies {
		t.Run(px.name, func(t *testing.T) { testLoginPortal(t, px) })
	}
}

func testLoginPortal(t *testing.T, px proxy) {
	c := newCluster(t)
	// The browser reaches Gatehouse at its own address (its public URL);
	// the proxy is on this host: its forwarded headers are believed, and a
	// login may return to it (any port of 127.0.0.1).
	addr := freeAddr(t)
	g := c.startAt(addr, "GATEHOUSE_PUBLIC_URL=http://"+addr, "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1", "GATEHOUSE_REDIRECT_DOMAINS=127.0.0.1")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s path=%s", r.Header.Get("X-Auth-Request-User"), r.URL.Path)
	}))
	defer backend.Close()
	base := px.start(t, strings.TrimPrefix(backend.URL, "http://"), strings.TrimPrefix(g.base, "http://"))
	code, m := call(t, "POST", g.base+"/users", g.login(t, "admin", "e2e-admin-password-1"), "application/json",
		`{"username":"ursula","password":"ursula's long password"}`)
	if code != 201 {
		t.Fatalf("create user: %d %v", code, m)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(u string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	want := base + "/app/reports"

	// 1. Not signed in: the proxy sends the browser to the login page,
	// which knows where it was going.
	res, body := get(want)
	if res.Request.URL.Path != "/login" || res.Request.URL.Query().Get("rd") != want || !strings.Contains(body, `name="password"`) {
		t.Fatalf("unauthenticated: ended at %s (%d)", res.Request.URL, res.StatusCode)
	}
	// 2. Sign in on the page: back at the application, as ursula.
	form := url.Values{"username": {"ursula"}, "password": {"ursula's long password"}, "rd": {want}}
	req, _ := http.NewRequest("POST", g.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	res, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body2, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Request.URL.String() != want || string(body2) != "user=ursula path=/reports" {
		t.Fatalf("after login: at %s, %d %q", res.Request.URL, res.StatusCode, body2)
	}
	// 3. Signed in, the application just works.
	if res, body := get(base + "/app/other"); res.StatusCode != 200 || body != "user=ursula path=/other" {
		t.Fatalf("signed in: %d %q", res.StatusCode, body)
	}
	// 4. Sign out on Gatehouse: the application sends the browser to the
	// login page again.
	req, _ = http.NewRequest("POST", g.base+"/sign-out", nil)
	res, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.Path != "/login" {
		t.Fatalf("sign-out ended at %s", res.Request.URL)
	}
	if res, _ := get(want); res.Request.URL.Path != "/login" {
		t.Fatalf("after sign-out the application answered from %s: %d", res.Request.URL, res.StatusCode)
	}
}
