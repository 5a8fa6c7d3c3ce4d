package auth

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

func TestResealMovesSecretsToTheCurrentKey(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	oldSealer, _ := totp.NewSealer(oldKey)
	rotating, _ := totp.NewSealer(newKey, oldKey)
	newOnly, _ := totp.NewSealer(newKey)

	tokens, _ := token.NewManager(token.Config{Keys: []token.Key{{ID: "k", Secret: bytes.Repeat([]byte{3}, 32)}}, Issuer: "i", Audience: "a"})
	pool := password.NewPool(1, 4)
	defer pool.Close()
	s, err := New(Config{Store: store, Tokens: tokens, Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		Pool: pool, Policy: password.DefaultPolicy(), Sealer: rotating})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, NewUser{Username: "zoe", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(totp.GenerateSecret())
	sealed := oldSealer.Seal(secret, secretAAD(u.ID))
	if err := store.SetPendingTOTP(ctx, u.ID, sealed); err != nil {
		t.Fatal(err)
	}
	if err := store.EnableTOTP(ctx, u.ID, sealed, 1, nil); err != nil {
		t.Fatal(err)
	}
	other, _ := s.CreateUser(ctx, NewUser{Username: "yan", Password: "correct horse battery"}) // no 2FA: untouched

	n, err := s.ResealTOTPSecrets(ctx)
	if err != nil || n != 1 {
		t.Fatalf("resealed %d, %v; want 1", n, err)
	}
	st, _ := store.TOTP(ctx, u.ID)
	got, err := newOnly.Open(st.Secret, secretAAD(u.ID))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("after reseal the secret does not open under the new key alone: %v", err)
	}
	if n, _ := s.ResealTOTPSecrets(ctx); n != 0 {
		t.Fatalf("second reseal did %d, want 0", n)
	}
	if _, err := store.TOTP(ctx, other.ID); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("user without 2FA gained state: %v", err)
	}
}
