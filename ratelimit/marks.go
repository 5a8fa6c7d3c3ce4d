package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// A MarkStore remembers keys for a while. The login limits keep in one the
// addresses each user logged in from (known devices), which the
// per-username limit then exempts, so that strangers' failures cannot
// lock an account's owner out from a place the owner used before.
type MarkStore interface {
	// Mark remembers key until now + ttl.
	Mark(ctx context.Context, key string, now time.Time, ttl time.Duration) error
	// Marked reports whether key is remembered at now.
	Marked(ctx context.Context, key string, now time.Time) (bool, error)
}

// MemoryMarks is a MarkStore in this process's memory holding at most a
// fixed number of keys, as 64-bit hashes under a random seed (16 bytes a
// key, whatever its length). When full it forgets expired keys and, if
// that leaves it over three quarters full, arbitrary ones down to that:
// forgetting a mark can only make an owner share the per-username limit
// again, never lift a limit. Marks come from successful logins only, so
// nobody without a password can flood it.
type MemoryMarks struct {
	seed maphash.Seed
	max  int

	mu    sync.Mutex
	until map[uint64]int64 // key hash → expiry, Unix nanoseconds
}

// NewMemoryMarks returns a store of at most maxKeys keys. It panics if
// maxKeys is not positive.
func NewMemoryMarks(maxKeys int) *MemoryMarks {
	if maxKeys < 1 {
		panic("ratelimit: NewMemoryMarks: maxKeys must be positive")
	}
	return &MemoryMarks{seed: maphash.MakeSeed(), max: maxKeys, until: make(map[uint64]int64)}
}

// Mark implements MarkStore. It never fails.
func (m *MemoryMarks) Mark(_ context.Context, key string, now time.Time, ttl time.Duration) error {
	h := maphash.String(m.seed, key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.until[h]; !ok && len(m.until) >= m.max {
		m.makeRoom(now.UnixNano())
	}
	m.until[h] = now.Add(ttl).UnixNano()
	return nil
}

// makeRoom drops expired keys and, if that leaves the map over three
// quarters full, arbitrary ones down to that: one sweep per quarter of
// the keys marked, O(1) amortised.
func (m *MemoryMarks) makeRoom(now int64) {
	for k, until := range m.until {
		if until <= now {
			delete(m.until, k)
		}
	}
	for k := range m.until {
		if len(m.until) < m.max*3/4+1 {
			break
		}
		delete(m.until, k)
	}
}

// Marked implements MarkStore. It never fails.
func (m *MemoryMarks) Marked(_ context.Context, key string, now time.Time) (bool, error) {
	h := maphash.String(m.seed, key)
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.until[h]
	return ok && until > now.UnixNano(), nil
}

// Len returns the number of keys held, expired ones not yet dropped
// included.
func (m *MemoryMarks) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}

// FallbackMarks uses Primary (a shared store) and, whenever it fails,
// Local, as FallbackStore does for limits: during an outage of the shared
// store, marks made on this instance still count here.
type FallbackMarks struct {
	Primary, Local MarkStore
	Breaker        *Breaker
}

// Mark implements MarkStore: in Local always, so that an outage later
// does not forget what this instance saw, and in Primary when it answers.
func (f *FallbackMarks) Mark(ctx context.Context, key string, now time.Time, ttl time.Duration) error {
	f.Local.Mark(ctx, key, now, ttl)
	if f.Breaker.Ready() {
		err := f.Primary.Mark(ctx, key, now, ttl)
		if err == nil || f.Breaker.Failed(ctx, err) {
			return nil
		}
		return err
	}
	return nil
}

// Marked implements MarkStore.
func (f *FallbackMarks) Marked(ctx context.Context, key string, now time.Time) (bool, error) {
	if f.Breaker.Ready() {
		ok, err := f.Primary.Marked(ctx, key, now)
		if err == nil {
			return ok, nil
		}
		if !f.Breaker.Failed(ctx, err) {
			return false, err
		}
	}
	return f.Local.Marked(ctx, key, now)
}
