package auth

import (
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Mirror is the in-memory copy of every live revocation, consulted on each
// request so that checking a token needs no database or network round trip.
// The database holds the durable record; a Mirror is loaded from it at start
// and fed by this instance's own revocations and, with Redis, by every
// other instance's (see Broadcaster).
//
// It holds each revocation compactly — a 64-bit hash of the revoked jti or
// sid under a per-process random seed, and its expiry in whole seconds —
// in a table of 12-byte slots outside the Go heap (revTable), about 25
// bytes an entry, so that a million live revocations cost tens of MiB, not
// hundreds. Two different values may
// share a hash: then the live one's revocation refuses the other's token
// too. That can only refuse, never accept, and with the seed unknown
// outside the process nobody can aim at it; its odds are the number of
// live revocations in 2^64 per request (about 5×10^-14 with a million).
type Mirror struct {
	tokens, sessions maphash.Seed // one seed per kind: a jti and a sid never meet

	mu  sync.RWMutex
	set *revTable // hash → when the revocation can be forgotten, Unix seconds rounded up
}

// NewMirror returns an empty mirror.
func NewMirror() *Mirror {
	return &Mirror{tokens: maphash.MakeSeed(), sessions: maphash.MakeSeed(), set: newRevTable(0)}
}

// key returns the map key of a revocation of kind.
func (m *Mirror) key(kind, value string) uint64 {
	if kind == gatehouse.RevokeToken {
		return maphash.String(m.tokens, value)
	}
	return maphash.String(m.sessions, value)
}

// expiry returns t as whole Unix seconds, rounded up (a revocation is never
// forgotten early) and clamped to what a uint32 holds (the year 2106).
func expiry(t time.Time) uint32 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return uint32(min(max(s, 0), math.MaxUint32))
}

// Reserve makes room for n revocations when the mirror is empty, so that
// loading a million of them at start neither grows the map step by step
// nor leaves it larger than it needs.
func (m *Mirror) Reserve(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set.n == 0 && n > 0 {
		m.set.free()
		m.set = newRevTable(n)
	}
}

// Add records revs.
func (m *Mirror) Add(revs ...gatehouse.Revocation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range revs {
		if r.Kind != gatehouse.RevokeToken && r.Kind != gatehouse.RevokeSession {
			continue
		}
		if m.set.full() {
			m.rebuild(2*m.set.n, func(uint32) bool { return true })
		}
		m.set.put(m.key(r.Kind, r.Value), expiry(r.ExpiresAt))
	}
}

// Revoked reports whether the token jti or its session sid is revoked. It
// does not allocate.
func (m *Mirror) Revoked(jti, sid string) bool {
	t, s := maphash.String(m.tokens, jti), maphash.String(m.sessions, sid)
	m.mu.RLock()
	revoked := m.set.has(t) || (sid != "" && m.set.has(s))
	m.mu.RUnlock()
	return revoked
}

// Purge forgets revocations that expired before now.
func (m *Mirror) Purge(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := now.Unix()
	live := func(exp uint32) bool { return int64(exp) > cut }
	n := 0
	m.set.each(func(_ uint64, exp uint32) {
		if !live(exp) {
			n++
		}
	})
	if n > 0 {
		m.rebuild(m.set.n-n, live)
	}
	return n
}

// rebuild moves the entries keep accepts to a new table with room for n,
// and frees the old one. Called with mu held for writing.
func (m *Mirror) rebuild(n int, keep func(exp uint32) bool) {
	t := newRevTable(n)
	m.set.each(func(k uint64, exp uint32) {
		if keep(exp) {
			t.put(k, exp)
		}
	})
	m.set.free()
	m.set = t
}

// Len returns how many revocations the mirror holds.
func (m *Mirror) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.set.n
}

// Mirror returns the service's revocation mirror, for an adapter that feeds
// it revocations made by other instances.
func (s *Service) Mirror() *Mirror { return s.mirror }

// ApplyRevocations mirrors revocations another instance made and
// broadcast; they are already in the database.
func (s *Service) ApplyRevocations(revs []gatehouse.Revocation) { s.mirror.Add(revs...) }
