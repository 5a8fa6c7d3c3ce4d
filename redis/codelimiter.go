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

// A user's second-factor state is one hash under "2fa:v2:<id>" (earlier
// versions kept a counter under "2fa:<id>"; during a rolling upgrade the
// two count apart), as auth.MemoryCodeLimiter keeps it: n attempts in the window that opened at start and ends at
// until (or the lockout's end, when later), level lockouts in a row, and
// forget, when the level goes back to 0. Times are milliseconds. Every
// script sets the key's expiry to when nothing in it matters any more, so
// Redis holds only users who erred recently. One script per step, so two
// instances never both take the last slot.

// reserve is auth.CodeLimiter's Reserve. ARGV: now, max, window, the
// longest lockout, how long the level is remembered after a lockout.
// It returns {retry after, lockout, level}.
var reserve = goredis.NewScript(`
local now, max, window, cap, memory = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local h = redis.call('HMGET', KEYS[1], 'n', 'start', 'until', 'level', 'forget')
local n, start, untl, level, forget = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[5]) or 0
if forget <= now then level = 0 end
if n >= max and untl > now then return {untl - now, 0, 0} end
if untl <= now then n, start, untl = 0, now, now + window end
n = n + 1
local lock = 0
if n >= max then
	level = level + 1
	if level > 1 then
		local d = window
		for i = 2, level do
			if d >= cap then break end
			d = d * 2
		end
		if d > cap then d = cap end
		if now + d > untl then untl = now + d end
	end
	forget = untl + memory
	lock = untl - now
end
redis.call('HSET', KEYS[1], 'n', n, 'start', start, 'until', untl, 'level', level, 'forget', forget)
redis.call('PEXPIRE', KEYS[1], math.max(untl, forget, now + 1) - now)
return {0, lock, level}
`)

// release is auth.CodeLimiter's Release. ARGV: now, max, window, right
// (1 or 0).
var release = goredis.NewScript(`
local now, max, window, right = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local h = redis.call('HMGET', KEYS[1], 'n', 'start', 'until', 'level', 'forget')
if not h[1] then return 0 end
local n, start, untl, level, forget = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[5]) or 0
if n >= max then
	level = math.max(level - 1, 0)
	untl = start + window
end
n = math.max(n - 1, 0)
if right then level = 0 end
if n == 0 and level == 0 then
	redis.call('DEL', KEYS[1])
	return 0
end
redis.call('HSET', KEYS[1], 'n', n, 'until', untl, 'level', level)
redis.call('PEXPIRE', KEYS[1], math.max(untl, forget, now + 1) - now)
return 0
`)

// forget is auth.CodeLimiter's Reset.
var forget = goredis.NewScript(`redis.call('DEL', KEYS[1]) return 0`)

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
	// Now reads the clock; time.Now if nil. Set it before the first call.
	Now func() time.Time

	c      goredis.Scripter
	prefix string
	max    int
	window time.Duration
	local  auth.CodeLimiter
}

var _ auth.CodeLimiter = (*CodeLimiter)(nil)

// NewCodeLimiter allows max attempts per user per window, with lockouts
// growing as auth.CodeLockout says.
func NewCodeLimiter(c goredis.Scripter, prefix string, max int, window time.Duration, local auth.CodeLimiter) *CodeLimiter {
	return &CodeLimiter{Breaker: ratelimit.Breaker{Cooldown: time.Second},
		c: c, prefix: prefix + "2fa:v2:", max: max, window: window, local: local}
}

func (l *CodeLimiter) key(userID int64) string { return l.prefix + strconv.FormatInt(userID, 10) }

func (l *CodeLimiter) now() int64 {
	if l.Now == nil {
		return time.Now().UnixMilli()
	}
	return l.Now().UnixMilli()
}

// Reserve implements auth.CodeLimiter.
func (l *CodeLimiter) Reserve(ctx context.Context, userID int64) (auth.CodeReservation, error) {
	if l.Breaker.Ready() {
		res, err := reserve.Run(ctx, l.c, []string{l.key(userID)}, l.now(), l.max, l.window.Milliseconds(),
			auth.MaxCodeLockout.Milliseconds(), auth.CodeLockoutMemory.Milliseconds()).Int64Slice()
		if err == nil && len(res) != 3 {
			err = fmt.Errorf("unexpected reply %v", res)
		}
		if err == nil {
			return auth.CodeReservation{RetryAfter: time.Duration(res[0]) * time.Millisecond,
				Lockout: time.Duration(res[1]) * time.Millisecond, Level: int(res[2])}, nil
		}
		if !l.Breaker.Failed(ctx, err) {
			return auth.CodeReservation{}, fmt.Errorf("redis: reserve 2fa attempt: %w", err)
		}
	}
	return l.local.Reserve(ctx, userID)
}

// Release implements auth.CodeLimiter.
func (l *CodeLimiter) Release(ctx context.Context, userID int64, right bool) error {
	if l.Breaker.Ready() {
		r := 0
		if right {
			r = 1
		}
		err := release.Run(ctx, l.c, []string{l.key(userID)}, l.now(), l.max, l.window.Milliseconds(), r).Err()
		if err == nil {
			return nil
		}
		l.Breaker.Failed(ctx, err)
		return fmt.Errorf("redis: release 2fa attempt: %w", err)
	}
	return l.local.Release(ctx, userID, right)
}

// Reset implements auth.CodeLimiter, in Redis and in the local fallback.
func (l *CodeLimiter) Reset(ctx context.Context, userID int64) error {
	l.local.Reset(ctx, userID)
	if err := forget.Run(ctx, l.c, []string{l.key(userID)}).Err(); err != nil {
		l.Breaker.Failed(ctx, err)
		return fmt.Errorf("redis: reset 2fa attempts: %w", err)
	}
	return nil
}
