// Package pgtest gives tests outside package postgres a PostgreSQL schema
// of their own on the test database (GATEHOUSE_TEST_POSTGRES_URL), or
// skips them when none is configured. Nothing in the server imports it.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// URLEnv names the test database.
const URLEnv = "GATEHOUSE_TEST_POSTGRES_URL"

// FreshSchema creates an empty schema, dropped when the test ends, and
// returns the test database's URL with search_path set to it. It skips
// the test when URLEnv is not set.
func FreshSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(URLEnv)
	if base == "" {
		t.Skip("set " + URLEnv + " to run on PostgreSQL")
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a postgres:// URL", URLEnv)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", URLEnv, err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	schema := "gh_test_" + rand.Text()[:12]
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
