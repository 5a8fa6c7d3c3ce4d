package ratelimit

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// TestHeapInvariantHolds checks, after every Take of a random workload, that
// each shard's heap is ordered and its index points at the right slots: the
// eviction order depends on both.
func TestHeapInvariantHolds(t *testing.T) {
	s := NewMemoryStore(300) // one shard
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5000 {
		now = now.Add(time.Duration(rng.IntN(200)) * time.Millisecond)
		key := strconv.Itoa(rng.IntN(1000))
		if _, _, err := s.Take(context.Background(), key, now, time.Second, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		for k := range s.shards {
			sh := &s.shards[k]
			if len(sh.index) != len(sh.heap) || len(sh.heap) > sh.max {
				t.Fatalf("take %d: %d index entries, %d heap slots, max %d", i, len(sh.index), len(sh.heap), sh.max)
			}
			for j, sl := range sh.heap {
				if sh.index[sl.key] != int32(j) {
					t.Fatalf("take %d: index of slot %d is %d", i, j, sh.index[sl.key])
				}
				if j > 0 && sh.heap[(j-1)/2].tat > sl.tat {
					t.Fatalf("take %d: slot %d is earlier than its parent", i, j)
				}
			}
		}
	}
}
