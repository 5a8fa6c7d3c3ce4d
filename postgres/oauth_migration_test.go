package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/jackc/pgx/v5"
)

// Migration 009 on a database as main left it (every other migration
// applied, 010 included): its sessions and refresh tokens stay, the kind
// check declared on the column in 008 is replaced whatever its name, and
// an OAuth session can then be stored.
func TestMigration009KeepsSessionsAndAllowsOAuth(t *testing.T) {
	ctx := context.Background()
	url := freshSchema(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"001_core", "002_apikeys_items_totp_nonces_audit", "005_audit_count", "006_signing_keys",
		"007_hardening", "008_session_info", "010_passkeys"} {
		name := "migrations/" + m + ".sql"
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, now())`, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `WITH u AS (INSERT INTO users (username, username_key, password_hash, role, created_at, updated_at)
		VALUES ('old', 'old', 'h', 'user', now(), now()) RETURNING id),
		s AS (INSERT INTO sessions (id, user_id, scope, created_at, kind, amr) SELECT 'tok', id, 'read:items', now(), 'token', 'pwd' FROM u RETURNING user_id)
		INSERT INTO refresh_tokens (hash, session_id, user_id, scope, created_at, expires_at)
		SELECT 'rt', 'tok', user_id, 'read:items', now(), now() + interval '1 hour' FROM s`); err != nil {
		t.Fatal(err)
	}
	// Before 009, an 'oauth' session is refused by the check.
	if _, err := conn.Exec(ctx, `UPDATE sessions SET kind = 'oauth' WHERE id = 'tok'`); err == nil {
		t.Fatal("the 008 check let kind 'oauth' through: the test does not start where main left the schema")
	}

	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	defer db.Close()
	now := time.Now()
	s, err := db.LiveSession(ctx, "tok", now)
	if err != nil || s.Kind != gatehouse.SessionToken || s.AMR != "pwd" || s.ClientID != "" {
		t.Fatalf("the session stored before: %+v, %v", s, err)
	}
	rot, err := db.RotateRefreshToken(ctx, "rt", now, &gatehouse.RefreshToken{Hash: "rt2", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil, gatehouse.RefreshLimit{})
	if err != nil || !rot.Rotated || rot.ClientID != "" {
		t.Fatalf("the refresh token stored before: %+v, %v", rot, err)
	}
	if err := db.CreateSession(ctx, &gatehouse.Session{ID: "oa", UserID: s.UserID, CreatedAt: now, Kind: gatehouse.SessionOAuth,
		ClientID: "app", ExpiresAt: now.Add(time.Hour)}, nil); err != nil {
		t.Fatalf("an OAuth session after 009: %v", err)
	}
	// Still a check: an unknown kind is refused.
	if _, err := conn.Exec(ctx, `UPDATE sessions SET kind = 'other' WHERE id = 'tok'`); err == nil {
		t.Fatal("kind 'other' accepted: 009 dropped the check without replacing it")
	}
}
