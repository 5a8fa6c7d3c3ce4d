package auth

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

// cheapParams keep argon2id fast where a test is not about its cost.
var cheapParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// newTestService returns a Service on a fresh SQLite file. Zero fields of
// cfg get test defaults: a token manager, a one-worker pool, cheap
// argon2id, the default policy.
func newTestService(tb testing.TB, cfg Config) *Service {
	tb.Helper()
	ctx := context.Background()
	if cfg.Store == nil {
		store, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "test.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { store.Close() })
		cfg.Store = store
	}
	if cfg.Tokens == nil {
		tokens, err := token.NewManager(token.Config{Keys: []token.Key{{ID: "k", Secret: bytes.Repeat([]byte{3}, 32)}},
			Issuer: "gatehouse", Audience: "gatehouse", Now: cfg.Now})
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Tokens = tokens
	}
	if cfg.Pool == nil {
		pool := password.NewPool(1, 8)
		tb.Cleanup(pool.Close)
		cfg.Pool = pool
	}
	if cfg.Hasher == nil {
		cfg.Hasher = password.NewHasher(cheapParams)
	}
	if cfg.Policy.MinLength == 0 {
		cfg.Policy = password.DefaultPolicy()
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
