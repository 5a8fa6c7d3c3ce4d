package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse"
	goredis "github.com/redis/go-redis/v9"
)

// Sink is what receives the bus's news: the auth service.
type Sink interface {
	// ApplyRevocations mirrors revocations made by another instance.
	ApplyRevocations(revs []gatehouse.Revocation)
	// UserChanged drops a user from the cache.
	UserChanged(id int64)
	// APIKeyChanged drops an API key from the cache.
	APIKeyChanged(id int64)
	// Resync reloads everything from the database.
	Resync(ctx context.Context) error
}

// message is what travels on the channel. It carries no secret: ids of
// revoked tokens and sessions are random handles, not credentials.
type message struct {
	Revocations []revocation `json:"r,omitempty"`
	UserID      int64        `json:"u,omitempty"`
	APIKeyID    int64        `json:"k,omitempty"`
}

type revocation struct {
	Kind    string `json:"k"`
	Value   string `json:"v"`
	Expires int64  `json:"e"` // unix microseconds
}

// Bus publishes changes and feeds a Sink with everyone's.
type Bus struct {
	c       *goredis.Client
	channel string
	log     *slog.Logger
}

// NewBus returns a bus on the channel prefix+"events".
func NewBus(c *goredis.Client, prefix string, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{c: c, channel: prefix + "events", log: log}
}

func (b *Bus) publish(ctx context.Context, m message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := b.c.Publish(ctx, b.channel, data).Err(); err != nil {
		return fmt.Errorf("redis: publish: %w", err)
	}
	return nil
}

// PublishRevocations implements auth.Broadcaster.
func (b *Bus) PublishRevocations(ctx context.Context, revs []gatehouse.Revocation) error {
	m := message{Revocations: make([]revocation, len(revs))}
	for i, r := range revs {
		m.Revocations[i] = revocation{Kind: r.Kind, Value: r.Value, Expires: r.ExpiresAt.UnixMicro()}
	}
	return b.publish(ctx, m)
}

// PublishUserChanged implements auth.Broadcaster.
func (b *Bus) PublishUserChanged(ctx context.Context, id int64) error {
	return b.publish(ctx, message{UserID: id})
}

// PublishAPIKeyChanged implements auth.Broadcaster.
func (b *Bus) PublishAPIKeyChanged(ctx context.Context, id int64) error {
	return b.publish(ctx, message{APIKeyID: id})
}

// Ping reports whether Redis answers, for /ready.
func (b *Bus) Ping(ctx context.Context) error {
	if err := b.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Run feeds sink until ctx ends. Every (re)subscription — the first one and
// each after a lost connection, which go-redis re-establishes by itself —
// is followed by a full resync from the database, so a change published
// while this instance was cut off is never missed for longer than the
// reconnect and resync take.
func (b *Bus) Run(ctx context.Context, sink Sink) {
	ps := b.c.Subscribe(ctx, b.channel)
	defer ps.Close()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// go-redis reconnects on the next Receive; don't spin.
			b.log.Debug("redis bus: receive failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				if err := sink.Resync(ctx); err != nil {
					b.log.Warn("redis bus: resync after subscribe failed", "err", err)
				}
			}
		case *goredis.Message:
			b.apply(m.Payload, sink)
		}
	}
}

func (b *Bus) apply(payload string, sink Sink) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		b.log.Warn("redis bus: bad message", "err", err)
		return
	}
	if len(m.Revocations) > 0 {
		revs := make([]gatehouse.Revocation, 0, len(m.Revocations))
		for _, r := range m.Revocations {
			if r.Kind != gatehouse.RevokeToken && r.Kind != gatehouse.RevokeSession {
				continue
			}
			revs = append(revs, gatehouse.Revocation{Kind: r.Kind, Value: r.Value, ExpiresAt: time.UnixMicro(r.Expires)})
		}
		sink.ApplyRevocations(revs)
	}
	if m.UserID != 0 {
		sink.UserChanged(m.UserID)
	}
	if m.APIKeyID != 0 {
		sink.APIKeyChanged(m.APIKeyID)
	}
}
