package auth

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/token"
)

// newBenchService returns a Service on a real SQLite file with production
// hashing parameters, and one user.
func newBenchService(b *testing.B) (*Service, *gatehouse.User) {
	b.Helper()
	ctx := context.Background()
	s := newTestService(b, Config{Hasher: password.NewHasher(password.DefaultParams())})
	u, err := s.CreateUser(ctx, NewUser{Username: "bench", Password: "correct horse battery"})
	if err != nil {
		b.Fatal(err)
	}
	// Some revocations in the mirror, as a server that has been up a while has.
	for i := range 1000 {
		s.mirror.Add(gatehouse.Revocation{Kind: gatehouse.RevokeToken, Value: token.NewID(), ExpiresAt: time.Now().Add(time.Hour)})
		if i%2 == 0 {
			s.mirror.Add(gatehouse.Revocation{Kind: gatehouse.RevokeSession, Value: token.NewID(), ExpiresAt: time.Now().Add(time.Hour)})
		}
	}
	return s, u
}

// BenchmarkAuthenticate is the whole per-request check of an access token:
// signature and claims, revocation of its jti and sid, and the user's
// current state — all from memory.
func BenchmarkAuthenticate(b *testing.B) {
	s, _ := newBenchService(b)
	pair, err := s.Login(context.Background(), "bench", "correct horse battery", "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, pair.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateUncached is the same check with the user read from
// SQLite every time: what the cache saves.
func BenchmarkAuthenticateUncached(b *testing.B) {
	s, u := newBenchService(b)
	pair, err := s.Login(context.Background(), "bench", "correct horse battery", "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.users.invalidate(u.ID)
		if _, err := s.Authenticate(ctx, pair.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogin is a full password login: lookup, argon2id on the pool,
// session and refresh token stored, access token signed.
func BenchmarkLogin(b *testing.B) {
	s, _ := newBenchService(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Login(ctx, "bench", "correct horse battery", ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareHash is the argon2id verification alone: the floor under
// BenchmarkLogin.
func BenchmarkBareHash(b *testing.B) {
	h := password.NewHasher(password.DefaultParams())
	enc, err := h.Hash("correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, _ := h.Verify("correct horse battery", enc); !ok {
			b.Fatal("no match")
		}
	}
}

// BenchmarkLoginOverhead alternates a full login and a bare argon2id
// verification in every iteration, so drift in the machine's speed hits
// both alike, and reports each one's time and the login's overhead.
func BenchmarkLoginOverhead(b *testing.B) {
	s, u := newBenchService(b)
	h := password.NewHasher(password.DefaultParams())
	ctx := context.Background()
	var login, bare time.Duration
	for b.Loop() {
		t := time.Now()
		if _, err := s.Login(ctx, "bench", "correct horse battery", ""); err != nil {
			b.Fatal(err)
		}
		login += time.Since(t)
		t = time.Now()
		if ok, _, _ := h.Verify("correct horse battery", u.PasswordHash); !ok {
			b.Fatal("no match")
		}
		bare += time.Since(t)
	}
	b.ReportMetric(float64(login.Milliseconds())/float64(b.N), "login-ms/op")
	b.ReportMetric(float64(bare.Milliseconds())/float64(b.N), "bare-ms/op")
	b.ReportMetric(100*(float64(login)/float64(bare)-1), "overhead-%")
}
