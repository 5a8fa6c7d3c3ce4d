package auth

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

// countingHasher counts the argon2id operations a login asks for.
type countingHasher struct {
	*password.Hasher
	verify, dummy atomic.Int32
}

func (h *countingHasher) Verify(pw, enc string) (bool, bool, error) {
	h.verify.Add(1)
	return h.Hasher.Verify(pw, enc)
}

func (h *countingHasher) VerifyDummy(pw string) {
	h.dummy.Add(1)
	h.Hasher.VerifyDummy(pw)
}

// An unknown user must cost the same hash work as a wrong password (one
// argon2id with the current parameters) and fail the same way, or the
// answer's timing tells which usernames exist.
func TestUnknownUserCostsTheSameHashWorkAsAWrongPassword(t *testing.T) {
	h := &countingHasher{Hasher: password.NewHasher(cheapParams)}
	s := newTestService(t, Config{Hasher: h})
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	_, errWrong := s.Login(ctx, "alice", "a wrong password", "")
	if h.verify.Load() != 1 || h.dummy.Load() != 0 {
		t.Fatalf("wrong password: %d verifications, %d dummies; want 1 and 0", h.verify.Load(), h.dummy.Load())
	}
	_, errUnknown := s.Login(ctx, "mallory", "a wrong password", "")
	if h.verify.Load() != 1 || h.dummy.Load() != 1 {
		t.Fatalf("unknown user: %d verifications, %d dummies; want 1 and 1", h.verify.Load(), h.dummy.Load())
	}
	if errWrong == nil || errUnknown == nil || errWrong.Error() != errUnknown.Error() ||
		gatehouse.ErrorCode(errWrong) != gatehouse.EUNAUTHENTICATED {
		t.Fatalf("errors differ: %v / %v", errWrong, errUnknown)
	}
}
