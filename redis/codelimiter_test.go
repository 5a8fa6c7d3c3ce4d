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
		wait, err := l.Reserve(s.ctx, 7)
		if !errors.Is(err, s.wantErr) || wait != 0 {
			t.Errorf("%s: Reserve = %v, %v; want 0, %v", s.name, wait, err, s.wantErr)
		}
		if tried := reported > before; tried != s.wantTried {
			t.Errorf("%s: Redis tried and blamed = %v, want %v", s.name, tried, s.wantTried)
		}
	}
	// Release is the same: a hung-up client starts no cooldown.
	clock.Advance(time.Second)
	if err := l.Release(cancelled, 7); !errors.Is(err, context.Canceled) {
		t.Errorf("Release with a cancelled context = %v, want context.Canceled", err)
	}
	before := reported
	if err := l.Release(context.Background(), 7); err == nil || reported != before+1 {
		t.Errorf("Release after a cancelled one = %v, Redis blamed %d times; want Redis tried and blamed", err, reported-before)
	}
}

// TestCodeLimiterRefusesWhileFullWhateverTheTTL: a full window always asks
// for a wait, even when its key has no expiry (PTTL -1), and such a key
// gets a fresh window rather than locking its user out for good.
func TestCodeLimiterRefusesWhileFullWhateverTheTTL(t *testing.T) {
	c, prefix := client(t)
	ctx := context.Background()
	l := NewCodeLimiter(c, prefix, 5, 5*time.Minute, auth.NewMemoryCodeLimiter(5, 5*time.Minute, time.Now))
	key := l.key(7)
	if err := c.Set(ctx, key, 5, 0).Err(); err != nil { // full, no expiry
		t.Fatal(err)
	}
	for i := range 2 {
		wait, err := l.Reserve(ctx, 7)
		if err != nil || wait <= 4*time.Minute || wait > 5*time.Minute {
			t.Fatalf("Reserve %d on a full window without expiry = %v, %v; want a wait of about 5 minutes", i+1, wait, err)
		}
	}
	if ttl := c.PTTL(ctx, key).Val(); ttl <= 4*time.Minute || ttl > 5*time.Minute {
		t.Errorf("PTTL after Reserve = %v, want the window re-armed (about 5 minutes)", ttl)
	}
	if n, _ := c.Get(ctx, key).Int(); n != 5 {
		t.Errorf("count = %d, want 5: a refusal counts nothing", n)
	}
}
