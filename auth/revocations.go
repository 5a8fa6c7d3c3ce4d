package auth

import (
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Mirror is the in-memory copy of every live revocation, consulted on each
// request so that checking a token needs no database or network round trip.
// The database holds the durable record; a Mirror is loaded from it at start
// and fed by this instance's own revocations and, with Redis, by every
// other instance's (see Broadcaster).
type Mirror struct {
	mu       sync.RWMutex
	tokens   map[string]time.Time // jti → when the revocation can be forgotten
	sessions map[string]time.Time // sid → likewise
}

// NewMirror returns an empty mirror.
func NewMirror() *Mirror {
	return &Mirror{tokens: make(map[string]time.Time), sessions: make(map[string]time.Time)}
}

// Add records revs.
func (m *Mirror) Add(revs ...gatehouse.Revocation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range revs {
		set := m.sessions
		if r.Kind == gatehouse.RevokeToken {
			set = m.tokens
		}
		if r.ExpiresAt.After(set[r.Value]) {
			set[r.Value] = r.ExpiresAt
		}
	}
}

// Revoked reports whether the token jti or its session sid is revoked. It
// does not allocate.
func (m *Mirror) Revoked(jti, sid string) bool {
	m.mu.RLock()
	_, t := m.tokens[jti]
	_, s := m.sessions[sid]
	m.mu.RUnlock()
	return t || (s && sid != "")
}

// Purge forgets revocations that expired before now.
func (m *Mirror) Purge(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, set := range []map[string]time.Time{m.tokens, m.sessions} {
		for k, exp := range set {
			if !exp.After(now) {
				delete(set, k)
				n++
			}
		}
	}
	return n
}

// Len returns how many revocations the mirror holds.
func (m *Mirror) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.tokens) + len(m.sessions)
}

// Mirror returns the service's revocation mirror, for an adapter that feeds
// it revocations made by other instances.
func (s *Service) Mirror() *Mirror { return s.mirror }

// ApplyRevocations mirrors revocations another instance made and
// broadcast; they are already in the database.
func (s *Service) ApplyRevocations(revs []gatehouse.Revocation) { s.mirror.Add(revs...) }
