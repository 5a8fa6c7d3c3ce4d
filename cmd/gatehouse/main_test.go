package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

func TestBadConfigurationExitsWithStatus2NamingTheSetting(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "g.db")
	tests := []struct {
		env, value string
	}{
		{"GATEHOUSE_ACCESS_TOKEN_TTL", "banana"},
		{"GATEHOUSE_REFRESH_TOKEN_TTL", "-1h"},
		{"GATEHOUSE_SECRET_KEY", "too-short"},
		{"GATEHOUSE_ADDR", "nonsense"},
		{"GATEHOUSE_DATABASE_URL", "mysql://x"},
		{"GATEHOUSE_DATABASE_URL", "sqlite:/nonexistent-dir/x/g.db"},
		{"GATEHOUSE_HTTPS_REDIRECT", "maybe"},
		{"GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/33"},
		{"GATEHOUSE_CORS_ORIGINS", "*"},
		{"GATEHOUSE_CORS_ORIGINS", "null"},
		{"GATEHOUSE_TRUSTED_HOSTS", "api.example.com:443"},
		{"GATEHOUSE_TRUSTED_HOSTS", " , "},
		{"GATEHOUSE_REDIS_URL", "http://cache:6379/0"},
		{"GATEHOUSE_REDIS_URL", "unix:///run/redis.sock"},
		{"GATEHOUSE_REDIS_URL", "redis://u:hunter2@cache:port/0"},
		{"GATEHOUSE_LOGIN_RATE_LIMIT", "ten per minute"},
		{"GATEHOUSE_REFRESH_RATE_LIMIT", "0/minute"},
		{"GATEHOUSE_RATE_LIMITS", "GET /items"},
		{"GATEHOUSE_RATE_LIMITS", "GET /items=lots"},
		{"GATEHOUSE_RATE_LIMITS", "GET /no-such-route=5/minute"},
		{"GATEHOUSE_PASSWORD_MIN_LENGTH", "0"},
		{"GATEHOUSE_HASH_WORKERS", "-1"},
		{"GATEHOUSE_HASH_WORKERS", "many"},
		{"GATEHOUSE_HASH_NICE", "20"},
		{"GATEHOUSE_USER_CACHE_SIZE", "0"},
		{"GATEHOUSE_TLS_CERT", "/nonexistent.pem"},
		{"GATEHOUSE_LOG_LEVEL", "loud"},
		{"GATEHOUSE_SIGNING_ALG", "HS512"},
		{"GATEHOUSE_SIGNING_ALG", "none"},
		{"GATEHOUSE_KEY_ROTATION", "monthly"},
		{"GATEHOUSE_KEY_ROTATION", "1m"}, // shorter than a new key's publication before it signs
		{"GATEHOUSE_JWKS_MAX_AGE", "0"},
		{"GATEHOUSE_JWKS_MAX_AGE", "1.5s"},
		{"GATEHOUSE_PUBLIC_URL", "auth.example.com"},
		{"GATEHOUSE_PUBLIC_URL", "https://auth.example.com/?x=1"},
		{"GATEHOUSE_PUBLIC_URL", "ftp://auth.example.com"},
		{"GATEHOUSE_PUBLIC_URL", "https://user@auth.example.com"},
		{"GATEHOUSE_SESSION_TTL", "0s"},
		{"GATEHOUSE_COOKIE_DOMAIN", "other.org"},
		{"GATEHOUSE_COOKIE_DOMAIN", "https://example.com"},
		{"GATEHOUSE_REDIRECT_DOMAINS", "https://app.example.com"},
		{"GATEHOUSE_REDIRECT_DOMAINS", "*"},
	}
	for _, tt := range tests {
		t.Run(tt.env+"="+tt.value, func(t *testing.T) {
			t.Setenv("GATEHOUSE_DATABASE_URL", db)
			t.Setenv(tt.env, tt.value)
			if tt.env == "GATEHOUSE_TLS_CERT" {
				t.Setenv("GATEHOUSE_TLS_KEY", "/nonexistent.key")
			}
			if tt.env == "GATEHOUSE_COOKIE_DOMAIN" {
				t.Setenv("GATEHOUSE_PUBLIC_URL", "https://auth.example.com")
			}
			var stdout, stderr bytes.Buffer
			// A value wrongly accepted starts the server; the deadline stops
			// it, and the test fails on the exit code instead of hanging. It
			// is generous: a value refused only once the app is open (a
			// route limit naming no route) needs a start — key generation,
			// migrations, the first admin's hash — under -race on a busy
			// machine first.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, &stderr)
			if code := exitCode(err); code != 2 {
				t.Fatalf("exit code = %d (err %v), want 2", code, err)
			}
			if !strings.Contains(err.Error(), tt.env) {
				t.Fatalf("error %q does not name %s", err, tt.env)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if tt.env == "GATEHOUSE_SECRET_KEY" && strings.Contains(err.Error(), tt.value) {
				t.Fatalf("error repeats the secret: %q", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error repeats the password in the URL: %q", err)
			}
		})
	}
}

func TestRedisURLIsValidatedWithoutContactingRedis(t *testing.T) {
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	for _, u := range []string{"redis://cache.invalid:6379/0", "rediss://u:p@cache.invalid/1"} {
		if _, err := parseServe([]string{"--redis-url", u}, &bytes.Buffer{}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	t.Setenv("GATEHOUSE_ACCESS_TOKEN_TTL", "banana")
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	c, err := parseServe([]string{"--access-token-ttl", "5m"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.store.accessTTL.Minutes() != 5 {
		t.Fatalf("access TTL = %v", c.store.accessTTL)
	}
}

func TestHelpNamesEnvironmentVariables(t *testing.T) {
	for _, args := range [][]string{{"serve", "--help"}, {"migrate", "--help"}, {"user", "list", "--help"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		if exitCode(err) != 0 {
			t.Fatalf("%v: exit %d: %v", args, exitCode(err), err)
		}
		envs := []string{"GATEHOUSE_DATABASE_URL", "GATEHOUSE_SECRET_KEY"}
		if args[0] == "serve" {
			envs = append(envs, "GATEHOUSE_PUBLIC_URL", "GATEHOUSE_COOKIE_DOMAIN", "GATEHOUSE_REDIRECT_DOMAINS", "GATEHOUSE_SESSION_TTL")
		}
		for _, env := range envs {
			if !strings.Contains(stderr.String(), env) {
				t.Errorf("%v --help does not name %s:\n%s", args, env, stderr.String())
			}
		}
	}
}

func TestUserCommands(t *testing.T) {
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	ctx := context.Background()
	cli := func(stdin string, args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	if out, err := cli("a long enough password\n", "user", "create", "Alice", "--role", "admin", "--password-stdin"); err != nil {
		t.Fatalf("create: %v %s", err, out)
	}
	if out, err := cli("another fine password\n", "user", "create", "alice", "--password-stdin"); err == nil {
		t.Fatalf("duplicate create succeeded: %s", out)
	}
	if out, err := cli("short\n", "user", "create", "bob", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("weak password accepted: %v %s", err, out)
	}
	if out, err := cli("", "user", "create", "bob"); exitCode(err) != 2 {
		t.Fatalf("create without a terminal or --password-stdin: %v %s", err, out)
	}
	if out, err := cli("bob's password ok\n", "user", "create", "bob", "--password-stdin"); err != nil {
		t.Fatalf("create bob: %v %s", err, out)
	}
	out, err := cli("", "user", "list")
	if err != nil || !strings.Contains(out, "Alice") || !strings.Contains(out, "bob") {
		t.Fatalf("list: %v %s", err, out)
	}
	if out, err := cli("", "user", "set-role", "bob", "moderator"); err != nil || !strings.Contains(out, "moderator") {
		t.Fatalf("set-role: %v %s", err, out)
	}
	if _, err := cli("", "user", "set-role", "bob", "emperor"); err == nil {
		t.Fatal("set-role to an unknown role succeeded")
	}
	if out, err := cli("", "user", "disable", "alice"); err == nil {
		t.Fatalf("disabling the last admin succeeded: %s", out)
	}
	if out, err := cli("", "user", "disable", "bob"); err != nil || !strings.Contains(out, "disabled true") {
		t.Fatalf("disable: %v %s", err, out)
	}
	if _, err := cli("", "user", "enable", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("a new password for bob\n", "user", "set-password", "bob", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("", "user", "delete", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("", "user", "delete", "bob"); err == nil {
		t.Fatal("deleting a deleted user succeeded")
	}
	if out, err := cli("", "migrate"); err != nil || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate: %v %s", err, out)
	}
	if out, err := cli("", "version"); err != nil || !strings.Contains(out, "gatehouse") {
		t.Fatalf("version: %v %s", err, out)
	}
}

func TestExitCodes(t *testing.T) {
	if exitCode(nil) != 0 || exitCode(&configError{env: "X"}) != 2 || exitCode(context.Canceled) != 1 {
		t.Fatal("exit codes: success 0, configuration 2, other failures 1")
	}
}

func TestResealCommandRuns(t *testing.T) {
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	t.Setenv("GATEHOUSE_ENCRYPTION_KEY", "a-new-encryption-key-of-32-bytes-or-more")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"reseal"}, strings.NewReader(""), &out, &out); err != nil {
		t.Fatalf("reseal: %v %s", err, out.String())
	}
	if !strings.Contains(out.String(), "0 TOTP secrets resealed") {
		t.Fatalf("reseal output: %s", out.String())
	}
}

func TestPreviousSigningKeysStillVerify(t *testing.T) {
	oldKey := []byte("the-old-signing-key-of-32-bytes-or-more")
	newKey := []byte("the-new-signing-key-of-32-bytes-or-more")
	oldMgr, err := token.NewManager(token.Config{Keys: token.KeysFromSecrets(oldKey, nil), Issuer: "gatehouse", Audience: "gatehouse"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := oldMgr.Issue(token.Claims{Subject: "1", ExpiresAt: time.Now().Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := token.NewManager(token.Config{Keys: token.KeysFromSecrets(newKey, [][]byte{oldKey}), Issuer: "gatehouse", Audience: "gatehouse"})
	if _, err := rotated.Verify(tok); err != nil {
		t.Fatalf("a token of the previous key is refused during rotation: %v", err)
	}
	fresh, _ := rotated.Issue(token.Claims{Subject: "1", ExpiresAt: time.Now().Add(time.Minute).Unix()})
	if _, err := oldMgr.Verify(fresh); err == nil {
		t.Fatal("new tokens are still signed with the old key")
	}
	retired, _ := token.NewManager(token.Config{Keys: token.KeysFromSecrets(newKey, nil), Issuer: "gatehouse", Audience: "gatehouse"})
	if _, err := retired.Verify(tok); err == nil {
		t.Fatal("a retired key's token still verifies")
	}
}

// The server serve runs cuts off slow clients within contract §2's 30 s
// (httpapi's slow-client test shows these fields do so, made short).
func TestServeBoundsSlowClients(t *testing.T) {
	srv := newHTTPServer(context.Background(), http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 || name != "IdleTimeout" && d > 30*time.Second {
			t.Errorf("%s = %v, want set and (but for idle) at most 30 s", name, d)
		}
	}
	if srv.ReadHeaderTimeout > srv.ReadTimeout {
		t.Errorf("ReadHeaderTimeout %v longer than ReadTimeout %v", srv.ReadHeaderTimeout, srv.ReadTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d, want set, well under net/http's 1 MiB default", srv.MaxHeaderBytes)
	}
}

func TestBrowserSettings(t *testing.T) {
	for _, c := range []struct {
		public, domain, redirects string
		wantPublic, wantDomain    string
	}{
		{"http://127.0.0.1:8000", "", "", "http://127.0.0.1:8000", ""},
		{"https://auth.example.com", ".Example.com", "*.example.com", "https://auth.example.com", "example.com"},
		{"https://example.com:8443/gatehouse", "example.com", "", "https://example.com:8443", "example.com"},
	} {
		red, domain, err := parseBrowser(c.public, c.domain, c.redirects)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if got := red.Public().String(); got != c.wantPublic || domain != c.wantDomain {
			t.Errorf("%+v: public %q, domain %q", c, got, domain)
		}
	}
}
