package postgres_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/storetest"
	"github.com/jackc/pgx/v5"
)

const urlEnv = pgtest.URLEnv

// testURL returns the test database's URL, or skips the test when none is
// configured.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		t.Skip("PostgreSQL tests need a database: " + urlEnv + "=postgres://postgres@127.0.0.1:5432/test?sslmode=disable go test ./postgres/")
	}
	return u
}

// freshSchema is pgtest.FreshSchema: an empty schema of the test's own,
// dropped when it ends, so that tests never see each other's tables.
func freshSchema(t testing.TB) string { return pgtest.FreshSchema(t) }

func openDB(t testing.TB, opts ...postgres.Option) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), freshSchema(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t *testing.T, now func() time.Time) gatehouse.Store {
	return openDB(t, postgres.WithNow(now))
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, open)
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := freshSchema(t)
	const n = 4
	dbs := make([]*postgres.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(context.Background(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			// Two instances both creating the tables would fail here with
			// "relation already exists".
			t.Fatalf("Open #%d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var applied int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	// Each file once, and the renamed one under its old name too.
	if applied != len(files)+1 {
		t.Fatalf("schema_migrations has %d rows, want %d", applied, len(files)+1)
	}
}

// versions returns the migrations recorded in the database.
func versions(t *testing.T, conn *pgx.Conn) map[string]bool {
	t.Helper()
	rows, _ := conn.Query(context.Background(), `SELECT version FROM schema_migrations`)
	vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, v := range vs {
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

	// A database as the version before the rename left it: its two
	// migrations applied and recorded under the names it knew.
	url := freshSchema(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ file, recorded string }{
		{"migrations/001_core.sql", "migrations/001_core.sql"},
		{newName, oldName}, // the same file, under its old name
	} {
		body, err := os.ReadFile(m.file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", m.file, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, now())`, m.recorded); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `WITH u AS (INSERT INTO users (username, username_key, password_hash, role, created_at, updated_at)
		VALUES ('old', 'old', 'h', 'user', now(), now()) RETURNING id)
		INSERT INTO api_keys (user_id, name, lookup_id, secret_hash, scope, created_at) SELECT id, 'ci', 'lk', '\x00', '', now() FROM u`); err != nil {
		t.Fatal(err)
	}

	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("open a database migrated under the old name: %v", err)
	}
	defer db.Close()
	if k, err := db.APIKeyByLookup(ctx, "lk"); err != nil || k.Name != "ci" {
		t.Fatalf("the API key stored before: %+v, %v", k, err)
	}
	if v := versions(t, conn); !v[oldName] || !v[newName] {
		t.Fatalf("recorded %v, want both %s and %s", v, oldName, newName)
	}

	fresh := freshSchema(t)
	db2, err := postgres.Open(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
	conn2, err := pgx.Connect(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	if v := versions(t, conn2); !v[oldName] || !v[newName] {
		t.Fatalf("a fresh database recorded %v, want both %s and %s", v, oldName, newName)
	}
}

func TestUniqueViolationIsConflict(t *testing.T) {
	ctx := context.Background()
	s := openDB(t)
	u := &gatehouse.User{Username: "kim", PasswordHash: "h", Role: gatehouse.RoleUser}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, &gatehouse.Session{ID: "s", UserID: u.ID},
		&gatehouse.RefreshToken{Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	err := s.CreateSession(ctx, &gatehouse.Session{ID: "s", UserID: u.ID}, &gatehouse.RefreshToken{Hash: "h2"})
	if got := gatehouse.ErrorCode(err); got != gatehouse.ECONFLICT {
		t.Fatalf("duplicate session id: code %q (%v), want %q", got, err, gatehouse.ECONFLICT)
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	tests := []struct {
		name, url, code string
	}{
		// Port 1 on loopback: nothing listens, the dial is refused at once.
		{"a refused connection is unavailable", "postgres://gatehouse:s3cret-pw@127.0.0.1:1/x?connect_timeout=2", gatehouse.EUNAVAILABLE},
		{"a URL that does not parse", "postgres://gatehouse:s3cret-pw@127.0.0.1:port/x", gatehouse.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := postgres.Open(context.Background(), tt.url)
			if got := gatehouse.ErrorCode(err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}
