package auth

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/totp"
)

func TestResealMovesSecretsToTheCurrentKey(t *testing.T) {
	ctx := context.Background()
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	oldSealer, _ := totp.NewSealer(oldKey)
	rotating, _ := totp.NewSealer(newKey, oldKey)
	newOnly, _ := totp.NewSealer(newKey)

	s := newTestService(t, Config{Sealer: rotating})
	store := s.cfg.Store
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

// A secret under a key the sealer does not hold cannot be moved: reseal
// moves the others and names its user, instead of reporting success.
func TestResealNamesTheUsersWhoseSecretsItCannotOpen(t *testing.T) {
	ctx := context.Background()
	lostKey, oldKey, newKey := bytes.Repeat([]byte{9}, 32), bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	lost, _ := totp.NewSealer(lostKey)
	oldSealer, _ := totp.NewSealer(oldKey)
	rotating, _ := totp.NewSealer(newKey, oldKey)

	s := newTestService(t, Config{Sealer: rotating})
	store := s.cfg.Store
	enable := func(name string, sealer *totp.Sealer) *gatehouse.User {
		u, err := s.CreateUser(ctx, NewUser{Username: name, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		sealed := sealer.Seal([]byte(totp.GenerateSecret()), secretAAD(u.ID))
		if err := store.SetPendingTOTP(ctx, u.ID, sealed); err != nil {
			t.Fatal(err)
		}
		if err := store.EnableTOTP(ctx, u.ID, sealed, 1, nil); err != nil {
			t.Fatal(err)
		}
		return u
	}
	orphan := enable("orphan", lost)
	moved := enable("moved", oldSealer)

	n, err := s.ResealTOTPSecrets(ctx)
	var ue *UnreadableSecretsError
	if !errors.As(err, &ue) || ue.Count != 1 || len(ue.UserIDs) != 1 || ue.UserIDs[0] != orphan.ID {
		t.Fatalf("reseal = %d, %v; want an UnreadableSecretsError naming user %d", n, err, orphan.ID)
	}
	if n != 1 {
		t.Fatalf("resealed %d, want 1: the readable secret is moved all the same", n)
	}
	if st, _ := store.TOTP(ctx, moved.ID); totp.SealedKeyID(st.Secret) != rotating.KeyID() {
		t.Fatal("the readable secret is not under the current key")
	}
}
