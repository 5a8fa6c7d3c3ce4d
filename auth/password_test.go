package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/totp"
)

// pausingHasher holds one armed Verify after it has checked the password,
// until released: a login caught between checking the password and
// opening its session.
type pausingHasher struct {
	*password.Hasher
	armed   atomic.Bool
	checked chan bool     // the armed Verify's verdict
	release chan struct{} // closed to let it return
}

func (h *pausingHasher) Verify(pw, enc string) (bool, bool, error) {
	ok, rehash, err := h.Hasher.Verify(pw, enc)
	if h.armed.CompareAndSwap(true, false) {
		h.checked <- ok
		<-h.release
	}
	return ok, rehash, err
}

// TestALoginInFlightOpensNoSessionAfterThePasswordChange (issue 9 finding
// 3, contract §12): a login that checked the old password before the
// change, and reaches its session after it, gets 401 and leaves no
// session; the change ends the sessions opened before it, but the one the
// user changed it from.
func TestALoginInFlightOpensNoSessionAfterThePasswordChange(t *testing.T) {
	ctx := context.Background()
	h := &pausingHasher{Hasher: password.NewHasher(cheapParams), checked: make(chan bool), release: make(chan struct{})}
	pool := password.NewPool(2, 8) // the paused login holds one worker; the change hashes on the other
	t.Cleanup(pool.Close)
	s := newTestService(t, Config{Hasher: h, Pool: pool})
	u, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	here, err := s.Login(ctx, "alice", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := s.Login(ctx, "alice", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}

	h.armed.Store(true)
	inFlight := make(chan error, 1)
	go func() {
		_, err := s.Login(ctx, "alice", "correct horse battery", "")
		inFlight <- err
	}()
	if !<-h.checked {
		t.Fatal("the login in flight did not pass the password check")
	}
	if _, err := s.SetPassword(ctx, u.ID, "a brand new passphrase", here.SessionID); err != nil {
		t.Fatal(err)
	}
	close(h.release)
	if err := <-inFlight; gatehouse.ErrorMessage(err) != "Incorrect username or password" {
		t.Fatalf("the login that checked the old password: %v; want 401 Incorrect username or password", err)
	}
	live, err := s.cfg.Store.LiveSessions(ctx, u.ID)
	if err != nil || len(live) != 1 || live[0] != here.SessionID {
		t.Fatalf("live sessions %v, %v; want only %s, the one the change was made from", live, err, here.SessionID)
	}
	if _, err := s.Authenticate(ctx, elsewhere.AccessToken); gatehouse.ErrorMessage(err) != "Token has been revoked" {
		t.Fatalf("a session opened elsewhere before the change: %v", err)
	}
	if _, err := s.Authenticate(ctx, here.AccessToken); err != nil {
		t.Fatalf("the session kept: %v", err)
	}
	if _, err := s.Login(ctx, "alice", "a brand new passphrase", ""); err != nil {
		t.Fatalf("a login with the new password: %v", err)
	}
}

// TestAnMFATokenDiesWithThePasswordItFollowed (issue 9 finding 3): the
// mfa_token of a password step made before a change of password completes
// no login after it, even with a right code, and does not use the code up.
func TestAnMFATokenDiesWithThePasswordItFollowed(t *testing.T) {
	ctx := context.Background()
	c := newTFClock()
	s := newTestService(t, Config{Now: c.Now, Sealer: newTestSealer(t, 1)})
	u, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	en, err := s.SetupTwoFactor(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.Code(en.Secret, c.Now())
	if _, err := s.VerifyTwoFactor(ctx, u, code); err != nil {
		t.Fatal(err)
	}
	c.Advance(30 * time.Second)
	_, err = s.Login(ctx, "alice", "correct horse battery", "")
	var mfa *MFARequiredError
	if !errors.As(err, &mfa) {
		t.Fatalf("password step: %v", err)
	}
	if _, err := s.SetPassword(ctx, u.ID, "a brand new passphrase", ""); err != nil {
		t.Fatal(err)
	}
	code, _ = totp.Code(en.Secret, c.Now())
	if _, err := s.LoginMFA(ctx, mfa.Token, code); gatehouse.ErrorMessage(err) != "Invalid or expired mfa_token" {
		t.Fatalf("the mfa_token from before the change: %v; want it refused", err)
	}
	if live, _ := s.cfg.Store.LiveSessions(ctx, u.ID); len(live) != 0 {
		t.Fatalf("sessions opened: %v", live)
	}
	// The code was not spent: a login with the new password may use it.
	_, err = s.Login(ctx, "alice", "a brand new passphrase", "")
	if !errors.As(err, &mfa) {
		t.Fatalf("password step with the new password: %v", err)
	}
	if _, err := s.LoginMFA(ctx, mfa.Token, code); err != nil {
		t.Fatalf("second step after the change: %v", err)
	}
}
