package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
)

// Migration 009 rebuilds the sessions table (to let its kind be 'oauth')
// with foreign keys off. A database as main left it — every other
// migration applied, 010 included — must keep its sessions, their refresh
// tokens and its browser sessions, and foreign keys must be enforced again
// afterwards.
func TestMigration009KeepsSessionsAndRefreshTokens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pre009.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"001_core", "002_apikeys_items_totp_nonces_audit", "003_indexes", "004_enabled_admins_index",
		"005_audit_count", "006_signing_keys", "007_hardening", "008_session_info", "010_passkeys"} {
		name := "migrations/" + m + ".sql"
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := raw.Exec(`INSERT INTO schema_migrations VALUES (?, 1)`, name); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO users (username, username_key, password_hash, role, created_at, updated_at) VALUES ('u', 'u', 'h', 'user', 1, 1)`,
		`INSERT INTO sessions (id, user_id, scope, created_at, refresh_tat, kind, auth_time, amr, client_ip, user_agent)
			VALUES ('tok', 1, 'read:items', 1, 5, 'token', 1, 'pwd otp', '192.0.2.1', 'curl/8')`,
		`INSERT INTO sessions (id, user_id, scope, created_at, kind, expires_at) VALUES ('br', 1, '', 1, 'browser', 9999999999999999)`,
		`INSERT INTO refresh_tokens (hash, session_id, user_id, scope, created_at, expires_at) VALUES ('rt', 'tok', 1, 'read:items', 1, 9999999999999999)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	s, err := db.LiveSession(ctx, "tok", now)
	if err != nil || s.AMR != "pwd otp" || s.ClientIP != "192.0.2.1" || s.Kind != gatehouse.SessionToken || s.ClientID != "" {
		t.Fatalf("token session after migration: %+v, %v", s, err)
	}
	if _, err := db.LiveSession(ctx, "br", now); err != nil {
		t.Fatalf("browser session after migration: %v", err)
	}
	rot, err := db.RotateRefreshToken(ctx, "rt", now, &gatehouse.RefreshToken{Hash: "rt2", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
	if err != nil || !rot.Rotated {
		t.Fatalf("the refresh token stored before the migration: %+v, %v", rot, err)
	}
	// Foreign keys are enforced again on the write connection: a code for
	// no client is refused, and deleting the user still cascades.
	err = db.CreateAuthCode(ctx, &gatehouse.AuthCode{Hash: "c", ClientID: "none", UserID: 1, RedirectURI: "x", Scope: "openid",
		CodeChallenge: "x", CreatedAt: now, ExpiresAt: now.Add(time.Minute)})
	if err == nil {
		t.Fatal("a code for an unknown client was stored: foreign keys are off")
	}
	if err := db.DeleteUser(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if ids, err := db.LiveSessions(ctx, 1); err != nil || len(ids) != 0 {
		t.Fatalf("sessions of a deleted user: %v, %v", ids, err)
	}
	// An OAuth session can now be stored.
	if err := db.CreateUser(ctx, &gatehouse.User{Username: "v", PasswordHash: "h", Role: gatehouse.RoleUser}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSession(ctx, &gatehouse.Session{ID: "oa", UserID: 2, CreatedAt: now, Kind: gatehouse.SessionOAuth, ClientID: "app",
		ExpiresAt: now.Add(time.Hour)}, nil); err != nil {
		t.Fatalf("an oauth session after migration: %v", err)
	}
}

// TestMigration009Timing measures how long migration 009 takes on a
// database with many sessions (it rebuilds the sessions table), when
// GATEHOUSE_MIGRATION_SESSIONS says how many:
//
//	GATEHOUSE_MIGRATION_SESSIONS=1000000 go test ./sqlite -run Migration009Timing -v
func TestMigration009Timing(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GATEHOUSE_MIGRATION_SESSIONS"))
	if n <= 0 {
		t.Skip("set GATEHOUSE_MIGRATION_SESSIONS to measure")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "big.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"001_core", "002_apikeys_items_totp_nonces_audit", "003_indexes", "004_enabled_admins_index",
		"005_audit_count", "006_signing_keys", "007_hardening", "008_session_info", "010_passkeys"} {
		name := "migrations/" + m + ".sql"
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := raw.Exec(`INSERT INTO schema_migrations VALUES (?, 1)`, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO users (username, username_key, password_hash, role, created_at, updated_at) VALUES ('u', 'u', 'h', 'user', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	// n sessions, each with one live and one spent refresh token.
	if _, err := raw.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO sessions (id, user_id, scope, created_at, kind, auth_time, amr, client_ip, user_agent)
		SELECT 'sid-' || i, 1, 'read:items write:items', i, 'token', i, 'pwd', '192.0.2.1', 'Mozilla/5.0 (X11; Linux x86_64)' FROM seq`, n); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO refresh_tokens (hash, session_id, user_id, scope, created_at, expires_at, used_at)
		SELECT 'a' || id, id, 1, scope, 1, 9999999999999999, NULL FROM sessions
		UNION ALL SELECT 'b' || id, id, 1, scope, 1, 9999999999999999, 1 FROM sessions`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	fi, _ := os.Stat(path)
	start := time.Now()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	defer db.Close()
	t.Logf("migration 009 on %d sessions, %d refresh tokens (%d MB file): %v", n, 2*n, fi.Size()>>20, took)
	start = time.Now()
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("opening it again (009 applied, no foreign key check): %v", time.Since(start))
	if ids, err := db.LiveSessions(ctx, 1); err != nil || len(ids) != n {
		t.Fatalf("after migration: %d live sessions, %v; want %d", len(ids), err, n)
	}
}
