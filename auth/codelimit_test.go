package auth

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/fakeclock"
)

func newTFClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1_700_000_000, 0)) }

// limiterStep is one step of a MemoryCodeLimiter script.
type limiterStep func(t *testing.T, l *MemoryCodeLimiter, c *fakeclock.Clock)

func reserve(user int64, want time.Duration) limiterStep {
	return func(t *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) {
		t.Helper()
		if got, err := l.Reserve(context.Background(), user); err != nil || got != want {
			t.Fatalf("Reserve(%d) = %v, %v; want %v", user, got, err, want)
		}
	}
}

func release(user int64) limiterStep {
	return func(_ *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) { l.Release(context.Background(), user) }
}

func advance(d time.Duration) limiterStep {
	return func(_ *testing.T, _ *MemoryCodeLimiter, c *fakeclock.Clock) { c.Advance(d) }
}

func fail(user int64, n int) limiterStep {
	return func(t *testing.T, l *MemoryCodeLimiter, c *fakeclock.Clock) {
		t.Helper()
		for range n {
			reserve(user, 0)(t, l, c)
		}
	}
}

func TestMemoryCodeLimiter(t *testing.T) {
	const window = 5 * time.Minute
	tests := []struct {
		name  string
		steps []limiterStep
	}{
		{"five failures pass, the sixth waits for the window to end",
			[]limiterStep{fail(1, 5), reserve(1, window), advance(time.Minute), reserve(1, 4*time.Minute)}},
		{"the window is fixed: it ends five minutes after its first failure",
			[]limiterStep{fail(1, 1), advance(4 * time.Minute), fail(1, 4), reserve(1, time.Minute),
				advance(time.Minute - time.Nanosecond), reserve(1, time.Nanosecond), advance(time.Nanosecond), fail(1, 5)}},
		{"a lockout ends with its window",
			[]limiterStep{fail(1, 5), advance(window), fail(1, 5), reserve(1, window)}},
		{"released attempts (right codes) do not count",
			[]limiterStep{fail(1, 4), reserve(1, 0), release(1), reserve(1, 0), release(1), fail(1, 1), reserve(1, window)}},
		{"a release after only right codes opens the next window afresh",
			[]limiterStep{reserve(1, 0), release(1), advance(4 * time.Minute), fail(1, 5), advance(2 * time.Minute), reserve(1, 3*time.Minute)}},
		{"refused attempts are not counted", // so a lockout does not outlast its window
			[]limiterStep{fail(1, 5), reserve(1, window), reserve(1, window), advance(window), fail(1, 5)}},
		{"users are counted apart",
			[]limiterStep{fail(1, 5), reserve(1, window), fail(2, 5), reserve(2, window)}},
		{"releasing an unknown user is harmless",
			[]limiterStep{release(9), fail(9, 5), reserve(9, window)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTFClock()
			l := NewMemoryCodeLimiter(MaxCodeFailures, window, c.Now)
			for _, step := range tt.steps {
				step(t, l, c)
			}
		})
	}
}

func TestMemoryCodeLimiterAdmitsExactlyMaxConcurrentAttempts(t *testing.T) {
	c := newTFClock()
	l := NewMemoryCodeLimiter(MaxCodeFailures, CodeFailureWindow, c.Now)
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if wait, _ := l.Reserve(context.Background(), 1); wait == 0 {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != MaxCodeFailures {
		t.Fatalf("%d of 50 concurrent attempts admitted, want %d", admitted.Load(), MaxCodeFailures)
	}
}

func TestMemoryCodeLimiterForgetsEndedWindows(t *testing.T) {
	c := newTFClock()
	l := NewMemoryCodeLimiter(MaxCodeFailures, CodeFailureWindow, c.Now)
	for id := range int64(5000) {
		l.Reserve(context.Background(), id)
	}
	c.Advance(CodeFailureWindow)
	for id := range int64(5000) {
		l.Reserve(context.Background(), 10_000+id)
	}
	if n := len(l.users); n > 5000+1024 {
		t.Fatalf("%d users remembered; ended windows were not swept", n)
	}
}

func BenchmarkMemoryCodeLimiter(b *testing.B) {
	c := newTFClock()
	l := NewMemoryCodeLimiter(MaxCodeFailures, CodeFailureWindow, c.Now)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := int64(i % 1000)
		l.Reserve(ctx, id)
		l.Release(ctx, id)
	}
}
