package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/ratelimit"
	goredis "github.com/redis/go-redis/v9"
)

// reserve counts one second-factor attempt in a fixed window that opens at
// the first attempt, unless the window is full: then it returns the time
// left in it, at least 1 ms, since -1 means "counted" and PTTL is 0 in the
// window's last millisecond. A full key without an expiry (PTTL -1, say
// one written by hand or PERSISTed) would lock its user out for good, so
// it is given a fresh window. One script, so two instances never both take
// the last slot.
var reserve = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or 0)
if n >= tonumber(ARGV[1]) then
	local pttl = redis.call('PTTL', KEYS[1])
	if pttl < 0 then
		redis.call('PEXPIRE', KEYS[1], ARGV[2])
		pttl = tonumber(ARGV[2])
	end
	return math.max(pttl, 1)
end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return -1
`)

// release gives an attempt back; the window closes when nothing failed.
var release = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or 0)
if n <= 1 then redis.call('DEL', KEYS[1]) else redis.call('DECR', KEYS[1]) end
return 0
`)

// CodeLimiter is auth.CodeLimiter shared by every instance through Redis,
// with Local serving alone for a while after a Redis failure, so that an
// outage degrades the limit to a per-instance one instead of refusing or
// admitting everyone. A failure caused by the caller's context (the client
// hung up) is returned and is not taken for an outage.
type CodeLimiter struct {
	// Breaker decides when Redis is tried again after it failed;
	// NewCodeLimiter sets its Cooldown to a second. Set its OnError (to
	// log outages) or Now before the first call.
	Breaker ratelimit.Breaker

	c      goredis.Scripter
	prefix string
	max    int
	window time.Duration
	local  auth.CodeLimiter
}

var _ auth.CodeLimiter = (*CodeLimiter)(nil)

// NewCodeLimiter allows max attempts per user per window.
func NewCodeLimiter(c goredis.Scripter, prefix string, max int, window time.Duration, local auth.CodeLimiter) *CodeLimiter {
	return &CodeLimiter{Breaker: ratelimit.Breaker{Cooldown: time.Second},
		c: c, prefix: prefix + "2fa:", max: max, window: window, local: local}
}

func (l *CodeLimiter) key(userID int64) string { return l.prefix + strconv.FormatInt(userID, 10) }

// Reserve implements auth.CodeLimiter.
func (l *CodeLimiter) Reserve(ctx context.Context, userID int64) (time.Duration, error) {
	if l.Breaker.Ready() {
		ms, err := reserve.Run(ctx, l.c, []string{l.key(userID)}, l.max, l.window.Milliseconds()).Int64()
		if err == nil {
			if ms < 0 {
				return 0, nil
			}
			return time.Duration(ms) * time.Millisecond, nil
		}
		if !l.Breaker.Failed(ctx, err) {
			return 0, fmt.Errorf("redis: reserve 2fa attempt: %w", err)
		}
	}
	return l.local.Reserve(ctx, userID)
}

// Release implements auth.CodeLimiter.
func (l *CodeLimiter) Release(ctx context.Context, userID int64) error {
	if l.Breaker.Ready() {
		err := release.Run(ctx, l.c, []string{l.key(userID)}).Err()
		if err == nil {
			return nil
		}
		l.Breaker.Failed(ctx, err)
		return fmt.Errorf("redis: release 2fa attempt: %w", err)
	}
	return l.local.Release(ctx, userID)
}
