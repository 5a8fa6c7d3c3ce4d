package main

import (
	"context"
	"sync/atomic"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/redis"
	"github.com/gatehouse/gatehouse/revstream"
)

// hubKick kicks the hub once there is one; before (changes made while the
// instance starts, which the hub's first read of the feed picks up) it
// does nothing.
type hubKick struct{ hub atomic.Pointer[revstream.Hub] }

func (k *hubKick) set(h *revstream.Hub) { k.hub.Store(h) }

func (k *hubKick) Kick() {
	if h := k.hub.Load(); h != nil {
		h.Kick()
	}
}

// The revocation stream's hub reads the change feed at once when this
// instance, or another one through Redis, has committed a revocation or a
// user change, and every 500 ms otherwise (the CLI, or no Redis). These
// wrappers are how it hears of them, without the auth service or the bus
// knowing of it.

// kickBroadcaster announces this instance's changes to next (the Redis bus,
// or nil) and to the hub.
type kickBroadcaster struct {
	next auth.Broadcaster
	kick func()
}

func (b kickBroadcaster) PublishRevocations(ctx context.Context, revs []gatehouse.Revocation) error {
	b.kick()
	if b.next == nil {
		return nil
	}
	return b.next.PublishRevocations(ctx, revs)
}

func (b kickBroadcaster) PublishUserChanged(ctx context.Context, id int64) error {
	b.kick()
	if b.next == nil {
		return nil
	}
	return b.next.PublishUserChanged(ctx, id)
}

func (b kickBroadcaster) PublishAPIKeyChanged(ctx context.Context, id int64) error {
	if b.next == nil {
		return nil
	}
	return b.next.PublishAPIKeyChanged(ctx, id)
}

// kickSink passes what other instances announced to the auth service, then
// to the hub.
type kickSink struct {
	redis.Sink
	kick func()
}

func (s kickSink) ApplyRevocations(revs []gatehouse.Revocation) {
	s.Sink.ApplyRevocations(revs)
	s.kick()
}

func (s kickSink) UserChanged(id int64) {
	s.Sink.UserChanged(id)
	s.kick()
}

func (s kickSink) Resync(ctx context.Context) error {
	err := s.Sink.Resync(ctx)
	s.kick()
	return err
}
