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

// reserve expects a Reserve of user to be refused for want (0: admitted).
func reserve(user int64, want time.Duration) limiterStep {
	return func(t *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) {
		t.Helper()
		if got, err := l.Reserve(context.Background(), user); err != nil || got.RetryAfter != want {
			t.Fatalf("Reserve(%d) = %+v, %v; want retry after %v", user, got, err, want)
		}
	}
}

// filling expects a Reserve of user to be admitted and to take the last
// slot, announcing the level-th lockout in a row, lasting lockout.
func filling(user int64, level int, lockout time.Duration) limiterStep {
	return func(t *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) {
		t.Helper()
		if got, err := l.Reserve(context.Background(), user); err != nil || got != (CodeReservation{Lockout: lockout, Level: level}) {
			t.Fatalf("Reserve(%d) = %+v, %v; want lockout %d of %v", user, got, err, level, lockout)
		}
	}
}

// release gives back an attempt whose code was right.
func release(user int64) limiterStep {
	return func(_ *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) {
		l.Release(context.Background(), user, true)
	}
}

// unchecked gives back an attempt whose code could not be checked.
func unchecked(user int64) limiterStep {
	return func(_ *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) {
		l.Release(context.Background(), user, false)
	}
}

func reset(user int64) limiterStep {
	return func(_ *testing.T, l *MemoryCodeLimiter, _ *fakeclock.Clock) { l.Reset(context.Background(), user) }
}

func advance(d time.Duration) limiterStep {
	return func(_ *testing.T, _ *MemoryCodeLimiter, c *fakeclock.Clock) { c.Advance(d) }
}

// fail makes n admitted attempts, wrong codes, of user.
func fail(user int64, n int) limiterStep {
	return func(t *testing.T, l *MemoryCodeLimiter, c *fakeclock.Clock) {
		t.Helper()
		for range n {
			if got, err := l.Reserve(context.Background(), user); err != nil || got.RetryAfter != 0 {
				t.Fatalf("Reserve(%d) = %+v, %v; want admitted", user, got, err)
			}
		}
	}
}

// lockedOutFor fills user's window with wrong codes and expects the
// level-th lockout, lasting d, then waits it out.
func lockedOutFor(user int64, level int, d time.Duration) limiterStep {
	return func(t *testing.T, l *MemoryCodeLimiter, c *fakeclock.Clock) {
		t.Helper()
		fail(user, MaxCodeFailures-1)(t, l, c)
		filling(user, level, d)(t, l, c)
		reserve(user, d)(t, l, c)
		c.Advance(d)
	}
}

func TestMemoryCodeLimiter(t *testing.T) {
	const window = 5 * time.Minute
	tests := []struct {
		name  string
		steps []limiterStep
	}{
		{"five failures pass, the sixth waits for the window to end",
			[]limiterStep{fail(1, 4), filling(1, 1, window), reserve(1, window), advance(time.Minute), reserve(1, 4*time.Minute)}},
		{"the window is fixed: it ends five minutes after its first failure",
			[]limiterStep{fail(1, 1), advance(4 * time.Minute), fail(1, 3), filling(1, 1, time.Minute), reserve(1, time.Minute),
				advance(time.Minute - time.Nanosecond), reserve(1, time.Nanosecond), advance(time.Nanosecond), fail(1, 4)}},
		{"lockouts in a row double, up to a day",
			[]limiterStep{lockedOutFor(1, 1, window), lockedOutFor(1, 2, 10*time.Minute), lockedOutFor(1, 3, 20*time.Minute),
				lockedOutFor(1, 4, 40*time.Minute), lockedOutFor(1, 5, 80*time.Minute), lockedOutFor(1, 6, 160*time.Minute),
				lockedOutFor(1, 7, 320*time.Minute), lockedOutFor(1, 8, 640*time.Minute), lockedOutFor(1, 9, 1280*time.Minute),
				lockedOutFor(1, 10, 24*time.Hour), lockedOutFor(1, 11, 24*time.Hour)}},
		{"a right code ends the escalation",
			[]limiterStep{lockedOutFor(1, 1, window), lockedOutFor(1, 2, 10*time.Minute),
				fail(1, 1), reserve(1, 0), release(1), fail(1, 3), filling(1, 1, window)}},
		{"a day without a lockout ends the escalation",
			[]limiterStep{lockedOutFor(1, 1, window), lockedOutFor(1, 2, 10*time.Minute), advance(CodeLockoutMemory),
				fail(1, 4), filling(1, 1, window)}},
		{"windows that do not fill keep the level",
			[]limiterStep{lockedOutFor(1, 1, window), fail(1, 3), advance(window), lockedOutFor(1, 2, 10*time.Minute)}},
		{"a right code in the last slot starts no lockout",
			[]limiterStep{fail(1, 4), filling(1, 1, window), release(1), fail(1, 1), reserve(1, window)}},
		{"an unchecked code in the last slot takes back its lockout and its level",
			[]limiterStep{lockedOutFor(1, 1, window), fail(1, 4), filling(1, 2, 10*time.Minute), unchecked(1),
				filling(1, 2, 10*time.Minute), reserve(1, 10*time.Minute)}},
		{"released attempts (right codes) do not count",
			[]limiterStep{fail(1, 4), reserve(1, 0), release(1), reserve(1, 0), release(1), filling(1, 1, window), reserve(1, window)}},
		{"a release after only right codes opens the next window afresh",
			[]limiterStep{reserve(1, 0), release(1), advance(4 * time.Minute), fail(1, 5), advance(2 * time.Minute), reserve(1, 3*time.Minute)}},
		{"refused attempts are not counted", // so a lockout does not outlast its window
			[]limiterStep{fail(1, 5), reserve(1, window), reserve(1, window), advance(window), fail(1, 4), filling(1, 2, 10*time.Minute)}},
		{"a reset forgets attempts and lockouts",
			[]limiterStep{lockedOutFor(1, 1, window), fail(1, 5), reserve(1, 10*time.Minute), reset(1), fail(1, 4), filling(1, 1, window)}},
		{"users are counted apart",
			[]limiterStep{fail(1, 5), reserve(1, window), fail(2, 5), reserve(2, window)}},
		{"releasing an unknown user is harmless",
			[]limiterStep{release(9), unchecked(9), fail(9, 5), reserve(9, window)}},
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
			if r, _ := l.Reserve(context.Background(), 1); r.RetryAfter == 0 {
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
		l.Release(ctx, id, true)
	}
}
