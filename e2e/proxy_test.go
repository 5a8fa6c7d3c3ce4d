package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginxConf puts a real nginx in front of a backend, asking Gatehouse's
// /auth/verify before each request: /api/ needs read:items, /admin/ the
// admin role. It is the configuration the README shows.
const nginxConf = `daemon off;
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
      proxy_set_header X-User $gh_user;
      proxy_pass %[3]s/;
    }
    location /admin/ {
      auth_request /_gatehouse_admin;
      proxy_pass %[3]s/;
    }
    location = /_gatehouse_items {
      internal;
      proxy_pass %[4]s/auth/verify?scope=read:items;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }
    location = /_gatehouse_admin {
      internal;
      proxy_pass %[4]s/auth/verify?role=admin;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }
  }
}
`

func startNginx(t *testing.T, backend, gatehouse string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			t.Skip("nginx not installed (apt-get install nginx-light; .ci/run does): skipping the real-proxy test")
		}
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, addr, backend, gatehouse), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf, "-p", dir)
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
	t.Fatalf("nginx did not start: %s %s", out.String(), errs)
	return ""
}

// TestNginxForwardAuth guards a backend with nginx's auth_request and two
// Gatehouse instances: nginx asks B, the user logs out on A.
func TestNginxForwardAuth(t *testing.T) {
	c := newCluster(t)
	a := c.start()
	b := c.start()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s method=%s path=%s", r.Header.Get("X-User"), r.Method, r.URL.Path)
	}))
	defer backend.Close()
	proxy := startNginx(t, backend.URL, b.base)

	send := func(method, path string, header ...string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, proxy+path, strings.NewReader("a=b"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
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
		t.Fatalf("no credential through nginx: %d, WWW-Authenticate %q", code, h.Get("WWW-Authenticate"))
	}
	admin := a.login(t, "admin", "e2e-admin-password-1")
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		code, body, _ := send(m, "/api/things", "Authorization", "Bearer "+admin)
		if want := "user=admin method=" + m + " path=/things"; code != 200 || body != want {
			t.Fatalf("%s with a token: %d %q, want 200 %q", m, code, body, want)
		}
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
		t.Fatalf("API key through nginx: %d %q", code, body)
	}
	if code, _, _ := send("GET", "/admin/x", "X-API-Key", key); code != 403 {
		t.Fatalf("a user's key on the admin route: %d, want 403", code)
	}

	// Logout on A reaches nginx's answers from B.
	if code, _ := call(t, "POST", a.base+"/logout", admin, "", ""); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	eventually(t, "the logged-out token refused through nginx", func() bool {
		code, _, _ := send("GET", "/api/things", "Authorization", "Bearer "+admin)
		return code == 401
	})
}
