package auth_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

// countingStore counts the reads that the hot path must not make.
type countingStore struct {
	gatehouse.Store
	keyReads, userReads atomic.Int64
}

func (s *countingStore) APIKeyByLookup(ctx context.Context, l string) (*gatehouse.APIKey, error) {
	s.keyReads.Add(1)
	return s.Store.APIKeyByLookup(ctx, l)
}

func (s *countingStore) UserByID(ctx context.Context, id int64) (*gatehouse.User, error) {
	s.userReads.Add(1)
	return s.Store.UserByID(ctx, id)
}

type fixture struct {
	svc   *auth.Service
	store *countingStore
	db    *sqlite.DB
	clock *fakeclock.Clock
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	return newFixtureOn(tb, nil)
}

// newFixtureOn is newFixture with the database seen through wrap (when not
// nil), under the counting.
func newFixtureOn(tb testing.TB, wrap func(gatehouse.Store) gatehouse.Store) *fixture {
	tb.Helper()
	ctx := context.Background()
	clock := fakeclock.New(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "g.db"), sqlite.WithNow(clock.Now))
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := token.NewManager(token.Config{Keys: []token.Key{{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}},
		Issuer: "gatehouse", Audience: "gatehouse", Leeway: time.Minute, Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	pool := password.NewPool(1, 4)
	var inner gatehouse.Store = db
	if wrap != nil {
		inner = wrap(db)
	}
	store := &countingStore{Store: inner}
	svc, err := auth.New(auth.Config{Store: store, Tokens: tokens, Pool: pool, Policy: password.DefaultPolicy(), Now: clock.Now,
		Hasher:    password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		KeyPepper: []byte("pepper-pepper-pepper-pepper-pepper!")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pool.Close(); db.Close() })
	return &fixture{svc: svc, store: store, db: db, clock: clock}
}

func (f *fixture) user(tb testing.TB, name string, role gatehouse.Role) *gatehouse.User {
	tb.Helper()
	u, err := f.svc.CreateUser(context.Background(), auth.NewUser{Username: name, Password: "correct horse battery", Role: role})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// principal is what a full-scope token login of u would be.
func principal(u *gatehouse.User) *gatehouse.Principal {
	return &gatehouse.Principal{User: u, Scope: rbac.Grant(u.Role, "")}
}

func (f *fixture) key(tb testing.TB, p *gatehouse.Principal, scopes string) (string, *gatehouse.APIKey) {
	tb.Helper()
	key, k, err := f.svc.CreateAPIKey(context.Background(), p, "ci", scopes, time.Time{})
	if err != nil {
		tb.Fatal(err)
	}
	return key, k
}

const testPassword = "correct horse battery" // what fixture.user sets

func (f *fixture) login(tb testing.TB, username string) string {
	tb.Helper()
	pair, err := f.svc.Login(context.Background(), username, testPassword, "")
	if err != nil {
		tb.Fatal(err)
	}
	return pair.AccessToken
}
