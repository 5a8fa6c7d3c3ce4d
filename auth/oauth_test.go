package auth

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// racingStore runs race once, just before the next session is stored: a
// password change landing between the checks of a code exchange and the
// opening of its session.
type racingStore struct {
	gatehouse.Store
	race func()
}

func (r *racingStore) CreateSession(ctx context.Context, s *gatehouse.Session, first *gatehouse.RefreshToken) error {
	if race := r.race; race != nil {
		r.race = nil
		race()
	}
	return r.Store.CreateSession(ctx, s, first)
}

// An OAuth session is bound to the password the user had when its code
// was exchanged: a password change racing the exchange keeps it from
// opening (contract §12), as it does a password login's.
func TestAPasswordChangeRacingACodeExchangeOpensNoSession(t *testing.T) {
	ctx := context.Background()
	base := newTestService(t, Config{})
	store := &racingStore{Store: base.cfg.Store}
	s := newTestService(t, Config{Store: store})
	u, err := s.CreateUser(ctx, NewUser{Username: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	grant := func() OAuthGrant {
		return OAuthGrant{ClientID: "app", UserID: u.ID, Scope: "openid offline_access", AuthTime: time.Now(),
			AMR: gatehouse.AMRPassword, SessionID: NewSessionID()}
	}
	if _, err := s.OpenOAuthSession(ctx, grant()); err != nil {
		t.Fatalf("an exchange with no change racing it: %v", err)
	}
	store.race = func() {
		if _, err := s.SetPassword(ctx, u.ID, "a brand new passphrase", ""); err != nil {
			t.Error(err)
		}
	}
	g := grant()
	if _, err := s.OpenOAuthSession(ctx, g); err != errOAuthGrant {
		t.Fatalf("an exchange the password change raced: %v; want invalid_grant", err)
	}
	if _, err := s.cfg.Store.LiveSession(ctx, g.SessionID, time.Now()); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("the raced session is live: %v", err)
	}
}
