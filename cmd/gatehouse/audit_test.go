package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
)

// seedAudit creates alice through the CLI (a user_created event) and adds
// events at known times, oldest first, one a minute from base.
func seedAudit(t *testing.T, path string, base time.Time) {
	t.Helper()
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+path)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"user", "create", "alice", "--password-stdin"},
		strings.NewReader("alice's long password\n"), &out, &out); err != nil {
		t.Fatalf("create alice: %v %s", err, &out)
	}
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	alice, err := db.UserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	evs := []*gatehouse.AuditEvent{
		{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess, UserID: alice.ID, ClientIP: "192.0.2.1", Path: "/token", Detail: "e0"},
		{Type: gatehouse.EventLogout, Outcome: gatehouse.OutcomeSuccess, UserID: alice.ID, Path: "/logout", Detail: "e1"},
		{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeFailure, Username: "mallory\x1b[2J\x1b]0;pwned\a", Detail: "e2", Count: 37},
		{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess, UserID: alice.ID, Detail: "e3"},
	}
	for i, e := range evs {
		e.Time = base.Add(time.Duration(i) * time.Minute)
	}
	if err := db.AddAuditEvents(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
}

func TestAuditCommand(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	seedAudit(t, filepath.Join(t.TempDir(), "g.db"), base)
	cli := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"audit"}, args...), strings.NewReader(""), &stdout, &stderr)
		return stdout.String(), err
	}
	// details lists the seeded events the output shows, in order.
	details := func(out string) []string {
		var got []string
		for _, f := range strings.Fields(out) {
			if len(f) == 2 && f[0] == 'e' && f[1] >= '0' && f[1] <= '9' {
				got = append(got, f)
			}
		}
		return got
	}
	until := "--until=" + base.Add(time.Hour).Format(time.RFC3339)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"newest first", []string{until}, []string{"e3", "e2", "e1", "e0"}},
		{"limit", []string{until, "--limit", "2"}, []string{"e3", "e2"}},
		{"type", []string{"--type", "logout"}, []string{"e1"}},
		{"user by name", []string{"--user", "ALICE", until}, []string{"e3", "e1", "e0"}},
		{"time range", []string{"--since", base.Add(time.Minute).Format(time.RFC3339), "--until", base.Add(3 * time.Minute).Format(time.RFC3339)}, []string{"e2", "e1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := cli(tt.args...)
			if err != nil {
				t.Fatalf("%v: %v", tt.args, err)
			}
			if got := details(out); !slices.Equal(got, tt.want) {
				t.Fatalf("%v: got %v, want %v\n%s", tt.args, got, tt.want, out)
			}
		})
	}

	t.Run("the CLI's own events are there too", func(t *testing.T) {
		out, err := cli("--type", "user_created")
		if err != nil || !strings.Contains(out, "alice") {
			t.Fatalf("%v\n%s", err, out)
		}
	})

	t.Run("no escape sequence reaches the terminal", func(t *testing.T) {
		out, err := cli(until)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(out, "\x1b\a") {
			t.Fatalf("raw control characters in the output: %q", out)
		}
		if !strings.Contains(out, `\x1b[2J`) {
			t.Fatalf("the name is not shown escaped: %s", out)
		}
	})

	t.Run("json lines with the API's fields", func(t *testing.T) {
		out, err := cli("--json", "--user", "alice", "--type", "login", until)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("want 2 lines:\n%s", out)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "time", "type", "outcome", "user_id", "username", "client_ip", "user_agent", "request_id", "path", "detail", "count"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("event lacks %q: %s", k, lines[0])
			}
		}
		if ev["username"] != "alice" || ev["detail"] != "e3" || ev["count"] != float64(1) {
			t.Errorf("event: %s", lines[0])
		}
	})

	t.Run("a summary of refusals shows its count", func(t *testing.T) {
		out, err := cli("--type", "login", until)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(out, "\n")
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasSuffix(l, " e2") })
		if i < 0 || !strings.Contains(lines[0], "COUNT") || !slices.Contains(strings.Fields(lines[i]), "37") {
			t.Fatalf("the summary's count is not shown:\n%s", out)
		}
	})

	for _, args := range [][]string{
		{"--since", "yesterday"},
		{"--until", "2026-13-01T00:00:00Z"},
		{"--limit", "0"},
		{"--user", "nobody"},
		{"extra"},
	} {
		t.Run("refuses "+strings.Join(args, " "), func(t *testing.T) {
			if _, err := cli(args...); exitCode(err) != 2 {
				t.Fatalf("exit %d (%v), want 2", exitCode(err), err)
			}
		})
	}
}

func TestAuditPurgeKeepsTheRetentionWindow(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	retention := 90 * 24 * time.Hour
	old := &gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess, Time: now.Add(-retention - time.Second), Detail: "old"}
	kept := &gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess, Time: now.Add(-retention + time.Second), Detail: "kept"}
	if err := db.AddAuditEvents(ctx, old, kept); err != nil {
		t.Fatal(err)
	}
	purgeAudit(ctx, db, now, retention, slog.New(slog.DiscardHandler))
	evs, err := db.AuditEvents(ctx, gatehouse.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Detail != "kept" {
		t.Fatalf("after the purge: %+v", evs)
	}
}

func TestAuditRetentionSetting(t *testing.T) {
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+filepath.Join(t.TempDir(), "g.db"))
	c, err := parseServe(nil, &bytes.Buffer{})
	if err != nil || c.auditRetention != 2160*time.Hour {
		t.Fatalf("default retention %v (%v), want 90 days", c.auditRetention, err)
	}
	t.Setenv("GATEHOUSE_AUDIT_RETENTION", "forever")
	if _, err := parseServe(nil, &bytes.Buffer{}); exitCode(err) != 2 || !strings.Contains(err.Error(), "GATEHOUSE_AUDIT_RETENTION") {
		t.Fatalf("bad retention: %v", err)
	}
}
