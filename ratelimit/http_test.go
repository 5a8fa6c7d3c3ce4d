package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
)

func TestMiddleware(t *testing.T) {
	c := newClock()
	l := newLimiter(t, "5/minute", ratelimit.NewMemoryStore(100), c)
	byHeader := func(r *http.Request) string { return r.Header.Get("X-Client") }
	h := l.Middleware(byHeader, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	do := func(client string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/limited", nil)
		r.Header.Set("X-Client", client)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	tests := []struct {
		name   string
		after  time.Duration
		client string
		status int
		want   map[string]string
	}{
		{"first request", 0, "a", 200, map[string]string{
			"RateLimit-Limit": "5", "RateLimit-Remaining": "4", "RateLimit-Reset": "12",
			"RateLimit-Policy": "5;w=60", "Retry-After": ""}},
		{"second", 0, "a", 200, map[string]string{"RateLimit-Remaining": "3"}},
		{"third", 0, "a", 200, map[string]string{"RateLimit-Remaining": "2"}},
		{"fourth", 0, "a", 200, map[string]string{"RateLimit-Remaining": "1"}},
		{"fifth", 0, "a", 200, map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "60"}},
		{"the sixth within a minute is refused", 0, "a", 429, map[string]string{
			"Retry-After": "12", "RateLimit-Limit": "5", "RateLimit-Remaining": "0",
			"RateLimit-Reset": "60", "RateLimit-Policy": "5;w=60", "Content-Type": "application/json"}},
		{"another client is not limited", 0, "b", 200, map[string]string{"RateLimit-Remaining": "4"}},
		{"Retry-After rounds up", 500 * time.Millisecond, "a", 429, map[string]string{"Retry-After": "12"}},
		{"Retry-After is at least 1", 11*time.Second + 400*time.Millisecond, "a", 429, map[string]string{"Retry-After": "1"}},
		{"admitted after Retry-After", 100 * time.Millisecond, "a", 200, map[string]string{"RateLimit-Remaining": "0"}},
	}
	for _, tt := range tests {
		c.advance(tt.after)
		w := do(tt.client)
		if w.Code != tt.status {
			t.Fatalf("%s: status = %d, want %d", tt.name, w.Code, tt.status)
		}
		for k, v := range tt.want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got, v)
			}
		}
		if tt.status == 429 && w.Body.String() != `{"detail":"Too many requests"}`+"\n" {
			t.Errorf("%s: body = %q", tt.name, w.Body)
		}
	}
}

func TestMiddlewareRefusals(t *testing.T) {
	key := func(*http.Request) string { return "k" }
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("next was called") })
	t.Run("store down: 503 by default", func(t *testing.T) {
		l := newLimiter(t, "5/minute", failing{}, newClock())
		w := httptest.NewRecorder()
		l.Middleware(key, nil)(next).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != 503 || w.Header().Get("RateLimit-Limit") != "" {
			t.Errorf("status %d, headers %v", w.Code, w.Header())
		}
	})
	t.Run("refuse is told why", func(t *testing.T) {
		l := newLimiter(t, "1/minute", ratelimit.NewMemoryStore(10), newClock())
		var got []error
		refuse := func(w http.ResponseWriter, r *http.Request, res ratelimit.Result, err error) {
			got = append(got, err)
			w.WriteHeader(http.StatusTeapot)
		}
		l.Allow(t.Context(), "k") // use up the allowance
		w := httptest.NewRecorder()
		l.Middleware(key, refuse)(next).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != http.StatusTeapot || len(got) != 1 || got[0] != nil || w.Header().Get("Retry-After") != "60" {
			t.Errorf("status %d, errors %v, headers %v", w.Code, got, w.Header())
		}
	})
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
