package auth

import (
	"context"
	"sync"

	"github.com/gatehouse/gatehouse"
)

// maxMissing bounds the memory of keys a cache found missing in the store.
const maxMissing = 10_000

// userCacheBytesPerEntry bounds the memory of one cached user of typical
// size (TestUserCacheMemoryPerUser measures it; the README states it).
const userCacheBytesPerEntry = 500

// cache keeps what the store holds under a key — users by id, API keys by
// lookup id — so that verifying a credential needs no database read. Every
// write to a cached row goes through the Service, which invalidates the
// entry by the row's id (and, with Redis, every instance's entry); the
// change feed does the same for writes made by other processes.
//
// A load that raced with an invalidation must not put the stale row back:
// every invalidation bumps epoch, and a load stores its result only if the
// epoch it read before querying is still current.
//
// It holds at most max values, evicting an arbitrary one (maps iterate in
// random order) to make room. Values are shared snapshots: callers must
// not modify them.
//
// Keys the store did not have are remembered too, up to maxMissing, so a
// client retrying a credential that does not exist reads the database
// once rather than at every request. That needs no invalidation only
// because a key found missing can never be stored later: user ids are
// never reused, and an id is known to no token, key or session before its
// user is stored; API key lookup ids are random and shown to no one
// before they are stored. A cache of keys that can come back must not be
// built on this type.
type cache[K comparable, V any] struct {
	load     func(context.Context, K) (V, error)
	idOf     func(V) int64 // the id that invalidations name
	notFound error         // the answer for a key remembered as missing
	max      int
	// keyIsID says that a value's key is its id (the user cache): then
	// keyOf is not kept, which saves a map entry per value.
	keyIsID bool

	mu      sync.RWMutex
	values  map[K]V
	keyOf   map[int64]K // id → key, for invalidation by id
	missing map[K]struct{}
	epoch   uint64
}

// newCache returns a cache of at most max values read by load, and
// invalidated by the id idOf gives them.
func newCache[K comparable, V any](max int, load func(context.Context, K) (V, error), idOf func(V) int64, notFound error) *cache[K, V] {
	return &cache[K, V]{load: load, idOf: idOf, notFound: notFound, max: max,
		values: make(map[K]V), keyOf: make(map[int64]K), missing: make(map[K]struct{})}
}

// get returns the value under k, from memory when it can. A key the store
// did not have is ENOTFOUND: the store's error the first time, notFound
// after.
func (c *cache[K, V]) get(ctx context.Context, k K) (V, error) {
	c.mu.RLock()
	v, ok := c.values[k]
	missing := false
	if !ok {
		_, missing = c.missing[k]
	}
	epoch := c.epoch
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	if missing {
		var zero V
		return zero, c.notFound
	}
	v, err := c.load(ctx, k)
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			c.mu.Lock()
			addBounded(c.missing, k)
			c.mu.Unlock()
		}
		return v, err
	}
	c.mu.Lock()
	if c.epoch == epoch {
		if len(c.values) >= c.max {
			for old, ov := range c.values {
				delete(c.values, old)
				if !c.keyIsID {
					delete(c.keyOf, c.idOf(ov))
				}
				break
			}
		}
		c.values[k] = v
		if !c.keyIsID {
			c.keyOf[c.idOf(v)] = k
		}
	}
	c.mu.Unlock()
	return v, nil
}

// invalidate drops the value whose id is id; the next get of its key reads
// the store.
func (c *cache[K, V]) invalidate(id int64) {
	c.mu.Lock()
	if c.keyIsID {
		if k, ok := any(id).(K); ok {
			delete(c.values, k)
		}
	} else if k, ok := c.keyOf[id]; ok {
		delete(c.values, k)
		delete(c.keyOf, id)
	}
	c.epoch++
	c.mu.Unlock()
}

// invalidateAll drops every value, for a resync after which changes may
// have been missed. Missing keys stay remembered: no change can bring one
// back.
func (c *cache[K, V]) invalidateAll() {
	c.mu.Lock()
	clear(c.values)
	clear(c.keyOf)
	c.epoch++
	c.mu.Unlock()
}

// addBounded adds k to set, first forgetting an arbitrary member when the
// set holds maxMissing: the keys found missing stay bounded however many
// unknown ones clients send.
func addBounded[K comparable](set map[K]struct{}, k K) {
	if len(set) >= maxMissing {
		for m := range set {
			delete(set, m)
			break
		}
	}
	set[k] = struct{}{}
}
