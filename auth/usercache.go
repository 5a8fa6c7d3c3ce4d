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
type userCache struct {
	store gatehouse.UserStore
	max   int

	mu    sync.RWMutex
	users map[int64]*gatehouse.User // read-only snapshots
	epoch uint64
}

func newUserCache(store gatehouse.UserStore, max int) *userCache {
	return &userCache{store: store, max: max, users: make(map[int64]*gatehouse.User)}
}

// get returns the user, from memory when it can. The result is shared: the
// caller must not modify it.
func (c *userCache) get(ctx context.Context, id int64) (*gatehouse.User, error) {
	c.mu.RLock()
	u, ok := c.users[id]
	epoch := c.epoch
	c.mu.RUnlock()
	if ok {
		return u, nil
	}
	u, err := c.store.UserByID(ctx, id)
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
// have been missed.
func (c *userCache) invalidateAll() {
	c.mu.Lock()
	clear(c.users)
	c.epoch++
	c.mu.Unlock()
}
