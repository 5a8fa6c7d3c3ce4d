package auth_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

func TestAuthenticateReadsNothingFromTheStore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.user(t, "alice", gatehouse.RoleUser)
	at := f.login(t, "alice")
	if _, err := f.svc.Authenticate(ctx, at); err != nil { // warm-up: fills the user cache
		t.Fatal(err)
	}
	users := f.store.userReads.Load()
	// Unplug the database: from here on any store call, not only the
	// counted ones, panics.
	f.store.Store = nil
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Authenticate used the store: %v", r)
		}
	}()
	for range 100 {
		if _, err := f.svc.Authenticate(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.store.userReads.Load() - users; n != 0 {
		t.Fatalf("100 authentications read %d users from the store", n)
	}
}

func TestDeletedUsersTokenReadsTheStoreAtMostOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	u := f.user(t, "alice", gatehouse.RoleUser)
	at := f.login(t, "alice")
	if _, err := f.svc.Authenticate(ctx, at); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	before := f.store.userReads.Load()
	for range 5 {
		p, err := f.svc.Authenticate(ctx, at)
		if p != nil || gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED {
			t.Fatalf("deleted user's token: %v, %v; want EUNAUTHENTICATED", p, err)
		}
	}
	if n := f.store.userReads.Load() - before; n > 1 {
		t.Fatalf("5 uses of a deleted user's token read the store %d times, want at most 1", n)
	}
	// Users created afterwards get new ids, and are found.
	f.user(t, "bob", gatehouse.RoleUser)
	if _, err := f.svc.Authenticate(ctx, f.login(t, "bob")); err != nil {
		t.Fatalf("a user created after a miss: %v", err)
	}
}

// pausingStore holds one read, once armed, after it has read the row and
// before it returns: a cache load that has the old row in hand and has not
// stored it yet.
type pausingStore struct {
	gatehouse.Store
	mu      sync.Mutex
	method  string        // the read to hold; "" when disarmed
	held    chan struct{} // receives when the read is held
	release chan struct{} // closed to let it return
}

// arm makes the next call of method wait until the returned release is
// called; held is ready once it does wait.
func (s *pausingStore) arm(method string) (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.method, s.held, s.release = method, make(chan struct{}), make(chan struct{})
	return s.held, sync.OnceFunc(func() { close(s.release) })
}

func (s *pausingStore) pause(method string) {
	s.mu.Lock()
	if s.method != method {
		s.mu.Unlock()
		return
	}
	s.method = ""
	held, release := s.held, s.release
	s.mu.Unlock()
	close(held)
	<-release
}

func (s *pausingStore) UserByID(ctx context.Context, id int64) (*gatehouse.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	s.pause("UserByID")
	return u, err
}

func (s *pausingStore) APIKeyByLookup(ctx context.Context, l string) (*gatehouse.APIKey, error) {
	k, err := s.Store.APIKeyByLookup(ctx, l)
	s.pause("APIKeyByLookup")
	return k, err
}

// TestLoadRacingAChangeDoesNotCacheTheStaleRow: a request that read a row
// just before a change was made may still use it, but must not leave it in
// the cache for the requests after the change.
func TestLoadRacingAChangeDoesNotCacheTheStaleRow(t *testing.T) {
	tests := []struct {
		name   string
		method string // the store read the racing request is held in
		// setup returns the credential's use and the change that races it.
		setup func(t *testing.T, f *fixture) (use func() error, change func() error)
		reads func(f *fixture) int64
		want  string
	}{
		{
			name:   "user cache: a user disabled during the load",
			method: "UserByID",
			setup: func(t *testing.T, f *fixture) (func() error, func() error) {
				ctx := context.Background()
				u := f.user(t, "alice", gatehouse.RoleUser)
				at := f.login(t, "alice")
				return func() error { _, err := f.svc.Authenticate(ctx, at); return err },
					func() error {
						_, err := f.svc.UpdateUser(ctx, u.ID, auth.UserUpdate{Disabled: new(true)})
						return err
					}
			},
			reads: func(f *fixture) int64 { return f.store.userReads.Load() },
			want:  gatehouse.EINACTIVE,
		},
		{
			name:   "key cache: a key revoked during the load",
			method: "APIKeyByLookup",
			setup: func(t *testing.T, f *fixture) (func() error, func() error) {
				ctx := context.Background()
				u := f.user(t, "alice", gatehouse.RoleUser)
				key, k := f.key(t, principal(u), "")
				return func() error { _, err := f.svc.AuthenticateKey(ctx, key); return err },
					func() error { return f.svc.DeactivateAPIKey(ctx, k.ID, u.ID) }
			},
			reads: func(f *fixture) int64 { return f.store.keyReads.Load() },
			want:  gatehouse.EFORBIDDEN,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := &pausingStore{}
			f := newFixtureOn(t, func(db gatehouse.Store) gatehouse.Store { ps.Store = db; return ps })
			use, change := tt.setup(t, f)

			held, release := ps.arm(tt.method)
			defer release()
			racing := make(chan error, 1)
			go func() { racing <- use() }()
			<-held // the racing request has read the row as it was
			if err := change(); err != nil {
				t.Fatal(err)
			}
			release()
			if err := <-racing; err != nil {
				t.Fatalf("the racing request, which read the row before the change: %v", err)
			}

			before := tt.reads(f)
			err := use()
			if code := gatehouse.ErrorCode(err); code != tt.want {
				t.Fatalf("after the change: %v (%s), want %s", err, code, tt.want)
			}
			if n := tt.reads(f) - before; n != 1 {
				t.Fatalf("the use after the change read the store %d times, want 1 (the racing load must not be cached)", n)
			}
		})
	}
}
