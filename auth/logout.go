package auth

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// revokeSession stores the session's revocation, then mirrors and
// broadcasts it. It must outlive whatever the session issued: its access
// tokens, or a browser session's cookie (sessionRevocationEnd), and
// coverUntil, when a token known to live longer (one issued under an
// earlier, longer lifetime) is to be covered.
func (s *Service) revokeSession(ctx context.Context, sid string, now, coverUntil time.Time) error {
	until := s.sessionRevocationEnd(now)
	if c := coverUntil.Add(Leeway); c.After(until) {
		until = c
	}
	revs := []gatehouse.Revocation{{Kind: gatehouse.RevokeSession, Value: sid, ExpiresAt: until}}
	if err := s.cfg.Store.RevokeSession(ctx, sid, now, revs...); err != nil {
		return err
	}
	s.revoked(ctx, revs)
	return nil
}

// revoked mirrors and broadcasts revocations once they are stored.
func (s *Service) revoked(ctx context.Context, revs []gatehouse.Revocation) {
	if len(revs) == 0 {
		return
	}
	s.mirror.Add(revs...)
	if s.bcast != nil {
		if err := s.bcast.PublishRevocations(ctx, revs); err != nil {
			// Durable already; other instances catch up at their next resync.
			s.log.WarnContext(ctx, "revocation broadcast failed", "err", err)
		}
	}
}

// Logout revokes the principal's login session, durably, before it
// returns: its refresh tokens stop rotating and every access token of the
// session, the one presented included, is refused by its sid. One
// revocation covers them all, so none is stored for the token's jti.
func (s *Service) Logout(ctx context.Context, p *gatehouse.Principal) error {
	if p.SessionID == "" {
		return gatehouse.Errorf(gatehouse.EBADREQUEST, "Only a token login can be logged out")
	}
	if IsBrowser(p) { // no access token: revoking jti "" would refuse every cookie
		return s.BrowserLogout(ctx, p)
	}
	err := s.revokeSession(ctx, p.SessionID, s.now(), p.ExpiresAt)
	if err == nil {
		s.met.Revocation("logout")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogout, Outcome: gatehouse.OutcomeSuccess, UserID: p.User.ID})
	}
	return err
}
