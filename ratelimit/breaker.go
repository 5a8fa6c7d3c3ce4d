package ratelimit

import (
	"context"
	"sync/atomic"
	"time"
)

// Breaker decides when a shared store that failed (Redis) is worth trying
// again. After a failure of the store, callers serve from their local
// fallback alone for Cooldown, so that an unreachable store costs one
// timeout per Cooldown rather than one per request.
//
// A failure the caller caused, because its context was cancelled or ran
// out (the client hung up), says nothing about the store and starts no
// cooldown: otherwise one aborted request a second would keep an instance
// on per-instance limits and report an outage that is not there.
//
// The zero value tries the store every time. The fields must not change
// once the Breaker is in use.
type Breaker struct {
	// Cooldown is how long the store is left alone after it failed.
	Cooldown time.Duration
	// OnError, if set, is told of every failure of the store, e.g. to log
	// it; not of those the caller's context caused.
	OnError func(error)
	// Now reads the clock; time.Now if nil.
	Now func() time.Time

	downUntil atomic.Int64 // Unix nanoseconds, of Now
}

// Ready reports whether the store may be tried: no cooldown is running.
func (b *Breaker) Ready() bool { return b.now().UnixNano() >= b.downUntil.Load() }

// Failed records that a call to the store made under ctx failed with err,
// and reports whether the store is to blame, so that the caller should use
// its fallback. When ctx is done the caller's context caused err: nothing
// is recorded, and the caller should return err, since nobody is waiting
// for an answer.
func (b *Breaker) Failed(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	b.downUntil.Store(b.now().Add(b.Cooldown).UnixNano())
	if b.OnError != nil {
		b.OnError(err)
	}
	return true
}

func (b *Breaker) now() time.Time {
	if b.Now == nil {
		return time.Now()
	}
	return b.Now()
}
