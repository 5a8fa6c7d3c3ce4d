package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/storetest"
)

func open(t *testing.T, now func() time.Time) gatehouse.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), sqlite.WithNow(now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, &gatehouse.User{Username: "a", PasswordHash: "h", Role: gatehouse.RoleUser}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if n, err := db.CountUsers(ctx); err != nil || n != 1 {
		t.Fatalf("after reopen CountUsers = %d, %v", n, err)
	}
}

// The purges that run every minute and the last-admin check use an index,
// as on PostgreSQL, rather than scanning their whole table.
func TestFrequentQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, tt := range []struct{ query, index string }{
		{`DELETE FROM changes WHERE created_at < 1 AND seq < (SELECT max(seq) FROM changes)`, "changes_created_at"}, // PurgeChanges
		{`DELETE FROM nonces WHERE expires_at <= 1`, "nonces_expires_at"},                                           // PurgeRevocations
		{`DELETE FROM oauth_codes WHERE expires_at <= 1`, "oauth_codes_expires_at"},                                 // PurgeAuthCodes
		{`UPDATE sessions SET revoked_at = 1 WHERE client_id = 'c' AND revoked_at IS NULL`, "sessions_client_id"},   // DeleteClient
		{strings.Replace(sqlite.OtherAdminsQuery, "?", "1", 1), "users_enabled_admins"},                             // keepAnAdmin
	} {
		rows, err := raw.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tt.query)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "\n"), "INDEX "+tt.index) {
			t.Errorf("%s\nplan %q does not use index %s", tt.query, plan, tt.index)
		}
	}
}

func TestMemoryDatabaseRefused(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), ":memory:"); err == nil {
		t.Fatal("Open(:memory:) succeeded")
	}
}

// A taken username is reported as PostgreSQL reports it: a conflict whose
// public message names the username, not the generic "Already exists".
func TestCreateUserTakenUsernameIsUsernameAlreadyRegistered(t *testing.T) {
	for _, second := range []string{"alice", "ALICE"} {
		t.Run(second, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, time.Now)
			if err := db.CreateUser(ctx, &gatehouse.User{Username: "alice", PasswordHash: "h", Role: gatehouse.RoleUser}); err != nil {
				t.Fatal(err)
			}
			err := db.CreateUser(ctx, &gatehouse.User{Username: second, PasswordHash: "h", Role: gatehouse.RoleUser})
			if code, msg := gatehouse.ErrorCode(err), gatehouse.ErrorMessage(err); code != gatehouse.ECONFLICT || msg != "Username already registered" {
				t.Fatalf("CreateUser(%q) after \"alice\" = code %q, message %q (%v); want %q, %q",
					second, code, msg, err, gatehouse.ECONFLICT, "Username already registered")
			}
		})
	}
}

// versions returns the migrations recorded in the database file at path.
func versions(t *testing.T, raw *sql.DB) map[string]bool {
	t.Helper()
	rows, err := raw.Query(`SELECT version FROM schema_migrations`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got[v] = true
	}
	return got
}

// 002_features.sql was renamed after the aggregates it creates. A database
// migrated before the rename recorded the old name: it must open without
// the migration running again (it would fail on its CREATE TABLEs) and
// with its data, and a database migrated now must still record the old
// name, for a binary from before the rename to open it.
func TestRenamedMigrationRunsOnceUnderEitherName(t *testing.T) {
	ctx := context.Background()
	const oldName, newName = "migrations/002_features.sql", "migrations/002_apikeys_items_totp_nonces_audit.sql"

	// A database as the version before the rename left it: its three
	// migrations applied and recorded under the names it knew.
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ file, recorded string }{
		{"migrations/001_core.sql", "migrations/001_core.sql"},
		{newName, oldName}, // the same file, under its old name
		{"migrations/003_indexes.sql", "migrations/003_indexes.sql"},
	} {
		body, err := os.ReadFile(m.file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", m.file, err)
		}
		if _, err := raw.Exec(`INSERT INTO schema_migrations VALUES (?, 1)`, m.recorded); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO users (username, username_key, password_hash, role, created_at, updated_at) VALUES ('old', 'old', 'h', 'user', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO api_keys (user_id, name, lookup_id, secret_hash, scope, created_at) VALUES (1, 'ci', 'lk', x'00', '', 1)`); err != nil {
		t.Fatal(err)
	}

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("open a database migrated under the old name: %v", err)
	}
	defer db.Close()
	if k, err := db.APIKeyByLookup(ctx, "lk"); err != nil || k.Name != "ci" {
		t.Fatalf("the API key stored before: %+v, %v", k, err)
	}
	if v := versions(t, raw); !v[oldName] || !v[newName] {
		t.Fatalf("recorded %v, want both %s and %s", v, oldName, newName)
	}

	fresh := filepath.Join(t.TempDir(), "new.db")
	db2, err := sqlite.Open(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
	raw2, err := sql.Open("sqlite", "file:"+fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer raw2.Close()
	if v := versions(t, raw2); !v[oldName] || !v[newName] {
		t.Fatalf("a fresh database recorded %v, want both %s and %s", v, oldName, newName)
	}
}
