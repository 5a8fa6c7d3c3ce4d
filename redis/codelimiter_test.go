package redis

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
	goredis "github.com/redis/go-redis/v9"
)

// errDown is what the unreachable Redis fails with.
var errDown = errors.New("connection refused")

// unreachable returns a client whose every connection attempt fails.
func unreachable(t *testing.T) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{MaxRetries: -1, DialerRetries: 1, Dialer: func(context.Context, string, string) (net.Conn, error) {
		return nil, errDown
	}})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCodeLimiterBlamesRedisOnlyForItsOwnFailures needs no Redis: OnError
// is called exactly when Redis was tried and failed, so it shows which
// calls reached Redis.
func TestCodeLimiterBlamesRedisOnlyForItsOwnFailures(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_800_000_000, 0))
	l := NewCodeLimiter(unreachable(t), "gh-test:", 5, 5*time.Minute, auth.NewMemoryCodeLimiter(5, 5*time.Minute, time.Now))
	l.Breaker.Now = clock.Now
	var reported int
	l.Breaker.OnError = func(error) { reported++ }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	steps := []struct {
		name      string
		ctx       context.Context
		after     time.Duration
		wantErr   error // nil: Local answered
		wantTried bool  // Redis was tried and blamed
	}{
		{"a client that hung up is told, and Redis is not blamed", cancelled, 0, context.Canceled, false},
		{"the next live request still tries Redis, then falls back", context.Background(), 0, nil, true},
		{"within the cooldown Redis is left alone", context.Background(), time.Second - time.Nanosecond, nil, false},
		{"after the cooldown Redis is tried again", context.Background(), time.Nanosecond, nil, true},
	}
	for _, s := range steps {
		clock.Advance(s.after)
		before := reported
		r, err := l.Reserve(s.ctx, 7)
		if !errors.Is(err, s.wantErr) || r.RetryAfter != 0 {
			t.Errorf("%s: Reserve = %+v, %v; want admitted, %v", s.name, r, err, s.wantErr)
		}
		if tried := reported > before; tried != s.wantTried {
			t.Errorf("%s: Redis tried and blamed = %v, want %v", s.name, tried, s.wantTried)
		}
	}
	// Release is the same: a hung-up client starts no cooldown.
	clock.Advance(time.Second)
	if err := l.Release(cancelled, 7, true); !errors.Is(err, context.Canceled) {
		t.Errorf("Release with a cancelled context = %v, want context.Canceled", err)
	}
	before := reported
	if err := l.Release(context.Background(), 7, true); err == nil || reported != before+1 {
		t.Errorf("Release after a cancelled one = %v, Redis blamed %d times; want Redis tried and blamed", err, reported-before)
	}
}

// TestCodeLimiterEscalatesAcrossInstances (issue 9 finding 11): two
// instances on one Redis count one user's wrong codes together, and the
// lockouts grow as auth.CodeLockout says — the rest of the window, then
// 10 minutes, 20 … — until a right code, or a reset, ends the escalation.
// The user's key expires when nothing in it matters any more.
func TestCodeLimiterEscalatesAcrossInstances(t *testing.T) {
	c, prefix := client(t)
	ctx := context.Background()
	clock := fakeclock.New(time.Unix(1_800_000_000, 0))
	const window = 5 * time.Minute
	var instances [2]*CodeLimiter
	for i := range instances {
		instances[i] = NewCodeLimiter(c, prefix, auth.MaxCodeFailures, window, auth.NewMemoryCodeLimiter(auth.MaxCodeFailures, window, clock.Now))
		instances[i].Now = clock.Now
	}
	lockout := func(level int, want time.Duration) {
		t.Helper()
		for i := range auth.MaxCodeFailures {
			r, err := instances[i%2].Reserve(ctx, 7)
			if err != nil || r.RetryAfter != 0 {
				t.Fatalf("lockout %d, attempt %d: %+v, %v; want admitted", level, i+1, r, err)
			}
			if last := i == auth.MaxCodeFailures-1; last && (r.Level != level || r.Lockout != want) || !last && r.Lockout != 0 {
				t.Fatalf("lockout %d, attempt %d: %+v; want lockout %d of %v on the last", level, i+1, r, level, want)
			}
		}
		if r, err := instances[1].Reserve(ctx, 7); err != nil || r.RetryAfter != want {
			t.Fatalf("after lockout %d: %+v, %v; want retry after %v", level, r, err, want)
		}
		if ttl := c.PTTL(ctx, instances[0].key(7)).Val(); ttl <= want || ttl > want+auth.CodeLockoutMemory {
			t.Fatalf("the key lives %v; want more than the lockout (%v), at most a day after it", ttl, want)
		}
		clock.Advance(want)
	}
	lockout(1, window)
	lockout(2, 10*time.Minute)
	lockout(3, 20*time.Minute)
	// A right code ends the escalation.
	if _, err := instances[0].Reserve(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := instances[1].Release(ctx, 7, true); err != nil {
		t.Fatal(err)
	}
	lockout(1, window)
	lockout(2, 10*time.Minute)
	// So does a reset, the password changed.
	if err := instances[0].Reset(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, instances[0].key(7)).Val(); n != 0 {
		t.Fatal("the reset left the user's key")
	}
	lockout(1, window)
}
