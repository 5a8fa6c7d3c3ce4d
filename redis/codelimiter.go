package redis

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/auth"
	goredis "github.com/redis/go-redis/v9"
)

// reserve counts one second-factor attempt in a fixed window that opens at
// the first attempt, unless the window is full: then it returns the time
// left in it. One script, so two instances never both take the last slot.
var reserve = goredis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or 0)
if n >= tonumber(ARGV[1]) then
	return redis.call('PTTL', KEYS[1])
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
// with Local serving alone for a second after any Redis failure, so that
// an outage degrades the limit to a per-instance one instead of refusing
// or admitting everyone.
type CodeLimiter struct {
	c         goredis.Scripter
	prefix    string
	max       int
	window    time.Duration
	local     auth.CodeLimiter
	downUntil atomic.Int64
}

var _ auth.CodeLimiter = (*CodeLimiter)(nil)

// NewCodeLimiter allows max attempts per user per window.
func NewCodeLimiter(c goredis.Scripter, prefix string, max int, window time.Duration, local auth.CodeLimiter) *CodeLimiter {
	return &CodeLimiter{c: c, prefix: prefix + "2fa:", max: max, window: window, local: local}
}

func (l *CodeLimiter) key(userID int64) string { return l.prefix + strconv.FormatInt(userID, 10) }

func (l *CodeLimiter) up() bool { return time.Now().UnixNano() >= l.downUntil.Load() }

func (l *CodeLimiter) down() { l.downUntil.Store(time.Now().Add(time.Second).UnixNano()) }

// Reserve implements auth.CodeLimiter.
func (l *CodeLimiter) Reserve(ctx context.Context, userID int64) (time.Duration, error) {
	if l.up() {
		ms, err := reserve.Run(ctx, l.c, []string{l.key(userID)}, l.max, l.window.Milliseconds()).Int64()
		if err == nil {
			if ms < 0 {
				return 0, nil
			}
			return time.Duration(ms) * time.Millisecond, nil
		}
		l.down()
	}
	return l.local.Reserve(ctx, userID)
}

// Release implements auth.CodeLimiter.
func (l *CodeLimiter) Release(ctx context.Context, userID int64) error {
	if l.up() {
		err := release.Run(ctx, l.c, []string{l.key(userID)}).Err()
		if err == nil {
			return nil
		}
		l.down()
		return fmt.Errorf("redis: release 2fa attempt: %w", err)
	}
	return l.local.Release(ctx, userID)
}
