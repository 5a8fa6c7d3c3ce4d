package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
)

// startSQLite starts `gatehouse serve` on the SQLite file db, its proxy
// trusted so that requests can name their client in X-Forwarded-For.
func startSQLite(t testing.TB, db string, extraEnv ...string) *instance {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_ADDR="+addr,
		"GATEHOUSE_DATABASE_URL=sqlite:"+db,
		"GATEHOUSE_ADMIN_USERNAME=admin",
		"GATEHOUSE_ADMIN_PASSWORD=e2e-admin-password-1",
		"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32",
		"GATEHOUSE_ENCRYPTION_KEY=", "GATEHOUSE_SECRET_KEY=", "GATEHOUSE_REDIS_URL=",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{base: "http://" + addr, cmd: cmd, logs: logs}
	t.Cleanup(func() { in.cmd.Process.Kill(); in.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(in.base + "/health"); err == nil {
			res.Body.Close()
			return in
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("instance did not start: %s", logs.String())
	return nil
}

// stop shuts the instance down as an operator does (SIGTERM), so that
// what it holds in memory is written.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	in.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- in.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v: %s", err, in.logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop within 60 s of SIGTERM")
	}
}

// callFrom is call with the client named in X-Forwarded-For.
func callFrom(t *testing.T, client, method, u, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", client)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// Issue 9 finding 1, contract §12, run as the attacker did: one client
// floods the built binary with refused API keys on a 60 KiB path and with
// failed logins, rotating through the addresses of its IPv6 /64. The
// database and the log stay small whatever the rate, every refusal is
// still counted, and real events recorded during the flood are there.
func TestARefusalFloodFromOneClientLeavesTheDatabaseAndLogSmall(t *testing.T) {
	dir := t.TempDir()
	flood := filepath.Join(dir, "flood")
	if out, err := exec.Command("go", "build", "-o", flood, "../scripts/flood").CombinedOutput(); err != nil {
		t.Fatalf("build the flooder: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "g.db")
	in := startSQLite(t, db)
	const admin, attacker = "192.0.2.50", "2001:db8:1:2::/64"
	login := func() string {
		t.Helper()
		code, m := callFrom(t, admin, "POST", in.base+"/token", "", url.Values{"username": {"admin"}, "password": {"e2e-admin-password-1"}}.Encode())
		if code != 200 {
			t.Fatalf("admin login: %d %v", code, m)
		}
		return m["access_token"].(string)
	}
	tok := login()

	cmd := exec.Command(flood, "-url", in.base, "-d", "4s", "-c", "8", "-xff", attacker)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // real events in the middle of the flood
	code, created := callFrom(t, admin, "POST", in.base+"/users", tok, `{"username":"during-the-flood","password":"a long enough password"}`)
	if code != 201 {
		t.Fatalf("create a user during the flood: %d %v", code, created)
	}
	createdID := int64(created["id"].(float64))
	login()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("flood: %v\n%s", err, out.String())
	}
	var got struct {
		Delete, Login map[string]int64
		Errors        int64
	}
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("flood output %q: %v", out.String(), err)
	}
	t.Logf("flood answers: %s", strings.TrimSpace(out.String()))
	if got.Delete["403"] < 100 || len(got.Delete) != 1 {
		t.Fatalf("the flood did not get through as refused API keys: %+v", got)
	}
	in.stop(t) // the open windows' summaries are written at shutdown

	var dbBytes int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(db + suffix); err == nil {
			dbBytes += fi.Size()
		}
	}
	logBytes := len(in.logs.String())
	t.Logf("after %d refused keys and %d refused logins: database %d bytes, log %d bytes",
		got.Delete["403"], got.Login["401"]+got.Login["429"], dbBytes, logBytes)
	if dbBytes > 2<<20 {
		t.Errorf("the database grew to %d bytes, want under 2 MiB", dbBytes)
	}
	if logBytes > 256<<10 {
		t.Errorf("the log grew to %d bytes, want under 256 KiB", logBytes)
	}

	store, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	events, err := store.AuditEvents(context.Background(), gatehouse.AuditFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	prefix := netip.MustParsePrefix(attacker)
	fromAttacker := func(e *gatehouse.AuditEvent) bool {
		a, err := netip.ParseAddr(e.ClientIP)
		return e.ClientIP == attacker || err == nil && prefix.Contains(a)
	}
	var rows, oversized int
	counts := map[string]int64{}
	var userCreated, adminLogins bool
	for _, e := range events {
		if fromAttacker(e) {
			rows++
			counts[e.Type] += e.Count
			if len(e.Path) > 1024 || len(e.UserAgent) > 256 {
				oversized++
			}
		}
		userCreated = userCreated || e.Type == gatehouse.EventUserCreated && e.UserID == createdID
		adminLogins = adminLogins || e.Type == gatehouse.EventLogin && e.Outcome == gatehouse.OutcomeSuccess && e.ClientIP == admin
	}
	if oversized > 0 {
		t.Errorf("%d rows hold a path over 1 KiB or a user agent over 256 bytes", oversized)
	}
	// Three types (api_key_refused, login, rate_limited), two rows each per
	// minute, and the flood may straddle a minute.
	if rows > 12 {
		t.Errorf("the attacker's flood is %d audit rows, want at most 12", rows)
	}
	if counts[gatehouse.EventAPIKeyRefused] != got.Delete["403"] {
		t.Errorf("api_key_refused counts %d, the flood got %d refusals", counts[gatehouse.EventAPIKeyRefused], got.Delete["403"])
	}
	if n := counts[gatehouse.EventLogin] + counts[gatehouse.EventRateLimited]; n != got.Login["401"]+got.Login["429"] {
		t.Errorf("failed logins and rate limits count %d, the flood got %d", n, got.Login["401"]+got.Login["429"])
	}
	if !userCreated || !adminLogins {
		t.Errorf("real events of the flood's time missing: user created %v, admin login %v", userCreated, adminLogins)
	}
}
