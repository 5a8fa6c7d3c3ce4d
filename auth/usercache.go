package auth

import (
	"context"
	"sync"

	"github.com/gatehouse/gatehouse"
)

// userCache keeps the users that tokens name, so that verifying a token
// needs no database read. Every write to a user goes through the Service,
// which invalidates the entry (and, with Redis, every instance's entry).
//
// A load that raced with an invalidation must not put the stale row back:
// each invalidation bumps epoch, and a load stores its result only if the
// epoch it read before querying is still current.
//
// Ids the store did not have are remembered too (up to maxMissing), so a
// still-valid token of a deleted user reads the database once rather than
// at every request until it expires. That needs no invalidation: user ids
// are never reused (AUTOINCREMENT in SQLite, an identity column in
// PostgreSQL; storetest checks it), and an id is known to no token, key or
// session before its user is stored, so an id found missing stays missing.
type userCache struct {
	store gatehouse.UserStore
	max   int

	mu      sync.RWMutex
	users   map[int64]*gatehouse.User // read-only snapshots
	missing map[int64]struct{}        // ids the store did not have
	epoch   uint64
}

// errNoUser is the store's answer for an id remembered as missing.
var errNoUser = gatehouse.Errorf(gatehouse.ENOTFOUND, "User not found")

func newUserCache(store gatehouse.UserStore, max int) *userCache {
	return &userCache{store: store, max: max, users: make(map[int64]*gatehouse.User), missing: make(map[int64]struct{})}
}

// get returns the user, from memory when it can. The result is shared: the
// caller must not modify it.
func (c *userCache) get(ctx context.Context, id int64) (*gatehouse.User, error) {
	c.mu.RLock()
	u, ok := c.users[id]
	_, missing := c.missing[id]
	epoch := c.epoch
	c.mu.RUnlock()
	if ok {
		return u, nil
	}
	if missing {
		return nil, errNoUser
	}
	u, err := c.store.UserByID(ctx, id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		c.mu.Lock()
		addBounded(c.missing, id)
		c.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.epoch == epoch {
		if len(c.users) >= c.max {
			for k := range c.users { // evict an arbitrary entry: maps iterate in random order
				delete(c.users, k)
				break
			}
		}
		c.users[id] = u
	}
	c.mu.Unlock()
	return u, nil
}

// invalidate drops the user's entry; the next get reads the store.
func (c *userCache) invalidate(id int64) {
	c.mu.Lock()
	delete(c.users, id)
	c.epoch++
	c.mu.Unlock()
}

// invalidateAll drops every entry, for a reconnect after which changes may
// have been missed. Missing ids stay remembered: no change can bring one
// back.
func (c *userCache) invalidateAll() {
	c.mu.Lock()
	clear(c.users)
	c.epoch++
	c.mu.Unlock()
}

// addBounded adds k to set, first forgetting an arbitrary member when the
// set holds maxMissing: the sets of ids found missing stay bounded however
// many unknown ids clients send.
func addBounded[K comparable](set map[K]struct{}, k K) {
	if len(set) >= maxMissing {
		for m := range set {
			delete(set, m)
			break
		}
	}
	set[k] = struct{}{}
}
