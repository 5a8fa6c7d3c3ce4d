package ratelimit_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
)

func keys(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = "login:ip:198.51." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256) + "#" + strconv.Itoa(i)
	}
	return k
}

// BenchmarkLimiterAllow measures one check against a MemoryStore, with the
// real clock: one hot key, or 100,000 keys in a store of 100,000 (every key
// present) or of 10,000 (every check evicts).
func BenchmarkLimiterAllow(b *testing.B) {
	limit := ratelimit.Limit{Rate: 1000, Period: time.Second, Burst: 1000}
	cases := []struct {
		name          string
		keys, maxKeys int
	}{
		{"one-key", 1, 100_000},
		{"100k-keys", 100_000, 100_000},
		{"100k-keys-evicting", 100_000, 10_000},
	}
	for _, c := range cases {
		ks := keys(c.keys)
		newLimiter := func(b *testing.B) *ratelimit.Limiter {
			l, err := ratelimit.New(ratelimit.NewMemoryStore(c.maxKeys), limit, time.Now)
			if err != nil {
				b.Fatal(err)
			}
			return l
		}
		b.Run(c.name, func(b *testing.B) {
			l := newLimiter(b)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				l.Allow(ctx, ks[i%len(ks)])
				i++
			}
		})
		b.Run(c.name+"-parallel", func(b *testing.B) {
			l := newLimiter(b)
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				for pb.Next() {
					l.Allow(ctx, ks[i%len(ks)])
					i++
				}
			})
		})
	}
}

// BenchmarkMemoryStoreBytesPerKey reports the heap a full MemoryStore of
// 100,000 keys holds per key. The key strings are made beforehand: the store
// keeps a hash, not the key.
func BenchmarkMemoryStoreBytesPerKey(b *testing.B) {
	const n = 100_000
	ks := keys(n)
	ctx := context.Background()
	now := time.Now()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var total float64
	runs := 0
	for b.Loop() {
		before := heap()
		s := ratelimit.NewMemoryStore(n)
		for _, k := range ks {
			s.Take(ctx, k, now, time.Second, time.Minute)
		}
		total += float64(heap()-before) / n
		runs++
		runtime.KeepAlive(s)
	}
	b.ReportMetric(total/float64(runs), "bytes/key")
}
