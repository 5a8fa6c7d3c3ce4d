package auth_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/auth"
)

func wantInvalidKey(t *testing.T, p *gatehouse.Principal, err error) {
	t.Helper()
	if p != nil || gatehouse.ErrorCode(err) != gatehouse.EFORBIDDEN || gatehouse.ErrorMessage(err) != "Invalid API key" {
		t.Fatalf("got %v, %v; want 403 Invalid API key", p, err)
	}
}

func TestCreatedKeyAuthenticatesAsItsOwnerWithItsScopes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "alice", gatehouse.RoleUser)
	tests := []struct {
		name, held, requested, want string
	}{
		{"none requested: all the token holds", "read:items write:items", "", "read:items write:items"},
		{"a narrowed token gives a narrowed key", "read:items", "", "read:items"},
		{"requested subset, canonical order", "read:items write:items", "write:items read:items read:items", "read:items write:items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, k, err := f.svc.CreateAPIKey(ctx, &gatehouse.Principal{User: u, Scope: tt.held}, "ci", tt.requested, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if k.Scope != tt.want || !k.Active || k.UserID != u.ID || strings.Contains(string(k.SecretHash), key) {
				t.Fatalf("stored key %+v", k)
			}
			p, err := f.svc.AuthenticateKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if p.User.ID != u.ID || p.Scope != tt.want || p.APIKeyID != k.ID || p.KeyName != "ci" {
				t.Fatalf("principal %+v", p)
			}
		})
	}
}

func TestCreateAPIKeyRefusesBadRequestsAndStoresNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "alice", gatehouse.RoleUser)
	full := principal(u)
	tests := []struct {
		name      string
		p         *gatehouse.Principal
		keyName   string
		scopes    string
		expires   time.Time
		code, loc string
	}{
		{"scope beyond the role (admin)", full, "ci", "admin", time.Time{}, gatehouse.EFORBIDDEN, ""},
		{"scope beyond the token", &gatehouse.Principal{User: u, Scope: "read:items"}, "ci", "write:items", time.Time{}, gatehouse.EFORBIDDEN, ""},
		{"unknown scope", full, "ci", "read:everything", time.Time{}, gatehouse.EINVALID, "scopes"},
		{"empty name", full, "", "", time.Time{}, gatehouse.EINVALID, "name"},
		{"blank name", full, "  \t", "", time.Time{}, gatehouse.EINVALID, "name"},
		{"name of 101 characters", full, strings.Repeat("é", 101), "", time.Time{}, gatehouse.EINVALID, "name"},
		{"name with a control character", full, "ci\x1b[31m", "", time.Time{}, gatehouse.EINVALID, "name"},
		{"expiry now", full, "ci", "", f.clock.Now(), gatehouse.EINVALID, "expires_at"},
		{"expiry in the past", full, "ci", "", f.clock.Now().Add(-time.Hour), gatehouse.EINVALID, "expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, k, err := f.svc.CreateAPIKey(ctx, tt.p, tt.keyName, tt.scopes, tt.expires)
			if gatehouse.ErrorCode(err) != tt.code || key != "" || k != nil {
				t.Fatalf("got %q, %v, %v; want code %s", key, k, err, tt.code)
			}
			var e *gatehouse.Error
			if tt.loc != "" && (!errors.As(err, &e) || len(e.Fields) == 0 || e.Fields[0].Loc[1] != tt.loc) {
				t.Fatalf("error %v does not name %s", err, tt.loc)
			}
		})
	}
	if keys, _ := f.svc.ListAPIKeys(ctx, u.ID); len(keys) != 0 {
		t.Fatalf("refused creations stored %d keys", len(keys))
	}
	if _, _, err := f.svc.CreateAPIKey(ctx, full, strings.Repeat("é", 100), "", time.Time{}); err != nil {
		t.Fatalf("a 100-character name was refused: %v", err)
	}
}

func TestAuthenticateKeyRefusesEveryBadKeyAlike(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "alice", gatehouse.RoleUser)
	key, _ := f.key(t, principal(u), "")
	otherKey, _, _ := f.svc.CreateAPIKey(ctx, principal(u), "other", "", time.Time{})
	swapCase := func(s string) string {
		b := []byte(s)
		for i := len(b) - 2; i > 4; i-- { // a letter of the secret or lookup id
			if c := b[i]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				b[i] ^= 0x20
				return string(b)
			}
		}
		t.Fatal("no letter in key")
		return ""
	}
	tests := []struct{ name, key string }{
		{"garbage", "not-a-key"},
		{"unknown lookup id", "ghk_AAAAAAAAAAAAAAAA" + key[20:]},
		{"right lookup id, other key's secret", key[:21] + otherKey[21:]},
		{"one letter's case changed", swapCase(key)},
		{"upper-cased prefix", "GHK_" + key[4:]},
		{"with a trailing space", key + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.svc.AuthenticateKey(ctx, tt.key)
			wantInvalidKey(t, p, err)
		})
	}
}

func TestKeyExpiresOnTheClock(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "alice", gatehouse.RoleUser)
	key, _, err := f.svc.CreateAPIKey(ctx, principal(u), "short", "", f.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour - time.Second)
	if _, err := f.svc.AuthenticateKey(ctx, key); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	p, err := f.svc.AuthenticateKey(ctx, key)
	wantInvalidKey(t, p, err)
}

func TestOwnerChangesTakeEffectOnKeysAtOnce(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		change    func(f *fixture, u *gatehouse.User) error
		wantScope string // "" means the key must be refused
	}{
		{"demotion drops the admin scope", func(f *fixture, u *gatehouse.User) error {
			_, err := f.svc.UpdateUser(ctx, u.ID, auth.UserUpdate{Role: new(gatehouse.RoleUser)})
			return err
		}, "read:items write:items"},
		{"disabling refuses the key", func(f *fixture, u *gatehouse.User) error {
			_, err := f.svc.UpdateUser(ctx, u.ID, auth.UserUpdate{Disabled: new(true)})
			return err
		}, ""},
		{"deletion refuses the key", func(f *fixture, u *gatehouse.User) error { return f.svc.DeleteUser(ctx, u.ID) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.user(t, "root", gatehouse.RoleAdmin) // so that bob is not the last admin
			bob := f.user(t, "bob", gatehouse.RoleAdmin)
			key, _ := f.key(t, principal(bob), "")
			if p, err := f.svc.AuthenticateKey(ctx, key); err != nil || p.Scope != "read:items write:items admin" {
				t.Fatalf("before: %v, %v", p, err)
			}
			if err := tt.change(f, bob); err != nil {
				t.Fatal(err)
			}
			p, err := f.svc.AuthenticateKey(ctx, key)
			if tt.wantScope == "" {
				wantInvalidKey(t, p, err)
				return
			}
			if err != nil || p.Scope != tt.wantScope {
				t.Fatalf("after: %v, %v; want scope %q", p, err, tt.wantScope)
			}
		})
	}
}

func TestRevokeAPIKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	root := f.user(t, "root", gatehouse.RoleAdmin)
	alice := f.user(t, "alice", gatehouse.RoleUser)
	mallory := f.user(t, "mallory", gatehouse.RoleUser)
	key, k := f.key(t, principal(alice), "")
	if _, err := f.svc.AuthenticateKey(ctx, key); err != nil { // now cached
		t.Fatal(err)
	}

	t.Run("another user's key looks absent and stays active", func(t *testing.T) {
		if err := f.svc.RevokeAPIKey(ctx, principal(mallory), k.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			t.Fatalf("got %v, want ENOTFOUND", err)
		}
		if _, err := f.svc.AuthenticateKey(ctx, key); err != nil {
			t.Fatalf("refused revocation changed the key: %v", err)
		}
	})
	t.Run("an admin token without the admin scope cannot revoke others' keys", func(t *testing.T) {
		p := &gatehouse.Principal{User: root, Scope: "read:items"}
		if err := f.svc.RevokeAPIKey(ctx, p, k.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			t.Fatalf("got %v, want ENOTFOUND", err)
		}
	})
	t.Run("a key that does not exist", func(t *testing.T) {
		if err := f.svc.RevokeAPIKey(ctx, principal(root), 999); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			t.Fatalf("got %v, want ENOTFOUND", err)
		}
	})
	t.Run("the owner revokes it and it stops at once", func(t *testing.T) {
		if err := f.svc.RevokeAPIKey(ctx, principal(alice), k.ID); err != nil {
			t.Fatal(err)
		}
		p, err := f.svc.AuthenticateKey(ctx, key)
		wantInvalidKey(t, p, err)
	})
	t.Run("an admin revokes anyone's", func(t *testing.T) {
		key2, k2 := f.key(t, principal(mallory), "")
		if err := f.svc.RevokeAPIKey(ctx, principal(root), k2.ID); err != nil {
			t.Fatal(err)
		}
		p, err := f.svc.AuthenticateKey(ctx, key2)
		wantInvalidKey(t, p, err)
	})
}

func TestKeyDeactivatedByAnotherProcessStopsAtTheNextPoll(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.svc.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	u := f.user(t, "alice", gatehouse.RoleUser)
	key, k := f.key(t, principal(u), "")
	if _, err := f.svc.AuthenticateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := f.db.DeactivateAPIKey(ctx, k.ID); err != nil { // as the CLI would, behind the service's back
		t.Fatal(err)
	}
	if _, err := f.svc.AuthenticateKey(ctx, key); err != nil {
		t.Fatalf("cached key refused before the poll: %v", err)
	}
	if err := f.svc.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.AuthenticateKey(ctx, key)
	wantInvalidKey(t, p, err)
}

func TestAuthenticatedKeyReadsNothingFromTheStore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	u := f.user(t, "alice", gatehouse.RoleUser)
	key, _ := f.key(t, principal(u), "")
	if _, err := f.svc.AuthenticateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	keys, users := f.store.keyReads.Load(), f.store.userReads.Load()
	for range 100 {
		if _, err := f.svc.AuthenticateKey(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if dk, du := f.store.keyReads.Load()-keys, f.store.userReads.Load()-users; dk != 0 || du != 0 {
		t.Fatalf("100 authentications read %d keys and %d users from the store", dk, du)
	}
}

func TestLastUseIsBufferedThenFlushedInOneBatch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	u := f.user(t, "alice", gatehouse.RoleUser)
	key, k := f.key(t, principal(u), "")
	stored := func() time.Time {
		keys, err := f.db.APIKeysByUser(ctx, u.ID)
		if err != nil || len(keys) != 1 {
			t.Fatal(keys, err)
		}
		return keys[0].LastUsedAt
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.AuthenticateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	used := f.clock.Now()
	if !stored().IsZero() {
		t.Fatal("a use was written at once")
	}
	listed, err := f.svc.ListAPIKeys(ctx, u.ID)
	if err != nil || len(listed) != 1 || !listed[0].LastUsedAt.Equal(used) {
		t.Fatalf("listed before the flush: %v %v; want last use %v", listed, err, used)
	}
	if err := f.svc.FlushKeyUses(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(); !got.Equal(used) {
		t.Fatalf("stored last use = %v, want %v (key %d)", got, used, k.ID)
	}
}

// unknownKey returns a well-formed key that the store does not have: one
// of u's, with its lookup id changed.
func (f *fixture) unknownKey(tb testing.TB, u *gatehouse.User) string {
	key, k := f.key(tb, principal(u), "")
	return apikey.Prefix + strings.Repeat("A", len(k.LookupID)) + key[len(apikey.Prefix)+len(k.LookupID):]
}

func TestUnknownKeyIsLookedUpOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u := f.user(t, "alice", gatehouse.RoleUser)
	unknown := f.unknownKey(t, u)
	before := f.store.keyReads.Load()
	for range 5 {
		if _, err := f.svc.AuthenticateKey(ctx, unknown); gatehouse.ErrorMessage(err) != "Invalid API key" {
			t.Fatalf("unknown key: %v, want Invalid API key", err)
		}
	}
	if n := f.store.keyReads.Load() - before; n != 1 {
		t.Fatalf("5 uses of one unknown key read the store %d times, want 1", n)
	}
	// A cached key whose owner is deleted is dropped, found missing once,
	// then refused from memory; keys created afterwards are found.
	bob := f.user(t, "bob", gatehouse.RoleUser)
	bobKey, _ := f.key(t, principal(bob), "")
	if _, err := f.svc.AuthenticateKey(ctx, bobKey); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	before = f.store.keyReads.Load()
	for range 3 {
		if _, err := f.svc.AuthenticateKey(ctx, bobKey); gatehouse.ErrorMessage(err) != "Invalid API key" {
			t.Fatalf("key of a deleted user: %v", err)
		}
	}
	if n := f.store.keyReads.Load() - before; n != 1 {
		t.Fatalf("3 uses of a deleted user's key read the store %d times, want 1", n)
	}
	fresh, _ := f.key(t, principal(u), "")
	if _, err := f.svc.AuthenticateKey(ctx, fresh); err != nil {
		t.Fatalf("a key created after misses: %v", err)
	}
}

// BenchmarkAuthenticateKey is the per-request cost of a warm API key
// (cache filled), ending in a scope check; BenchmarkAuthenticate is the
// same for a token.
func BenchmarkAuthenticateKey(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	u := f.user(b, "alice", gatehouse.RoleUser)
	key, _ := f.key(b, principal(u), "")
	b.ReportAllocs()
	for b.Loop() {
		p, err := f.svc.AuthenticateKey(ctx, key)
		if err != nil || !p.HasScope(gatehouse.ScopeReadItems) {
			b.Fatal(err)
		}
	}
	if n := f.store.keyReads.Load(); n != 1 {
		b.Fatalf("%d key reads from the store, want 1 (the first)", n)
	}
}

// fromClient returns ctx as a request from addr carries it.
func fromClient(ctx context.Context, addr string) context.Context {
	return gatehouse.WithRequestInfo(ctx, &gatehouse.RequestInfo{ClientAddr: netip.MustParseAddr(addr)})
}

// TestFreshRandomKeysCostABoundedNumberOfReads (issue 9 finding 9): every
// well-formed key never seen before costs a database read, so one client
// sending fresh random keys gets auth.DefaultKeyMissLimit reads a minute;
// beyond, its unknown keys are refused with 429 and Retry-After without a
// read, while keys it holds still work and other clients are not held
// back.
func TestFreshRandomKeysCostABoundedNumberOfReads(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "alice", gatehouse.RoleUser)
	real, _ := f.key(t, principal(u), "")
	attacker := fromClient(context.Background(), "203.0.113.9")
	if _, err := f.svc.AuthenticateKey(attacker, real); err != nil { // a key it holds, found and cached
		t.Fatal(err)
	}
	limit := auth.DefaultKeyMissLimit
	before := f.store.keyReads.Load()
	refused := 0
	for range 200 {
		fresh, _, _ := apikey.Generate()
		_, err := f.svc.AuthenticateKey(attacker, fresh)
		var rl *auth.RateLimitError
		switch {
		case errors.As(err, &rl):
			refused++
			if gatehouse.ErrorCode(err) != gatehouse.ERATELIMIT || rl.RetryAfter <= 0 || rl.RetryAfter > limit.Period/time.Duration(limit.Rate) {
				t.Fatalf("refusal %v, retry after %v", err, rl.RetryAfter)
			}
		case gatehouse.ErrorMessage(err) != "Invalid API key":
			t.Fatalf("a fresh random key: %v", err)
		}
	}
	if reads := f.store.keyReads.Load() - before; reads != int64(limit.Burst) || refused != 200-limit.Burst {
		t.Fatalf("200 fresh random keys from one client: %d reads, %d refused; want %d reads, the rest refused", reads, refused, limit.Burst)
	}
	if _, err := f.svc.AuthenticateKey(attacker, real); err != nil {
		t.Fatalf("a cached key from the held-back client: %v", err)
	}
	fresh, _, _ := apikey.Generate()
	_, err := f.svc.AuthenticateKey(fromClient(context.Background(), "198.51.100.4"), fresh)
	wantInvalidKey(t, nil, err) // another client: looked up
	if _, err := f.svc.AuthenticateKey(context.Background(), fresh); gatehouse.ErrorMessage(err) != "Invalid API key" {
		t.Fatalf("no client (the CLI): %v", err)
	}
	f.clock.Advance(limit.Period / time.Duration(limit.Rate))
	fresh, _, _ = apikey.Generate()
	_, err = f.svc.AuthenticateKey(attacker, fresh)
	wantInvalidKey(t, nil, err) // the allowance refilled by one
}

// TestFoundKeysDoNotCountAsMisses: real keys looked up for the first time
// leave a client's allowance of misses whole.
func TestFoundKeysDoNotCountAsMisses(t *testing.T) {
	f := newFixture(t)
	u := f.user(t, "alice", gatehouse.RoleUser)
	ctx := fromClient(context.Background(), "203.0.113.9")
	var keys []string
	for range auth.DefaultKeyMissLimit.Burst + 5 {
		k, _ := f.key(t, principal(u), "")
		keys = append(keys, k)
	}
	for _, k := range keys {
		if _, err := f.svc.AuthenticateKey(ctx, k); err != nil {
			t.Fatalf("a real key: %v", err)
		}
	}
	for range auth.DefaultKeyMissLimit.Burst {
		fresh, _, _ := apikey.Generate()
		_, err := f.svc.AuthenticateKey(ctx, fresh)
		wantInvalidKey(t, nil, err)
	}
}

// BenchmarkAuthenticateUnknownKey is the cost of keys the store does not
// have: a client retrying one (refused from memory after its first read),
// and one sending fresh random keys (each a read until the client's
// allowance of misses is spent, then refused without one; the figure is
// the steady state, the allowance long spent).
func BenchmarkAuthenticateUnknownKey(b *testing.B) {
	b.Run("retried", func(b *testing.B) {
		f := newFixture(b)
		ctx := fromClient(context.Background(), "203.0.113.9")
		u := f.user(b, "alice", gatehouse.RoleUser)
		unknown := f.unknownKey(b, u)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.svc.AuthenticateKey(ctx, unknown); err == nil {
				b.Fatal("unknown key accepted")
			}
		}
	})
	b.Run("fresh", func(b *testing.B) {
		f := newFixture(b)
		ctx := fromClient(context.Background(), "203.0.113.9")
		keys := make([]string, b.N) // each one new: none is in memory, found or missing
		for i := range keys {
			keys[i], _, _ = apikey.Generate()
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := f.svc.AuthenticateKey(ctx, keys[i]); err == nil {
				b.Fatal("unknown key accepted")
			}
		}
		b.ReportMetric(float64(f.store.keyReads.Load())/float64(b.N), "reads/op")
	})
}
