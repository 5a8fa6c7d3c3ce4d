package token

import (
	"crypto/sha256"
	"sync"
)

// The verified-token cache's defaults and accounting.
//
// An entry holds the token's SHA-256 (the map key, and again in the
// eviction ring), the verified Claims, whose strings share one copy of the
// decoded payload, and a pointer to its key's liveness: about 290 bytes
// plus the payload's length (typically 250–400 bytes for Gatehouse's
// tokens). It is counted as CacheEntryOverhead plus twice the payload's
// length — an upper bound, since a claim with escapes is decoded into a
// string of its own, at most as long as its encoded form. The defaults
// thus hold at most 10,000 tokens in at most 16 MiB (about 6 MiB for
// 10,000 typical tokens).
const (
	DefaultCacheEntries = 10_000
	DefaultCacheBytes   = 16 << 20
	CacheEntryOverhead  = 320
	cacheShards         = 16
)

// cache remembers tokens that passed every check under an asymmetric key,
// keyed by the SHA-256 of the whole token: a hit means the very same bytes
// were verified before (second-preimage resistance), so the signature need
// not be checked again. Only Verify's success path puts entries; the time
// claims are checked on every hit, and an entry of a key that left the set
// is ignored and swept.
//
// Eviction is first in, first out per shard: tokens are inserted about when
// they are issued and all live equally long, so the oldest inserted is the
// nearest to expiry, which is what LRU would evict too, without a write on
// every hit.
type cache struct {
	shards [cacheShards]shard
}

type shard struct {
	mu         sync.RWMutex
	m          map[[sha256.Size]byte]*entry
	ring       [][sha256.Size]byte // insertion order; may hold keys already swept
	head, n    int                 // oldest slot, slots used
	bytes      int64
	maxEntries int
	maxBytes   int64
}

type entry struct {
	claims Claims
	seen   claimSet
	life   *keyLife
	size   int64
}

func newCache(entries int, bytes int64) *cache {
	if entries == 0 {
		entries = DefaultCacheEntries
	}
	if bytes <= 0 {
		bytes = DefaultCacheBytes
	}
	c := &cache{}
	per := max(entries/cacheShards, 1)
	for i := range c.shards {
		c.shards[i] = shard{
			m:          make(map[[sha256.Size]byte]*entry),
			ring:       make([][sha256.Size]byte, per),
			maxEntries: per,
			maxBytes:   max(bytes/cacheShards, 1),
		}
	}
	return c
}

func (c *cache) shard(sum *[sha256.Size]byte) *shard { return &c.shards[sum[0]%cacheShards] }

// get returns the entry of the token whose hash is sum, or nil.
func (c *cache) get(sum *[sha256.Size]byte) *entry {
	s := c.shard(sum)
	s.mu.RLock()
	e := s.m[*sum]
	s.mu.RUnlock()
	return e
}

// put remembers e, for a token of payloadLen bytes, evicting the oldest
// entries as the bounds require. An entry larger than a shard's byte bound
// is not kept.
func (c *cache) put(sum *[sha256.Size]byte, e *entry, payloadLen int) {
	e.size = CacheEntryOverhead + 2*int64(payloadLen)
	s := c.shard(sum)
	if e.size > s.maxBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[*sum]; ok {
		return
	}
	for s.n > 0 && (s.n >= s.maxEntries || s.bytes+e.size > s.maxBytes) {
		old := s.ring[s.head]
		s.head = (s.head + 1) % len(s.ring)
		s.n--
		if o, ok := s.m[old]; ok {
			s.bytes -= o.size
			delete(s.m, old)
		}
	}
	s.ring[(s.head+s.n)%len(s.ring)] = *sum
	s.n++
	s.m[*sum] = e
	s.bytes += e.size
}

// sweep drops the entries whose key left the set.
func (c *cache) sweep() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.life.removed.Load() {
				s.bytes -= e.size
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

// stats returns how many entries the cache holds and their counted bytes.
func (c *cache) stats() (n int, bytes int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		bytes += s.bytes
		s.mu.RUnlock()
	}
	return n, bytes
}

// CacheStats returns how many verified tokens the cache holds and the bytes
// they are counted for (0, 0 when the cache is off).
func (m *Manager) CacheStats() (entries int, bytes int64) {
	if m.cache == nil {
		return 0, 0
	}
	return m.cache.stats()
}
