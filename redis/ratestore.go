package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
	goredis "github.com/redis/go-redis/v9"
)

// gcra is ratelimit.Store's Take as one script, so the read, the decision
// and the write of a key's TAT are atomic across every instance. Times are
// microseconds (below 2^53, exact in Lua's doubles); the key expires when
// its TAT passes, so Redis holds only keys that are being limited.
var gcra = goredis.NewScript(`
local now, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
if tat + interval - now > tolerance then return {tostring(tat), 0} end
local new = tat + interval
redis.call('SET', KEYS[1], tostring(new), 'PX', math.ceil((new - now) / 1000))
return {tostring(new), 1}
`)

// refund is ratelimit.Store's Refund as one script: the TAT moves back by
// the interval, and goes when it falls at or before now.
var refund = goredis.NewScript(`
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat == 0 then return 0 end
tat = tat - interval
if tat <= now then redis.call('DEL', KEYS[1]) return 0 end
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) / 1000))
return 0
`)

// RateStore implements ratelimit.Store in Redis.
type RateStore struct {
	c      goredis.Scripter
	prefix string
}

var _ ratelimit.Store = (*RateStore)(nil)

// NewRateStore returns a store keeping its keys under prefix.
func NewRateStore(c goredis.Scripter, prefix string) *RateStore {
	return &RateStore{c: c, prefix: prefix + "rl:"}
}

// Take implements ratelimit.Store.
func (s *RateStore) Take(ctx context.Context, key string, now time.Time, interval, tolerance time.Duration) (time.Time, bool, error) {
	res, err := gcra.Run(ctx, s.c, []string{s.prefix + key}, now.UnixMicro(), interval.Microseconds(), tolerance.Microseconds()).Slice()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("redis: rate limit: %w", err)
	}
	if len(res) != 2 {
		return time.Time{}, false, fmt.Errorf("redis: rate limit: unexpected reply %v", res)
	}
	tatStr, _ := res[0].(string)
	var tat int64
	if _, err := fmt.Sscan(tatStr, &tat); err != nil {
		return time.Time{}, false, fmt.Errorf("redis: rate limit: bad tat %q", tatStr)
	}
	ok, _ := res[1].(int64)
	return time.UnixMicro(tat), ok == 1, nil
}

// Refund implements ratelimit.Store.
func (s *RateStore) Refund(ctx context.Context, key string, now time.Time, interval time.Duration) error {
	if err := refund.Run(ctx, s.c, []string{s.prefix + key}, now.UnixMicro(), interval.Microseconds()).Err(); err != nil {
		return fmt.Errorf("redis: rate limit refund: %w", err)
	}
	return nil
}
