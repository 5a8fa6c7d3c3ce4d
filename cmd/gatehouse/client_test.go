package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/oauth"
	"github.com/gatehouse/gatehouse/sqlite"
)

func TestClientCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+path)
	ctx := context.Background()
	cli := func(args ...string) (stdout, stderr string, err error) {
		var o, e bytes.Buffer
		err = run(ctx, args, strings.NewReader(""), &o, &e)
		return o.String(), e.String(), err
	}
	lines := func(out string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(l, ": ")
			m[k] = v
		}
		return m
	}
	open := func() *sqlite.DB {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}

	// Flags may follow NAME; --redirect-uri repeats; the output is two
	// lines on stdout (contract §13), on a fresh database.
	out, errOut, err := cli("client", "create", "Grafana", "--redirect-uri", "https://grafana.example.com/cb",
		"--redirect-uri", "http://127.0.0.1/cb", "--post-logout-redirect-uri", "https://grafana.example.com/", "--scope", "openid",
		"--scope", "profile,email")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	got := lines(out)
	id, secret := got["client_id"], got["client_secret"]
	if len(got) != 2 || !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(id) || !regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`).MatchString(secret) {
		t.Fatalf("create printed %q; want exactly client_id and client_secret lines", out)
	}
	if strings.Contains(errOut, secret) {
		t.Fatal("the secret went to stderr too")
	}
	c, err := open().Client(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !oauth.VerifyClientSecret(c, secret, time.Now()) || len(c.RedirectURIs) != 2 || len(c.PostLogoutRedirectURIs) != 1 ||
		!slices.Equal(c.Scopes, []string{"openid", "profile", "email"}) || !slices.Equal(c.Grants, oauth.DefaultClientGrants) {
		t.Fatalf("stored client %+v", c)
	}

	// --grant replaces the default; a service client needs no redirect URI.
	out, errOut, err = cli("client", "create", "svc", "--grant", "client_credentials", "--json")
	if err != nil {
		t.Fatalf("create --json: %v %s", err, errOut)
	}
	var info oauth.ClientInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.ClientSecret == "" || !slices.Equal(info.Grants, []string{"client_credentials"}) {
		t.Fatalf("--json printed %q (%v)", out, err)
	}
	svc := info.ClientID

	// A public, first-party client: no secret line.
	out, _, err = cli("client", "create", "--public", "--first-party", "cli", "--redirect-uri", "http://[::1]/callback")
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(out); got["client_id"] == "" || len(got) != 1 {
		t.Fatalf("public client printed %q; want the client_id line only", out)
	}

	out, _, err = cli("client", "list")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, svc) || strings.Contains(out, secret) ||
		!strings.Contains(out, "public") || !strings.HasPrefix(out, "CLIENT_ID") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, _, err = cli("client", "list", "--json")
	var list []oauth.ClientInfo
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 3 {
		t.Fatalf("list --json: %v %s", err, out)
	}

	// rotate-secret: a new secret; the old one works during the overlap.
	out, _, err = cli("client", "rotate-secret", id, "--overlap", "1h")
	if err != nil {
		t.Fatal(err)
	}
	second := lines(out)["client_secret"]
	c, _ = open().Client(ctx, id)
	if second == "" || second == secret || !oauth.VerifyClientSecret(c, second, time.Now()) ||
		!oauth.VerifyClientSecret(c, secret, time.Now()) || oauth.VerifyClientSecret(c, secret, time.Now().Add(2*time.Hour)) {
		t.Fatalf("rotate-secret printed %q; stored %+v", out, c.Secrets)
	}

	// delete ends the client's sessions, as the server's mirror learns
	// through the change feed.
	db := open()
	u := &gatehouse.User{Username: "alice", PasswordHash: "x", Role: gatehouse.RoleUser}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := db.CreateSession(ctx, &gatehouse.Session{ID: "s1", UserID: u.ID, CreatedAt: now, Kind: gatehouse.SessionOAuth, ClientID: id},
		&gatehouse.RefreshToken{Hash: "h", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	seq, _ := db.LatestChange(ctx)
	out, _, err = cli("client", "delete", id)
	if err != nil || !strings.Contains(out, "1 session(s) ended") {
		t.Fatalf("delete: %v %q", err, out)
	}
	changes, _ := db.ChangesSince(ctx, seq, 10)
	if len(changes) != 1 || changes[0].Revocation == nil || changes[0].Revocation.Value != "s1" {
		t.Fatalf("change feed after delete: %+v", changes)
	}
	if _, err := db.Client(ctx, id); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("deleted client still there: %v", err)
	}

	refused := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no name", []string{"client", "create", "--redirect-uri", "https://a.example/cb"}, 2, ""},
		{"no redirect URI", []string{"client", "create", "app"}, 1, "--redirect-uri"},
		{"plain http", []string{"client", "create", "app", "--redirect-uri", "http://a.example/cb"}, 1, "--redirect-uri"},
		{"unknown grant", []string{"client", "create", "app", "--grant", "password"}, 1, "--grant"},
		{"public service", []string{"client", "create", "app", "--public", "--grant", "client_credentials"}, 1, "--grant"},
		{"unknown scope", []string{"client", "create", "app", "--redirect-uri", "https://a.example/cb", "--scope", "root"}, 1, "--scope"},
		{"delete unknown", []string{"client", "delete", "nope"}, 1, "Client not found"},
		{"delete without id", []string{"client", "delete"}, 2, ""},
		{"rotate a public client", []string{"client", "rotate-secret", list[0].ClientID}, 1, ""},
		{"negative overlap", []string{"client", "rotate-secret", svc, "--overlap", "-1h"}, 2, ""},
		{"unknown subcommand", []string{"client", "rename", "x"}, 2, ""},
	}
	for _, pub := range list {
		if pub.Public {
			refused[8].args[2] = pub.ClientID
		}
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := cli(tt.args...)
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d; %s %s", code, err, tt.code, out, errOut)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not name %q", err, tt.msg)
			}
		})
	}
}
