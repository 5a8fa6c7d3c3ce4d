package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/token"
)

// Login sessions as their users see them (contract §11): the list of a
// user's live sessions, token and browser alike, with where each login
// came from and when it was last used, and ending one, all others, or
// (an admin) all of a user's.

const (
	// sessionFlushInterval is how often buffered last-use times reach the
	// store: last_used_at is a hint for humans, not worth a write per
	// request.
	sessionFlushInterval = 30 * time.Second
	// MaxListedSessions bounds the sessions list; the most recently used
	// come first.
	MaxListedSessions = 100
	// maxSessionUserAgent caps the user agent kept with a session, as the
	// audit log caps it.
	maxSessionUserAgent = 256
)

var errSessionNotFound = &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "Session not found"}

// newSession describes a session opening now for u: its kind, how the
// user authenticated, and the client the request came from.
func (s *Service) newSession(ctx context.Context, u *gatehouse.User, scope, kind string, now time.Time) *gatehouse.Session {
	amr := gatehouse.AMRPassword
	if u.TOTPEnabled { // a login of such a user has passed the code step
		amr += " " + gatehouse.AMROTP
	}
	ri := gatehouse.RequestInfoFrom(ctx)
	return &gatehouse.Session{ID: token.NewID(), UserID: u.ID, Scope: scope, CreatedAt: now, Kind: kind,
		AuthTime: now, AMR: amr, ClientIP: ri.ClientIP(), UserAgent: capText(ri.UserAgent, maxSessionUserAgent)}
}

// capText makes client-controlled text storable: valid UTF-8 without NUL,
// at most limit bytes, cut at a character boundary and marked with "…".
func capText(v string, limit int) string {
	v = strings.ReplaceAll(strings.ToValidUTF8(v, "\uFFFD"), "\x00", "")
	if len(v) <= limit {
		return v
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}

// sessionUsed buffers a use of session sid at t.
func (s *Service) sessionUsed(sid string, t time.Time) {
	b := &s.browser
	b.usedMu.Lock()
	if b.used == nil {
		b.used = make(map[string]time.Time)
	}
	b.used[sid] = t
	b.usedMu.Unlock()
}

// FlushSessionUses stores the buffered last-use times of sessions in one
// batch. On failure they are kept for the next flush.
func (s *Service) FlushSessionUses(ctx context.Context) error {
	b := &s.browser
	b.usedMu.Lock()
	used := b.used
	b.used = nil
	b.usedMu.Unlock()
	if len(used) == 0 {
		return nil
	}
	err := s.cfg.Store.TouchSessions(ctx, used)
	if err == nil {
		return nil
	}
	b.usedMu.Lock()
	if b.used == nil {
		b.used = used
	} else {
		for id, t := range used {
			if t.After(b.used[id]) {
				b.used[id] = t
			}
		}
	}
	b.usedMu.Unlock()
	return fmt.Errorf("auth: flush session uses: %w", err)
}

// RunSessionFlusher calls FlushSessionUses every 30 seconds until ctx
// ends. Call FlushSessionUses once more after the server has stopped.
func (s *Service) RunSessionFlusher(ctx context.Context) {
	s.every(ctx, sessionFlushInterval, "session last-use flush", s.FlushSessionUses)
}

// Sessions returns the user's live sessions, most recently used first (at
// most MaxListedSessions), with last uses not yet stored filled in.
func (s *Service) Sessions(ctx context.Context, userID int64) ([]*gatehouse.Session, error) {
	list, err := s.cfg.Store.UserSessions(ctx, userID, s.now(), MaxListedSessions)
	if err != nil {
		return nil, fmt.Errorf("auth: list sessions: %w", err)
	}
	b := &s.browser
	b.usedMu.Lock()
	for _, sess := range list {
		if t, ok := b.used[sess.ID]; ok && t.After(sess.LastUsedAt) {
			sess.LastUsedAt = t
		}
	}
	b.usedMu.Unlock()
	return list, nil
}

// EndSession ends session id of user userID, at once and on every
// instance. A session that is not that user's, or not live, is ENOTFOUND:
// its existence is not the caller's to learn.
func (s *Service) EndSession(ctx context.Context, userID int64, id string) error {
	sess, err := s.cfg.Store.LiveSession(ctx, id, s.now())
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND || err == nil && sess.UserID != userID {
		return errSessionNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: end session: %w", err)
	}
	if err := s.revokeSession(ctx, id, s.now(), time.Time{}); err != nil {
		return err
	}
	s.met.Revocation("session_ended")
	s.auditUser(ctx, gatehouse.EventLogout, userID, "session ended: "+sess.Kind)
	return nil
}

// EndSessions ends every live session of the user but keep (none when
// keep is ""), and returns how many it ended: "sign out all other
// sessions", and an admin's "sign out everywhere".
func (s *Service) EndSessions(ctx context.Context, userID int64, keep string) (int, error) {
	ids, err := s.cfg.Store.LiveSessions(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("auth: end sessions: %w", err)
	}
	now, n := s.now(), 0
	for _, id := range ids {
		if id == keep {
			continue
		}
		if err := s.revokeSession(ctx, id, now, time.Time{}); err != nil {
			return n, fmt.Errorf("auth: end sessions: %w", err)
		}
		n++
	}
	if n > 0 {
		s.met.Revocation("session_ended")
		s.auditUser(ctx, gatehouse.EventLogout, userID, fmt.Sprintf("%d sessions ended", n))
	}
	return n, nil
}
