package ratelimit_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
)

// clock is a fake clock; tests move it by hand.
type clock struct{ t time.Time }

func newClock() *clock                   { return &clock{time.Date(2026, 11, 26, 22, 31, 38, 0, time.UTC)} }
func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newLimiter(t testing.TB, limit string, store ratelimit.Store, c *clock) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.ParseLimit(limit)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := ratelimit.New(store, l, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return lim
}

func allow(t *testing.T, l *ratelimit.Limiter, key string) ratelimit.Result {
	t.Helper()
	res, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    ratelimit.Limit
		wantErr bool
	}{
		{in: "10/minute", want: ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 10}},
		{in: "5/minute", want: ratelimit.Limit{Rate: 5, Period: time.Minute, Burst: 5}},
		{in: "100/second", want: ratelimit.Limit{Rate: 100, Period: time.Second, Burst: 100}},
		{in: "1000/hour", want: ratelimit.Limit{Rate: 1000, Period: time.Hour, Burst: 1000}},
		{in: "5/5m", want: ratelimit.Limit{Rate: 5, Period: 5 * time.Minute, Burst: 5}},
		{in: "3/day", want: ratelimit.Limit{Rate: 3, Period: 24 * time.Hour, Burst: 3}},
		{in: " 7 / Min ", want: ratelimit.Limit{Rate: 7, Period: time.Minute, Burst: 7}},
		{in: "30/90s", want: ratelimit.Limit{Rate: 30, Period: 90 * time.Second, Burst: 30}},
		{in: "", wantErr: true},
		{in: "10", wantErr: true},
		{in: "ten/minute", wantErr: true},
		{in: "0/minute", wantErr: true},
		{in: "-1/minute", wantErr: true},
		{in: "10/fortnight", wantErr: true},
		{in: "10/0s", wantErr: true},
		{in: "10/-1m", wantErr: true},
		{in: "2000000/second", wantErr: true}, // finer than a microsecond
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ratelimit.ParseLimit(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseLimit(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestNewRefusesInvalidLimit(t *testing.T) {
	for _, l := range []ratelimit.Limit{
		{},
		{Rate: 5, Period: time.Minute}, // no burst
		{Rate: 5, Burst: 5},            // no period
		{Rate: 5, Period: time.Minute, Burst: -1},  // negative burst
		{Rate: 5, Period: time.Minute, Burst: 1e9}, // burst overflows the tolerance
	} {
		if _, err := ratelimit.New(ratelimit.NewMemoryStore(10), l, time.Now); err == nil {
			t.Errorf("New accepted %+v", l)
		}
	}
}

// step is one Allow at an offset from the previous step.
type step struct {
	after      time.Duration
	key        string
	allowed    bool
	remaining  int
	retryAfter time.Duration
	resetAfter time.Duration
}

func TestGCRA(t *testing.T) {
	tests := []struct {
		name  string
		limit string
		steps []step
	}{
		{"the whole burst at once, then refused", "5/minute", []step{
			{0, "a", true, 4, 0, 12 * time.Second},
			{0, "a", true, 3, 0, 24 * time.Second},
			{0, "a", true, 2, 0, 36 * time.Second},
			{0, "a", true, 1, 0, 48 * time.Second},
			{0, "a", true, 0, 0, 60 * time.Second},
			{0, "a", false, 0, 12 * time.Second, 60 * time.Second},
		}},
		{"one request refills every Period/Rate", "5/minute", []step{
			{0, "a", true, 4, 0, 12 * time.Second},
			{0, "a", true, 3, 0, 24 * time.Second},
			{0, "a", true, 2, 0, 36 * time.Second},
			{0, "a", true, 1, 0, 48 * time.Second},
			{0, "a", true, 0, 0, 60 * time.Second},
			{11 * time.Second, "a", false, 0, time.Second, 49 * time.Second},
			{time.Second, "a", true, 0, 0, 60 * time.Second},
			{time.Second, "a", false, 0, 11 * time.Second, 59 * time.Second},
		}},
		{"refused requests do not extend the wait", "5/minute", []step{
			{0, "a", true, 4, 0, 12 * time.Second},
			{0, "a", true, 3, 0, 24 * time.Second},
			{0, "a", true, 2, 0, 36 * time.Second},
			{0, "a", true, 1, 0, 48 * time.Second},
			{0, "a", true, 0, 0, 60 * time.Second},
			{0, "a", false, 0, 12 * time.Second, 60 * time.Second},
			{0, "a", false, 0, 12 * time.Second, 60 * time.Second},
			{6 * time.Second, "a", false, 0, 6 * time.Second, 54 * time.Second},
			{6 * time.Second, "a", true, 0, 0, 60 * time.Second},
		}},
		{"state expires: a full burst after one Period", "2/minute", []step{
			{0, "a", true, 1, 0, 30 * time.Second},
			{0, "a", true, 0, 0, 60 * time.Second},
			{0, "a", false, 0, 30 * time.Second, 60 * time.Second},
			{time.Hour, "a", true, 1, 0, 30 * time.Second},
			{0, "a", true, 0, 0, 60 * time.Second},
		}},
		{"distinct keys are independent", "1/minute", []step{
			{0, "a", true, 0, 0, time.Minute},
			{0, "a", false, 0, time.Minute, time.Minute},
			{0, "b", true, 0, 0, time.Minute},
			{0, "b", false, 0, time.Minute, time.Minute},
		}},
		{"an uneven period keeps nanosecond accuracy", "3/second", []step{
			{0, "a", true, 2, 0, 333333333},
			{0, "a", true, 1, 0, 666666666},
			{0, "a", true, 0, 0, 999999999},
			{0, "a", false, 0, 333333333, 999999999},
			{333333333, "a", true, 0, 0, 999999999},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			l := newLimiter(t, tt.limit, ratelimit.NewMemoryStore(100), c)
			for i, s := range tt.steps {
				c.advance(s.after)
				got := allow(t, l, s.key)
				if got.Allowed != s.allowed || got.Remaining != s.remaining ||
					got.RetryAfter != s.retryAfter || got.ResetAfter != s.resetAfter {
					t.Fatalf("step %d: got allowed=%v remaining=%d retry=%v reset=%v; want %v %d %v %v", i,
						got.Allowed, got.Remaining, got.RetryAfter, got.ResetAfter,
						s.allowed, s.remaining, s.retryAfter, s.resetAfter)
				}
			}
		})
	}
}

func TestConcurrentAllowAdmitsExactlyTheBurst(t *testing.T) {
	c := newClock()
	l := newLimiter(t, "10/minute", ratelimit.NewMemoryStore(100), c)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				res, err := l.Allow(context.Background(), "k")
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 10 {
		t.Errorf("admitted %d of 400 concurrent requests, want exactly 10", n)
	}
}

func TestMemoryStoreStaysBounded(t *testing.T) {
	const maxKeys, keys = 5_000, 200_000
	c := newClock()
	s := ratelimit.NewMemoryStore(maxKeys)
	l := newLimiter(t, "10/minute", s, c)
	memAt := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var full uint64
	for i := range keys {
		// Mostly at the same instant, so nothing expires and eviction must.
		if i%50_000 == 0 {
			c.advance(time.Second)
		}
		allow(t, l, "client-"+strconv.Itoa(i))
		if n := s.Len(); n > maxKeys {
			t.Fatalf("after %d keys the store holds %d, more than %d", i+1, n, maxKeys)
		}
		if i == maxKeys {
			full = memAt()
		}
	}
	// Generous: the heap must not have grown with the 195,000 extra keys
	// (at ~60 bytes each, that would be ~12 MB).
	if grew := int64(memAt()) - int64(full); grew > 1<<20 {
		t.Errorf("heap grew by %d bytes after the store was full", grew)
	}
}

func TestEvictionKeepsTheMostLimitedKeys(t *testing.T) {
	c := newClock()
	s := ratelimit.NewMemoryStore(2) // one shard of two keys
	l := newLimiter(t, "5/minute", s, c)

	allow(t, l, "once") // TAT t0+12s
	c.advance(6 * time.Second)
	for range 5 {
		allow(t, l, "victim") // TAT t0+66s: limited until t0+18s
	}
	c.advance(7 * time.Second) // "once" has expired
	allow(t, l, "new1")        // takes the expired key's place
	if res := allow(t, l, "victim"); res.Allowed {
		t.Fatal("an expired key was kept and the limited one forgotten")
	}
	for i := range 1000 { // a flood of new keys, one request each
		allow(t, l, "flood-"+strconv.Itoa(i))
	}
	if res := allow(t, l, "victim"); res.Allowed {
		t.Error("a flood of new keys reset a limited key")
	}
	if n := s.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
}

// failing is a Store that is down.
type failing struct{}

var errDown = errors.New("store down")

func (failing) Take(context.Context, string, time.Time, time.Duration, time.Duration) (time.Time, bool, error) {
	return time.Time{}, false, errDown
}

func (failing) Refund(context.Context, string, time.Time, time.Duration) error { return errDown }

func TestStoreFailure(t *testing.T) {
	t.Run("fails closed by default", func(t *testing.T) {
		l := newLimiter(t, "5/minute", failing{}, newClock())
		res, err := l.Allow(context.Background(), "k")
		if !errors.Is(err, errDown) || res.Allowed {
			t.Errorf("Allow = %+v, %v; want a refusal and the store's error", res, err)
		}
	})
	t.Run("FallbackStore fails over to the local store", func(t *testing.T) {
		var reported []error
		fb := &ratelimit.FallbackStore{
			Primary: failing{},
			Local:   ratelimit.NewMemoryStore(10),
			Breaker: ratelimit.Breaker{OnError: func(err error) { reported = append(reported, err) }},
		}
		l := newLimiter(t, "2/minute", fb, newClock())
		want := []bool{true, true, false}
		for i, w := range want {
			if res := allow(t, l, "k"); res.Allowed != w {
				t.Errorf("request %d: allowed = %v, want %v (the local limit)", i, res.Allowed, w)
			}
		}
		if len(reported) != 3 || !errors.Is(reported[0], errDown) {
			t.Errorf("OnError saw %v, want the store's error 3 times", reported)
		}
	})
}

// primary is a shared Store that counts its calls. It fails the way a
// network store does: with ctx's error once ctx is done, else with err if
// set; otherwise it is a working store.
type primary struct {
	calls int
	err   error
	store ratelimit.Store
}

func (p *primary) Take(ctx context.Context, key string, now time.Time, interval, tolerance time.Duration) (time.Time, bool, error) {
	p.calls++
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	if p.err != nil {
		return time.Time{}, false, p.err
	}
	return p.store.Take(ctx, key, now, interval, tolerance)
}

func (p *primary) Refund(ctx context.Context, key string, now time.Time, interval time.Duration) error {
	p.calls++
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.err != nil {
		return p.err
	}
	return p.store.Refund(ctx, key, now, interval)
}

func TestFallbackStoreBlamesPrimaryOnlyForItsOwnFailures(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
		err  error // of the primary, with a live context
		// wantErr is what the failed Take returns; nil when Local answered.
		wantErr error
		// wantDown: a live request right after is served by Local until
		// the cooldown has passed.
		wantDown bool
	}{
		{"a client that hung up is told, and the primary stays in use", cancelled, nil, context.Canceled, false},
		{"a request out of time is told, and the primary stays in use", expired, nil, context.DeadlineExceeded, false},
		{"a primary failure falls back and starts the cooldown", context.Background(), errDown, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			p := &primary{err: tt.err, store: ratelimit.NewMemoryStore(10)}
			var reported []error
			fb := &ratelimit.FallbackStore{Primary: p, Local: ratelimit.NewMemoryStore(10), Breaker: ratelimit.Breaker{
				Cooldown: 10 * time.Second, Now: c.now, OnError: func(err error) { reported = append(reported, err) }}}
			take := func(ctx context.Context) error {
				_, _, err := fb.Take(ctx, "k", c.now(), time.Second, 5*time.Second)
				return err
			}

			if err := take(tt.ctx); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Take = %v, want %v", err, tt.wantErr)
			}
			if tt.wantDown != (len(reported) == 1) {
				t.Errorf("OnError saw %v; want an outage reported: %v", reported, tt.wantDown)
			}
			p.err = nil // the primary works from now on
			steps := []struct {
				after       time.Duration
				wantPrimary bool
			}{
				{0, !tt.wantDown},
				{10*time.Second - time.Nanosecond, !tt.wantDown},
				{time.Nanosecond, true},
			}
			for i, s := range steps {
				c.advance(s.after)
				before := p.calls
				if err := take(context.Background()); err != nil {
					t.Fatalf("step %d: Take = %v", i, err)
				}
				if got := p.calls > before; got != s.wantPrimary {
					t.Errorf("step %d (+%v): primary tried = %v, want %v", i, s.after, got, s.wantPrimary)
				}
			}
		})
	}
}

// TestRefundGivesBackOneRequest: a refunded request no longer counts, so a
// limit that counts only some outcomes admits exactly its burst of those;
// a refund never gives more than the burst back, and refunding a key with
// no state changes nothing.
func TestRefundGivesBackOneRequest(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	l := newLimiter(t, "3/minute", ratelimit.NewMemoryStore(100), c)
	for i := range 3 {
		if !allow(t, l, "k").Allowed {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if allow(t, l, "k").Allowed {
		t.Fatal("beyond the burst: allowed")
	}
	if err := l.Refund(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if !allow(t, l, "k").Allowed {
		t.Fatal("after a refund: refused")
	}
	if allow(t, l, "k").Allowed {
		t.Fatal("one refund let two through")
	}
	// Refunds beyond what was taken give nothing more than the burst.
	for range 10 {
		if err := l.Refund(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if got := allow(t, l, "k").Allowed; got != (i < 3) {
			t.Fatalf("after extra refunds, request %d: allowed %v; want the burst of 3 only", i, got)
		}
	}
	if err := l.Refund(ctx, "fresh"); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	for i := range 4 {
		if got := allow(t, l, "fresh").Allowed; got != (i < 3) {
			t.Fatalf("a key refunded before use, request %d: allowed %v; want the burst of 3", i, got)
		}
	}
}
