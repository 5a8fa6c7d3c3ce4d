package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryStore is a Store in this process's memory that holds at most a
// fixed number of keys, whoever sends them.
//
// Keys are kept as 64-bit hashes under a random seed, so memory per key does
// not depend on the key's length (a megabyte of username costs what "bob"
// costs), and nobody can choose keys that collide (by accident, two of
// 100,000 keys share a limit with odds of about 3 in 10^10). When full, it
// forgets the TAT nearest to expiry: an expired one if there is any, else
// the one whose client was least limited. A flood of new keys therefore pushes out other
// one-off keys long before it can reset a key that is being limited.
type MemoryStore struct {
	seed   maphash.Seed
	shards []shard
}

// shard is one lock's worth of keys: an index from key hash to position in
// a binary min-heap ordered by TAT, so the next to expire is always on top.
// Neither holds a pointer, so the garbage collector never scans them.
type shard struct {
	mu    sync.Mutex
	max   int
	index map[uint64]int32
	heap  []slot
}

type slot struct {
	key uint64
	tat int64 // Unix nanoseconds
}

// NewMemoryStore returns a store holding at most maxKeys keys (rounded up to
// a multiple of its shard count). It panics if maxKeys is not positive.
func NewMemoryStore(maxKeys int) *MemoryStore {
	if maxKeys < 1 {
		panic("ratelimit: NewMemoryStore: maxKeys must be positive")
	}
	// Shards spread the lock; at least 1024 keys each keep the eviction
	// choice close to the global one.
	n := min(max(maxKeys/1024, 1), 32)
	m := &MemoryStore{seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range m.shards {
		m.shards[i].max = (maxKeys + n - 1) / n
		m.shards[i].index = make(map[uint64]int32)
	}
	return m
}

// Take implements Store. It never fails.
func (m *MemoryStore) Take(_ context.Context, key string, now time.Time, interval, tolerance time.Duration) (time.Time, bool, error) {
	h := maphash.String(m.seed, key)
	s := &m.shards[h%uint64(len(m.shards))]
	t := now.UnixNano()

	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := s.index[h]
	tat := t
	if found {
		tat = max(s.heap[i].tat, t)
	}
	next := tat + int64(interval)
	if next-t > int64(tolerance) {
		return time.Unix(0, tat), false, nil
	}
	if found {
		s.heap[i].tat = next // later than before: it can only sink
		s.down(int(i))
	} else {
		s.insert(h, next, t)
	}
	return time.Unix(0, next), true, nil
}

// Refund implements Store. It never fails.
func (m *MemoryStore) Refund(_ context.Context, key string, now time.Time, interval time.Duration) error {
	h := maphash.String(m.seed, key)
	s := &m.shards[h%uint64(len(m.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, found := s.index[h]; found {
		s.heap[i].tat -= int64(interval) // earlier than before: it can only rise
		s.up(int(i))
		// At or before now it means no TAT, and is on its way to the top,
		// where the next insert drops it.
	}
	return nil
}

// Len returns the number of keys held, expired ones not yet dropped included.
func (m *MemoryStore) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.heap)
		s.mu.Unlock()
	}
	return n
}

func (s *shard) insert(key uint64, tat, now int64) {
	// Expired TATs are on top; drop them before growing.
	for len(s.heap) > 0 && s.heap[0].tat <= now {
		s.pop()
	}
	if len(s.heap) >= s.max {
		s.pop()
	}
	s.heap = append(s.heap, slot{key, tat})
	i := len(s.heap) - 1
	s.index[key] = int32(i)
	s.up(i)
}

// pop forgets the key on top of the heap.
func (s *shard) pop() {
	last := len(s.heap) - 1
	s.swap(0, last)
	delete(s.index, s.heap[last].key)
	s.heap = s.heap[:last]
	s.down(0)
}

func (s *shard) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if s.heap[parent].tat <= s.heap[i].tat {
			return
		}
		s.swap(i, parent)
		i = parent
	}
}

func (s *shard) down(i int) {
	for {
		least := i
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < len(s.heap) && s.heap[c].tat < s.heap[least].tat {
				least = c
			}
		}
		if least == i {
			return
		}
		s.swap(i, least)
		i = least
	}
}

func (s *shard) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.index[s.heap[i].key] = int32(i)
	s.index[s.heap[j].key] = int32(j)
}
