package auth

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// manyUsers answers UserByID with a user of typical size for any id.
type manyUsers struct{ gatehouse.UserStore }

func (manyUsers) UserByID(_ context.Context, id int64) (*gatehouse.User, error) {
	now := time.Now()
	return &gatehouse.User{ID: id, Username: fmt.Sprintf("user%07d", id), Email: fmt.Sprintf("user%07d@example.com", id),
		FullName: "Some Person", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" + fmt.Sprintf("%043d", id),
		Role: gatehouse.RoleUser, CreatedAt: now, UpdatedAt: now}, nil
}

// The README states the memory of a cached user (GATEHOUSE_USER_CACHE_SIZE):
// this measures it, and holds it to the bound stated there.
func TestUserCacheMemoryPerUser(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates tens of MiB")
	}
	const n = 50_000
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newUserCache(manyUsers{}, n)
	for id := int64(1); id <= n; id++ {
		if _, err := c.get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d cached users: %.0f bytes each", n, per)
	if per > userCacheBytesPerEntry {
		t.Fatalf("%.0f bytes per cached user, over the %d the README states", per, userCacheBytesPerEntry)
	}
	// Bounded: one more user evicts one.
	if _, err := c.get(ctx, n+1); err != nil {
		t.Fatal(err)
	}
	c.mu.RLock()
	held := len(c.values)
	c.mu.RUnlock()
	if held != n {
		t.Fatalf("cache of %d holds %d users", n, held)
	}
	runtime.KeepAlive(c)
}
