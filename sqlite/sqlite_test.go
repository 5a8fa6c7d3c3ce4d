package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/storetest"
)

func open(t *testing.T) gatehouse.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
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
		{`SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> 1`, "users_enabled_admins"},    // otherAdmins
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
			db := open(t)
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
