// Package redis is Gatehouse's Redis adapter (go-redis/v9, the maintained
// client with pub/sub reconnection and script caching built in): a
// rate-limit store whose GCRA step is one atomic Lua script, so limits
// hold across instances, and a bus that tells every instance about
// revocations and user and key changes within milliseconds.
//
// Redis is never the source of truth. Every revocation and change is first
// committed to the database, which also keeps a change feed that each
// instance polls; the bus only makes the news travel faster. An instance
// that loses Redis keeps verifying tokens from its in-memory mirror and
// falls back to per-instance rate limits; on reconnecting it resyncs from
// the database, so nothing published while it was cut off is missed.
package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Open connects to a redis:// or rediss:// URL with short timeouts (an
// unreachable Redis must not stall requests) and checks it answers.
func Open(ctx context.Context, url string) (*goredis.Client, error) {
	c, err := NewClient(url)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: ping: %w", err)
	}
	return c, nil
}

// NewClient returns a client for url without contacting Redis: the server
// starts, degraded, while Redis is down, and go-redis connects when it can.
func NewClient(url string) (*goredis.Client, error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: unparsable URL")
	}
	opt.DialTimeout = time.Second
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	opt.PoolTimeout = time.Second
	opt.MaxRetries = 1
	return goredis.NewClient(opt), nil
}
