package auth

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
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
		var opts []sqlite.Option
		if cfg.Now != nil {
			opts = append(opts, sqlite.WithNow(cfg.Now))
		}
		store, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "test.db"), opts...)
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

// recordingBroadcaster keeps what the service announced.
type recordingBroadcaster struct {
	mu    sync.Mutex
	revs  []gatehouse.Revocation
	users []int64
	keys  []int64
}

func (b *recordingBroadcaster) PublishRevocations(_ context.Context, revs []gatehouse.Revocation) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.revs = append(b.revs, revs...)
	return nil
}

func (b *recordingBroadcaster) PublishUserChanged(_ context.Context, id int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.users = append(b.users, id)
	return nil
}

func (b *recordingBroadcaster) PublishAPIKeyChanged(_ context.Context, id int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keys = append(b.keys, id)
	return nil
}

// lockedOut is a CodeLimiter that refuses every attempt.
type lockedOut struct{}

func (lockedOut) Reserve(context.Context, int64) (CodeReservation, error) {
	return CodeReservation{RetryAfter: time.Minute}, nil
}
func (lockedOut) Release(context.Context, int64, bool) error { return nil }
func (lockedOut) Reset(context.Context, int64) error         { return nil }

// TestConfigSharesStateThroughItsBroadcasterAndCodeLimiter: what other
// instances must hear of goes to Config.Broadcaster, and second-factor
// attempts are counted by Config.CodeLimiter, from the first call.
func TestConfigSharesStateThroughItsBroadcasterAndCodeLimiter(t *testing.T) {
	ctx := context.Background()
	b := &recordingBroadcaster{}
	s := newTestService(t, Config{Broadcaster: b, CodeLimiter: lockedOut{}, Sealer: newTestSealer(t, 1)})
	u, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := s.Login(ctx, "alice", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	_, k, err := s.CreateAPIKey(ctx, p, "ci", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.DeactivateAPIKey(ctx, k.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, u.ID, UserUpdate{Disabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	if len(b.revs) != 1 || b.revs[0].Kind != gatehouse.RevokeSession || len(b.users) != 1 || b.users[0] != u.ID || len(b.keys) != 1 || b.keys[0] != k.ID {
		t.Fatalf("broadcast revocations %+v, users %v, keys %v; want the logout's one, user %d, key %d", b.revs, b.users, b.keys, u.ID, k.ID)
	}

	if _, err := s.SetupTwoFactor(ctx, u); err != nil {
		t.Fatal(err)
	}
	var lock *CodeLockoutError
	if _, err := s.VerifyTwoFactor(ctx, u, "123456"); !errors.As(err, &lock) || lock.RetryAfter != time.Minute {
		t.Fatalf("VerifyTwoFactor under a limiter that refuses everything: %v, want CodeLockoutError of 1m", err)
	}
}
