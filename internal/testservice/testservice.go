// Package testservice builds the auth service that tests and benchmarks
// outside package auth run against: a real SQLite store in a temporary
// directory, a fixed signing key and argon2id parameters cheap enough for
// tests. Nothing in the server imports it.
package testservice

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

// Params keep argon2id cheap in tests; the production parameters are
// checked in package password.
var Params = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Options are the parts of auth.Config a caller may set; zero values give
// the defaults.
type Options struct {
	Metrics *metrics.Metrics
}

// New returns a service on a fresh SQLite store, and the store; both are
// closed when tb ends.
func New(tb testing.TB, o Options) (*auth.Service, *sqlite.DB) {
	tb.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "gatehouse.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := token.NewManager(token.Config{Keys: []token.Key{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef-test")}},
		Issuer: "gatehouse", Audience: "gatehouse", Leeway: time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	pool := password.NewPool(1, 8)
	tb.Cleanup(func() { pool.Close(); store.Close() })
	svc, err := auth.New(auth.Config{Store: store, Tokens: tokens, Hasher: password.NewHasher(Params), Pool: pool,
		Policy: password.DefaultPolicy(), Metrics: o.Metrics, KeyPepper: []byte("pepper-pepper-pepper-pepper-pepper!")})
	if err != nil {
		tb.Fatal(err)
	}
	return svc, store
}
