package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
	goredis "github.com/redis/go-redis/v9"
)

// MarkStore implements ratelimit.MarkStore in Redis: one key per mark,
// expiring with it, so Redis holds only live marks and every instance sees
// the marks of every other.
type MarkStore struct {
	c      goredis.Cmdable
	prefix string
}

var _ ratelimit.MarkStore = (*MarkStore)(nil)

// NewMarkStore returns a store keeping its keys under prefix.
func NewMarkStore(c goredis.Cmdable, prefix string) *MarkStore {
	return &MarkStore{c: c, prefix: prefix + "mark:"}
}

// Mark implements ratelimit.MarkStore.
func (s *MarkStore) Mark(ctx context.Context, key string, _ time.Time, ttl time.Duration) error {
	if err := s.c.Set(ctx, s.prefix+key, "1", ttl).Err(); err != nil {
		return fmt.Errorf("redis: mark: %w", err)
	}
	return nil
}

// Marked implements ratelimit.MarkStore.
func (s *MarkStore) Marked(ctx context.Context, key string, _ time.Time) (bool, error) {
	n, err := s.c.Exists(ctx, s.prefix+key).Result()
	if err != nil {
		return false, fmt.Errorf("redis: marked: %w", err)
	}
	return n == 1, nil
}
