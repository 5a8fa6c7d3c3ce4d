package ratelimit_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
)

// TestSetHeaders follows one client through its allowance: every answer
// carries the RateLimit fields, and a refusal Retry-After in whole seconds.
func TestSetHeaders(t *testing.T) {
	c := newClock()
	l := newLimiter(t, "5/minute", ratelimit.NewMemoryStore(100), c)

	tests := []struct {
		name    string
		after   time.Duration
		client  string
		allowed bool
		want    map[string]string
	}{
		{"first request", 0, "a", true, map[string]string{
			"RateLimit-Limit": "5", "RateLimit-Remaining": "4", "RateLimit-Reset": "12",
			"RateLimit-Policy": "5;w=60", "Retry-After": ""}},
		{"second", 0, "a", true, map[string]string{"RateLimit-Remaining": "3"}},
		{"third", 0, "a", true, map[string]string{"RateLimit-Remaining": "2"}},
		{"fourth", 0, "a", true, map[string]string{"RateLimit-Remaining": "1"}},
		{"fifth", 0, "a", true, map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "60"}},
		{"the sixth within a minute is refused", 0, "a", false, map[string]string{
			"Retry-After": "12", "RateLimit-Limit": "5", "RateLimit-Remaining": "0",
			"RateLimit-Reset": "60", "RateLimit-Policy": "5;w=60"}},
		{"another client is not limited", 0, "b", true, map[string]string{"RateLimit-Remaining": "4"}},
		{"Retry-After rounds up", 500 * time.Millisecond, "a", false, map[string]string{"Retry-After": "12"}},
		{"Retry-After is at least 1", 11*time.Second + 400*time.Millisecond, "a", false, map[string]string{"Retry-After": "1"}},
		{"admitted after Retry-After", 100 * time.Millisecond, "a", true, map[string]string{"RateLimit-Remaining": "0", "Retry-After": ""}},
	}
	for _, tt := range tests {
		c.advance(tt.after)
		res := allow(t, l, tt.client)
		if res.Allowed != tt.allowed {
			t.Fatalf("%s: allowed = %v, want %v", tt.name, res.Allowed, tt.allowed)
		}
		w := httptest.NewRecorder()
		ratelimit.SetHeaders(w, res)
		for k, v := range tt.want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got, v)
			}
		}
	}
}

func TestAddrKey(t *testing.T) {
	tests := []struct {
		name, addr, want string
	}{
		{"IPv4 is its own key", "203.0.113.7", "203.0.113.7"},
		{"IPv4-mapped is the IPv4 key", "::ffff:203.0.113.7", "203.0.113.7"},
		{"IPv6 is keyed by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"same /64, same key", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"zone is ignored", "fe80::1%eth0", "fe80::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.AddrKey(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("AddrKey(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}
