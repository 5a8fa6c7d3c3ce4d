package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/sqlite"
)

func TestAPIKeyCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+path)
	ctx := context.Background()
	cli := func(args ...string) (stdout, stderr string, err error) {
		var o, e bytes.Buffer
		err = run(ctx, args, strings.NewReader("a long enough password\n"), &o, &e)
		return o.String(), e.String(), err
	}
	if _, errOut, err := cli("user", "create", "alice", "--password-stdin"); err != nil {
		t.Fatalf("create user: %v %s", err, errOut)
	}

	out, errOut, err := cli("apikey", "create", "--user", "ALICE", "--name", "ci", "--scopes", "read:items")
	if err != nil {
		t.Fatalf("create: %v %s", err, errOut)
	}
	key := strings.TrimSpace(out)
	if _, _, ok := apikey.Parse(key); !ok {
		t.Fatalf("stdout is not just the key: %q", out)
	}
	if strings.Contains(errOut, key) || !strings.Contains(errOut, `"read:items"`) {
		t.Fatalf("stderr: %q", errOut)
	}

	refused := []struct {
		name string
		args []string
		code int
	}{
		{"no user", []string{"apikey", "create", "--name", "ci"}, 2},
		{"no name", []string{"apikey", "create", "--user", "alice"}, 2},
		{"unknown user", []string{"apikey", "create", "--user", "bob", "--name", "ci"}, 1},
		{"scope beyond the role", []string{"apikey", "create", "--user", "alice", "--name", "ci", "--scopes", "admin"}, 1},
		{"bad expiry", []string{"apikey", "create", "--user", "alice", "--name", "ci", "--expires-at", "soon"}, 2},
		{"expiry in the past", []string{"apikey", "create", "--user", "alice", "--name", "ci", "--expires-at", "2001-01-01T00:00:00Z"}, 1},
		{"revoke without id", []string{"apikey", "revoke"}, 2},
		{"revoke a bad id", []string{"apikey", "revoke", "x"}, 2},
		{"revoke an unknown id", []string{"apikey", "revoke", "99"}, 1},
		{"unknown subcommand", []string{"apikey", "rotate"}, 2},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := cli(tt.args...)
			if code := exitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d; %s %s", code, err, tt.code, out, errOut)
			}
		})
	}

	out, _, err = cli("apikey", "list")
	prefix := key[:len(apikey.Prefix)+16]
	if err != nil || !regexp.MustCompile(`(?m)^1\s+alice\s+"ci"\s+`+prefix+`\s+read:items\s+true\s`).MatchString(out) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if strings.Contains(out, key) {
		t.Fatal("list shows the key")
	}
	if out, _, err := cli("apikey", "list", "--user", "alice"); err != nil || strings.Count(out, "\n") != 2 {
		t.Fatalf("list --user: %v\n%s", err, out)
	}
	if out, _, err := cli("apikey", "revoke", "1"); err != nil || !strings.Contains(out, "revoked API key 1") {
		t.Fatalf("revoke: %v %s", err, out)
	}

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, err := db.APIKeysByUser(ctx, 1)
	if err != nil || len(keys) != 1 || keys[0].Active {
		t.Fatalf("after revoke: %v %+v", err, keys)
	}
	changes, err := db.ChangesSince(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(changes); n == 0 || changes[n-1].APIKeyID != 1 {
		t.Fatalf("the revocation is not on the change feed for running servers: %+v", changes)
	}
}

// read:revocations, the revocation stream's scope, goes on an admin's key
// only when named; a key made without --scopes does not get it, and no
// one but an admin can have it.
func TestAPIKeyForTheRevocationStream(t *testing.T) {
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	ctx := context.Background()
	cli := func(args ...string) (string, error) {
		var o, e bytes.Buffer
		err := run(ctx, args, strings.NewReader("a long enough password\n"), &o, &e)
		return e.String(), err
	}
	for _, u := range [][]string{{"root", "admin"}, {"mod", "moderator"}} {
		if out, err := cli("user", "create", u[0], "--role", u[1], "--password-stdin"); err != nil {
			t.Fatalf("create %s: %v %s", u[0], err, out)
		}
	}
	if out, err := cli("apikey", "create", "--user", "root", "--name", "stream", "--scopes", "read:revocations"); err != nil ||
		!strings.Contains(out, `scopes "read:revocations"`) {
		t.Fatalf("an admin's stream key: %v %s", err, out)
	}
	if out, err := cli("apikey", "create", "--user", "root", "--name", "all"); err != nil ||
		!strings.Contains(out, `scopes "read:items write:items admin"`) {
		t.Fatalf("an admin's key without --scopes: %v %s", err, out)
	}
	if out, err := cli("apikey", "create", "--user", "mod", "--name", "stream", "--scopes", "read:revocations"); exitCode(err) != 1 {
		t.Fatalf("a moderator's stream key: %v %s", err, out)
	}
}
