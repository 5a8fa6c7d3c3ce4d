package auth

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// emptyUserStore has no users, and counts how often it was asked.
type emptyUserStore struct {
	gatehouse.UserStore
	reads int
}

func (s *emptyUserStore) UserByID(context.Context, int64) (*gatehouse.User, error) {
	s.reads++
	return nil, gatehouse.Errorf(gatehouse.ENOTFOUND, "User not found")
}

func TestUserCacheRemembersAtMostMaxMissingIDs(t *testing.T) {
	ctx := context.Background()
	store := &emptyUserStore{}
	c := newUserCache(store, 10)
	for id := range int64(maxMissing + 100) {
		if _, err := c.get(ctx, id+1); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			t.Fatalf("get(%d): %v, want ENOTFOUND", id+1, err)
		}
	}
	if n := len(c.missing); n != maxMissing {
		t.Fatalf("%d missing ids remembered, want the bound %d", n, maxMissing)
	}
	// A remembered id is answered from memory, an invalidation or a
	// resync notwithstanding: an id found missing never comes back.
	var remembered int64
	for id := range c.missing {
		remembered = id
		break
	}
	c.invalidate(remembered)
	c.invalidateAll()
	reads := store.reads
	if _, err := c.get(ctx, remembered); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND || store.reads != reads {
		t.Fatalf("remembered id: %v after %d store reads, want ENOTFOUND from memory", err, store.reads-reads)
	}
}
