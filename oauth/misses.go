package oauth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// DefaultClientMissLimit is how many database reads of client ids that
// turn out not to exist one client address may cause: a real client
// names itself right; a mistyped id is fixed after a few tries. Thirty a
// minute bounds what a stranger sending made-up ids costs the database,
// as auth.DefaultKeyMissLimit does for API keys.
var DefaultClientMissLimit = ratelimit.Limit{Rate: 30, Period: time.Minute, Burst: 30}

// maxBlocked bounds the addresses remembered as over the limit.
const maxBlocked = 10_000

// clientMisses counts, per client address, lookups of unknown client ids.
// Only misses are counted, so a busy real client never waits on it; an
// address over the limit is remembered until its wait is over, and its
// lookups are refused without reading the store.
type clientMisses struct {
	limiter *ratelimit.Limiter
	now     func() time.Time

	mu      sync.Mutex
	blocked map[string]time.Time // address key → when it may look up again
}

func newClientMisses(l ratelimit.Limit, now func() time.Time) (*clientMisses, error) {
	lim, err := ratelimit.New(ratelimit.NewMemoryStore(100_000), l, now)
	if err != nil {
		return nil, fmt.Errorf("oauth: client miss limit: %w", err)
	}
	return &clientMisses{limiter: lim, now: now, blocked: map[string]time.Time{}}, nil
}

// client reads the client with that id, within the limit on misses of the
// request's address: an address over it gets auth.RateLimitError.
func (p *Provider) client(ctx context.Context, id string) (*gatehouse.OAuthClient, error) {
	m := p.misses
	addr := gatehouse.RequestInfoFrom(ctx).ClientAddr
	if !addr.IsValid() {
		return p.store.Client(ctx, id)
	}
	key := "oauth-client-miss:" + ratelimit.AddrKey(addr)
	now := m.now()
	m.mu.Lock()
	until, ok := m.blocked[key]
	if ok && !now.Before(until) {
		delete(m.blocked, key)
		ok = false
	}
	m.mu.Unlock()
	if ok {
		return nil, &auth.RateLimitError{RetryAfter: until.Sub(now)}
	}
	c, err := p.store.Client(ctx, id)
	if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return c, err
	}
	res, lerr := m.limiter.Allow(ctx, key)
	if lerr == nil && !res.Allowed {
		m.mu.Lock()
		if len(m.blocked) >= maxBlocked {
			clear(m.blocked) // a flood of addresses: forget them all rather than grow
		}
		m.blocked[key] = now.Add(res.RetryAfter)
		m.mu.Unlock()
		p.log.WarnContext(ctx, "unknown OAuth client ids: address over its limit", "addr", addr.String())
	}
	return c, err
}
