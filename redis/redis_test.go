package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/ratelimit"
	goredis "github.com/redis/go-redis/v9"
)

// client connects to GATEHOUSE_TEST_REDIS_URL and returns a key prefix of
// the test's own, so runs never collide.
func client(t *testing.T) (*goredis.Client, string) {
	t.Helper()
	url := os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if url == "" {
		t.Skip("set GATEHOUSE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run the Redis tests; .ci/run does")
	}
	c, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "gh-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix
}

// TestRateStoreRefund: Refund gives one request back, in Redis as in
// memory; a refund of a key with no state changes nothing.
func TestRateStoreRefund(t *testing.T) {
	c, prefix := client(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	l, _ := ratelimit.New(NewRateStore(c, prefix), ratelimit.Limit{Rate: 2, Period: time.Minute, Burst: 2}, func() time.Time { return now })
	take := func() bool {
		t.Helper()
		res, err := l.Allow(ctx, "user:alice")
		if err != nil {
			t.Fatal(err)
		}
		return res.Allowed
	}
	if !take() || !take() || take() {
		t.Fatal("the burst of 2 is not what was admitted")
	}
	if err := l.Refund(ctx, "user:alice"); err != nil {
		t.Fatal(err)
	}
	if !take() || take() {
		t.Fatal("one refund did not give back exactly one request")
	}
	for range 5 {
		if err := l.Refund(ctx, "user:alice"); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := c.Exists(ctx, prefix+"rl:user:alice").Result(); n != 0 {
		t.Fatal("a TAT refunded to before now is still stored")
	}
	if !take() || !take() || take() {
		t.Fatal("refunds beyond what was taken gave more than the burst")
	}
	if err := l.Refund(ctx, "user:nobody"); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Exists(ctx, prefix+"rl:user:nobody").Result(); n != 0 {
		t.Fatal("a refund of a key with no state stored one")
	}
}

// TestMarkStoreIsSharedAndExpires: a mark made through one instance is
// seen through another, and goes with its time to live.
func TestMarkStoreIsSharedAndExpires(t *testing.T) {
	c, prefix := client(t)
	ctx := context.Background()
	a, b := NewMarkStore(c, prefix), NewMarkStore(c, prefix)
	now := time.Now()
	if ok, err := b.Marked(ctx, "device:x", now); err != nil || ok {
		t.Fatalf("before any mark: %v, %v", ok, err)
	}
	if err := a.Mark(ctx, "device:x", now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Marked(ctx, "device:x", now); err != nil || !ok {
		t.Fatalf("another instance: %v, %v; want marked", ok, err)
	}
	if ttl, _ := c.PTTL(ctx, prefix+"mark:device:x").Result(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("the mark lives %v, want an hour", ttl)
	}
}

func TestRateStoreLimitsAcrossClients(t *testing.T) {
	c, prefix := client(t)
	now := time.Unix(1_800_000_000, 0)
	// Two stores on one Redis stand for two instances.
	a, b := NewRateStore(c, prefix), NewRateStore(c, prefix)
	la, _ := ratelimit.New(a, ratelimit.Limit{Rate: 5, Period: time.Minute, Burst: 5}, func() time.Time { return now })
	lb, _ := ratelimit.New(b, ratelimit.Limit{Rate: 5, Period: time.Minute, Burst: 5}, func() time.Time { return now })
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := la
			if i%2 == 1 {
				l = lb
			}
			res, err := l.Allow(context.Background(), "ip:198.51.100.7")
			if err != nil {
				t.Error(err)
				return
			}
			if res.Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 5 {
		t.Fatalf("%d of 40 concurrent requests allowed across two instances, want 5", allowed.Load())
	}
	// Another key is independent, and the refusal carries a retry time.
	res, _ := la.Allow(context.Background(), "ip:198.51.100.8")
	if !res.Allowed {
		t.Fatal("an unrelated key was refused")
	}
	res, _ = la.Allow(context.Background(), "ip:198.51.100.7")
	if res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > 12*time.Second {
		t.Fatalf("refusal = %+v, want Retry-After in (0, 12s]", res)
	}
	// After one interval (60s/5), exactly one more passes.
	now = now.Add(12 * time.Second)
	if res, _ := la.Allow(context.Background(), "ip:198.51.100.7"); !res.Allowed {
		t.Fatal("not allowed after one interval")
	}
	if res, _ := lb.Allow(context.Background(), "ip:198.51.100.7"); res.Allowed {
		t.Fatal("two allowed after one interval")
	}
	// The key expires with its TAT: Redis keeps no state for idle clients.
	ttl := c.PTTL(context.Background(), prefix+"rl:ip:198.51.100.7").Val()
	if ttl <= 0 || ttl > time.Minute+time.Second {
		t.Fatalf("key TTL = %v", ttl)
	}
}

// sink records what the bus delivers.
type sink struct {
	mu      sync.Mutex
	revs    []gatehouse.Revocation
	users   []int64
	keys    []int64
	resyncs int
	got     chan struct{}
}

func newSink() *sink { return &sink{got: make(chan struct{}, 100)} }

func (s *sink) ApplyRevocations(r []gatehouse.Revocation) {
	s.mu.Lock()
	s.revs = append(s.revs, r...)
	s.mu.Unlock()
	s.got <- struct{}{}
}
func (s *sink) UserChanged(id int64) {
	s.mu.Lock()
	s.users = append(s.users, id)
	s.mu.Unlock()
	s.got <- struct{}{}
}
func (s *sink) APIKeyChanged(id int64) {
	s.mu.Lock()
	s.keys = append(s.keys, id)
	s.mu.Unlock()
	s.got <- struct{}{}
}
func (s *sink) Resync(context.Context) error {
	s.mu.Lock()
	s.resyncs++
	s.mu.Unlock()
	s.got <- struct{}{}
	return nil
}

func (s *sink) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.got:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing arrived on the bus within 5 s")
	}
}

func TestBusDeliversToOtherInstancesAndResyncsOnReconnect(t *testing.T) {
	c, prefix := client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Instance B listens on its own connection.
	opt, _ := goredis.ParseURL(os.Getenv("GATEHOUSE_TEST_REDIS_URL"))
	opt.ClientName = prefix + "b"
	cb := goredis.NewClient(opt)
	defer cb.Close()
	a, b := NewBus(c, prefix, nil), NewBus(cb, prefix, nil)
	s := newSink()
	go b.Run(ctx, s)
	s.wait(t) // the first subscription resyncs
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if err := a.PublishRevocations(ctx, []gatehouse.Revocation{{Kind: gatehouse.RevokeSession, Value: "sid-1", ExpiresAt: exp}}); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	a.PublishUserChanged(ctx, 42)
	s.wait(t)
	a.PublishAPIKeyChanged(ctx, 7)
	s.wait(t)
	s.mu.Lock()
	if len(s.revs) != 1 || s.revs[0].Value != "sid-1" || !s.revs[0].ExpiresAt.Equal(exp) || len(s.users) != 1 || s.users[0] != 42 ||
		len(s.keys) != 1 || s.keys[0] != 7 || s.resyncs != 1 {
		t.Fatalf("sink got %+v", s)
	}
	s.mu.Unlock()

	// Cut B's pub/sub connection: go-redis reconnects, and B resyncs.
	killed := false
	for _, line := range strings.Split(c.ClientList(ctx).Val(), "\n") {
		if strings.Contains(line, " name="+opt.ClientName+" ") && strings.Contains(line, "sub=1") {
			id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
			if err := c.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	if !killed {
		t.Fatal("B's pub/sub connection not found in CLIENT LIST")
	}
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		n := s.resyncs
		s.mu.Unlock()
		if n >= 2 {
			break
		}
		select {
		case <-s.got:
		case <-deadline:
			t.Fatal("no resync after the connection was cut")
		}
	}
	// And messages flow again.
	a.PublishUserChanged(ctx, 43)
	for {
		s.wait(t)
		s.mu.Lock()
		done := len(s.users) == 2 && s.users[1] == 43
		s.mu.Unlock()
		if done {
			break
		}
	}
}

func TestCodeLimiterCountsAcrossInstances(t *testing.T) {
	c, prefix := client(t)
	ctx := context.Background()
	local := func() auth.CodeLimiter { return auth.NewMemoryCodeLimiter(5, 5*time.Minute, time.Now) }
	a := NewCodeLimiter(c, prefix, 5, 5*time.Minute, local())
	b := NewCodeLimiter(c, prefix, 5, 5*time.Minute, local())
	for i := range 5 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if r, err := l.Reserve(ctx, 7); err != nil || r.RetryAfter != 0 {
			t.Fatalf("attempt %d refused: %+v %v", i+1, r, err)
		}
	}
	r, err := b.Reserve(ctx, 7)
	if err != nil || r.RetryAfter <= 4*time.Minute || r.RetryAfter > 5*time.Minute {
		t.Fatalf("sixth attempt: %+v, %v; want a wait of about 5 minutes", r, err)
	}
	if r, _ := a.Reserve(ctx, 8); r.RetryAfter != 0 {
		t.Fatal("another user was refused")
	}
	// A right code gives its attempt back.
	if err := a.Release(ctx, 7, true); err != nil {
		t.Fatal(err)
	}
	if r, _ := b.Reserve(ctx, 7); r.RetryAfter != 0 {
		t.Fatal("released attempt not available")
	}
}
