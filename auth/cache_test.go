package auth

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// row is what the test store holds: found by a string key, invalidated by
// its id, as API keys are.
type row struct {
	id   int64
	name string
}

// rowStore is a store of rows that counts its reads and can fail.
type rowStore struct {
	mu    sync.Mutex
	rows  map[string]*row
	reads map[string]int
	fail  error // returned by every read while set
	// hold, when set, is called by a read after it has read the row and
	// before it returns: the moment a racing change is made.
	hold func()
}

func newRowStore(n int) *rowStore {
	s := &rowStore{rows: map[string]*row{}, reads: map[string]int{}}
	for i := range n {
		s.put(fmt.Sprint("k", i), int64(i+1), "v1")
	}
	return s
}

func (s *rowStore) put(key string, id int64, name string) {
	s.mu.Lock()
	s.rows[key] = &row{id: id, name: name}
	s.mu.Unlock()
}

func (s *rowStore) load(_ context.Context, key string) (*row, error) {
	s.mu.Lock()
	s.reads[key]++
	r, ok := s.rows[key]
	fail, hold := s.fail, s.hold
	s.hold = nil
	s.mu.Unlock()
	if hold != nil {
		hold()
	}
	switch {
	case fail != nil:
		return nil, fail
	case !ok:
		return nil, gatehouse.Errorf(gatehouse.ENOTFOUND, "row not found")
	}
	return r, nil
}

func (s *rowStore) readsOf(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[key]
}

var errNoRow = gatehouse.Errorf(gatehouse.ENOTFOUND, "no row (remembered)")

func newRowCache(s *rowStore, max int) *cache[string, *row] {
	return newCache(max, s.load, func(r *row) int64 { return r.id }, errNoRow)
}

func mustGet(t *testing.T, c *cache[string, *row], key, want string) {
	t.Helper()
	r, err := c.get(context.Background(), key)
	if err != nil || r.name != want {
		t.Fatalf("get(%q) = %+v, %v; want %q", key, r, err, want)
	}
}

func TestCacheReadsTheStoreOncePerKey(t *testing.T) {
	s := newRowStore(2)
	c := newRowCache(s, 10)
	for range 3 {
		mustGet(t, c, "k0", "v1")
		mustGet(t, c, "k1", "v1")
	}
	if s.readsOf("k0") != 1 || s.readsOf("k1") != 1 {
		t.Fatalf("reads = %v, want one per key", s.reads)
	}
}

func TestCacheInvalidationByIDReachesTheEntryOfItsKey(t *testing.T) {
	s := newRowStore(2)
	c := newRowCache(s, 10)
	mustGet(t, c, "k0", "v1")
	mustGet(t, c, "k1", "v1")
	s.put("k0", 1, "v2")
	mustGet(t, c, "k0", "v1") // not invalidated yet: the cached snapshot
	c.invalidate(1)           // k0's id
	mustGet(t, c, "k0", "v2")
	mustGet(t, c, "k1", "v1")
	if s.readsOf("k0") != 2 || s.readsOf("k1") != 1 {
		t.Fatalf("reads = %v, want k0 read again and k1 not", s.reads)
	}
	// An id that names nothing cached changes nothing cached.
	c.invalidate(999)
	mustGet(t, c, "k1", "v1")
	if s.readsOf("k1") != 1 {
		t.Fatalf("invalidating an unknown id made k1 read again")
	}
	c.invalidateAll()
	mustGet(t, c, "k0", "v2")
	mustGet(t, c, "k1", "v1")
	if s.readsOf("k0") != 3 || s.readsOf("k1") != 2 {
		t.Fatalf("reads after invalidateAll = %v, want every key read again", s.reads)
	}
}

func TestCacheHoldsAtMostMaxValues(t *testing.T) {
	const max = 5
	s := newRowStore(100)
	c := newRowCache(s, max)
	for i := range 100 {
		mustGet(t, c, fmt.Sprint("k", i), "v1")
		if len(c.values) > max || len(c.keyOf) != len(c.values) {
			t.Fatalf("after %d loads: %d values, %d ids; want at most %d, and one id each", i+1, len(c.values), len(c.keyOf), max)
		}
	}
	// What is left is consistent: each id names its own key.
	for id, k := range c.keyOf {
		if v, ok := c.values[k]; !ok || v.id != id {
			t.Fatalf("id %d names key %q holding %+v", id, k, v)
		}
	}
}

// TestCacheDoesNotKeepALoadThatRacedAChange: a get that read the row just
// before a change may still return it, but must not leave it cached for
// the gets after the change.
func TestCacheDoesNotKeepALoadThatRacedAChange(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(c *cache[string, *row])
	}{
		{"invalidate", func(c *cache[string, *row]) { c.invalidate(1) }},
		{"invalidateAll", func(c *cache[string, *row]) { c.invalidateAll() }},
		// The raced row's entry does not exist yet; the change names
		// another row, and still the load is not kept: an epoch is not
		// per key.
		{"invalidate of another id", func(c *cache[string, *row]) { c.invalidate(2) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newRowStore(2)
			c := newRowCache(s, 10)
			held, release := make(chan struct{}), make(chan struct{})
			s.hold = func() { close(held); <-release }
			racing := make(chan *row, 1)
			go func() {
				r, err := c.get(context.Background(), "k0")
				if err != nil {
					t.Error(err)
				}
				racing <- r
			}()
			<-held // the racing get has read "v1"
			s.put("k0", 1, "v2")
			tt.change(c)
			close(release)
			if r := <-racing; r == nil || r.name != "v1" {
				t.Fatalf("the racing get returned %+v, want the row it read", r)
			}
			mustGet(t, c, "k0", "v2")
			if n := s.readsOf("k0"); n != 2 {
				t.Fatalf("k0 read %d times, want 2: the racing load must not be kept", n)
			}
		})
	}
}

func TestCacheRemembersAtMostMaxMissingKeys(t *testing.T) {
	ctx := context.Background()
	s := newRowStore(0)
	c := newRowCache(s, 10)
	_, err := c.get(ctx, "gone")
	if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND || err == errNoRow {
		t.Fatalf("first get of a missing key: %v, want the store's ENOTFOUND", err)
	}
	for i := range maxMissing + 100 {
		if _, err := c.get(ctx, fmt.Sprint("m", i)); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
			t.Fatalf("get(m%d): %v, want ENOTFOUND", i, err)
		}
	}
	if n := len(c.missing); n != maxMissing {
		t.Fatalf("%d missing keys remembered, want the bound %d", n, maxMissing)
	}
	// A remembered key is answered from memory, an invalidation or a
	// resync notwithstanding: a key found missing never comes back.
	var remembered string
	for k := range c.missing {
		remembered = k
		break
	}
	c.invalidate(1)
	c.invalidateAll()
	reads := s.readsOf(remembered)
	if _, err := c.get(ctx, remembered); err != errNoRow || s.readsOf(remembered) != reads {
		t.Fatalf("remembered key: %v after %d more reads, want errNoRow from memory", err, s.readsOf(remembered)-reads)
	}
}

func TestCacheRemembersNoFailure(t *testing.T) {
	s := newRowStore(1)
	c := newRowCache(s, 10)
	s.fail = gatehouse.Errorf(gatehouse.EUNAVAILABLE, "database down")
	for range 2 {
		if _, err := c.get(context.Background(), "k0"); gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Fatalf("get while the store fails: %v, want EUNAVAILABLE", err)
		}
	}
	s.fail = nil
	mustGet(t, c, "k0", "v1")
	if n := s.readsOf("k0"); n != 3 {
		t.Fatalf("k0 read %d times, want 3: a failure is neither cached nor remembered as missing", n)
	}
}
