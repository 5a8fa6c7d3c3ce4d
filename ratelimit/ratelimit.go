// Package ratelimit limits how often a key (a client address, a username)
// may act, with the Generic Cell Rate Algorithm (GCRA, ITU-T I.371).
//
// GCRA keeps one timestamp per key, the theoretical arrival time (TAT): the
// time at which the key's bucket would be full again. It admits exactly the
// traffic a token bucket admits, but it needs no refill step and its state
// expires by itself once the TAT is past. That gives three properties a
// sliding window or a counter with a reset job does not all have: memory
// per key is one number, a shared store can do a check in one atomic script,
// and refused requests change nothing: a refused key waits at most
// Period/Rate for its next request however hard it was hammered, so a limit
// that guards an account cannot be turned into a lasting lockout of its
// owner.
//
// The price of smoothness: "N per Period" means a burst of N, then one more
// every Period/N. Over any window of one Period at most 2N-1 are admitted,
// and exactly N per Period in the long run.
package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Store keeps each key's TAT. Implementations must be safe for concurrent
// use; MemoryStore is the in-process one.
type Store interface {
	// Take performs one GCRA step for key at time now, atomically with
	// respect to every other Take of the same key:
	//
	//	tat := the stored TAT of key; now if there is none or it is before now
	//	if tat + interval - now > tolerance {
	//		return tat, false, nil        // refused: nothing is stored
	//	}
	//	store tat + interval as the TAT of key, kept at least until that time
	//	return tat + interval, true, nil
	//
	// A TAT at or before now means the same as none, so a store may forget
	// it from then on. A bounded store may also forget a live TAT early,
	// which makes the limit laxer for that key, never stricter. Times may
	// be rounded to the microsecond. On error, ok is false and tat is
	// meaningless.
	//
	// In Redis, Take is one EVALSHA of a script like this one (times in
	// microseconds, below 2^53 so Lua's doubles hold them exactly):
	//
	//	local now, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
	//	local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
	//	if tat + interval - now > tolerance then return {tat, 0} end
	//	redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000))
	//	return {tat + interval, 1}
	Take(ctx context.Context, key string, now time.Time, interval, tolerance time.Duration) (tat time.Time, ok bool, err error)

	// Refund gives back one request that Take admitted for key: the
	// stored TAT moves back by interval, and a TAT that falls at or before
	// now may be forgotten. A key with no TAT is left alone. It is for a
	// limit that counts only some outcomes (failed logins), which takes
	// first, so that concurrent requests cannot all pass a check made
	// before any of them counted, and refunds the others.
	//
	// In Redis, one script:
	//
	//	local tat = tonumber(redis.call('GET', KEYS[1]) or 0) - tonumber(ARGV[2])
	//	if tat <= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) else <SET with PX as in Take> end
	Refund(ctx context.Context, key string, now time.Time, interval time.Duration) error
}

// Result is the outcome of one check.
type Result struct {
	Allowed bool
	Limit   Limit
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is how long to wait before the next request is allowed;
	// zero when this one was.
	RetryAfter time.Duration
	// ResetAfter is how long until the full burst is available again.
	ResetAfter time.Duration
}

// Limiter applies one Limit to any number of keys.
type Limiter struct {
	store     Store
	limit     Limit
	interval  time.Duration // GCRA's T: the cost of one request
	tolerance time.Duration // Burst*T: how far the TAT may run ahead of now
	now       func() time.Time
}

// New returns a Limiter of l over store, reading the time from now
// (time.Now if nil).
func New(store Store, l Limit, now func() time.Time) (*Limiter, error) {
	if err := l.validate(); err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	t := l.interval()
	return &Limiter{store: store, limit: l, interval: t, tolerance: time.Duration(l.Burst) * t, now: now}, nil
}

// Allow takes one request from key's allowance, if there is one left. It
// fails closed: on a store error the Result refuses and the error is
// returned. To fail over to a local store instead, use a FallbackStore.
func (l *Limiter) Allow(ctx context.Context, key string) (Result, error) {
	now := l.now()
	tat, ok, err := l.store.Take(ctx, key, now, l.interval, l.tolerance)
	if err != nil {
		return Result{Limit: l.limit}, fmt.Errorf("ratelimit: %w", err)
	}
	ahead := max(tat.Sub(now), 0)
	res := Result{Allowed: ok, Limit: l.limit, ResetAfter: ahead}
	if ok {
		res.Remaining = max(int((l.tolerance-ahead)/l.interval), 0)
	} else {
		// The next Take succeeds once tat + interval - now <= tolerance.
		res.RetryAfter = max(ahead+l.interval-l.tolerance, time.Microsecond)
	}
	return res, nil
}

// Refund gives back one request that Allow admitted for key, for a limit
// that counts only some outcomes: take with Allow before acting, refund
// when the outcome is not one to count. It fails as the store fails.
func (l *Limiter) Refund(ctx context.Context, key string) error {
	if err := l.store.Refund(ctx, key, l.now(), l.interval); err != nil {
		return fmt.Errorf("ratelimit: refund: %w", err)
	}
	return nil
}

// FallbackStore uses Primary (a shared store) and, whenever it fails, Local
// (a MemoryStore). An outage of the shared store then degrades limits to
// per-instance ones, rather than refusing everyone or admitting everyone.
// Breaker decides when Primary is tried again; a failure caused by the
// caller's context (the client hung up) is not an outage: Take returns it.
type FallbackStore struct {
	Primary, Local Store
	Breaker        Breaker
}

// Take implements Store.
func (f *FallbackStore) Take(ctx context.Context, key string, now time.Time, interval, tolerance time.Duration) (time.Time, bool, error) {
	if f.Breaker.Ready() {
		tat, ok, err := f.Primary.Take(ctx, key, now, interval, tolerance)
		if err == nil {
			return tat, ok, nil
		}
		if !f.Breaker.Failed(ctx, err) {
			return time.Time{}, false, err
		}
	}
	return f.Local.Take(ctx, key, now, interval, tolerance)
}

// Refund implements Store, on the store Take would use now: a refund that
// reaches the other store than its Take did is lost, which only makes the
// limit stricter for one interval.
func (f *FallbackStore) Refund(ctx context.Context, key string, now time.Time, interval time.Duration) error {
	if f.Breaker.Ready() {
		err := f.Primary.Refund(ctx, key, now, interval)
		if err == nil {
			return nil
		}
		if !f.Breaker.Failed(ctx, err) {
			return err
		}
	}
	return f.Local.Refund(ctx, key, now, interval)
}
