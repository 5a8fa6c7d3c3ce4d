package httpapi_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/auth"
)

// TestFreshRandomKeysFromOneClientAreThrottled (issue 9 finding 9): a
// client sending well-formed keys that do not exist is answered 403
// "Invalid API key" for its allowance of database reads, then 429 with
// Retry-After, without a read, on every route that takes a key — forward
// auth included; another client is not held back.
func TestFreshRandomKeysFromOneClientAreThrottled(t *testing.T) {
	e := newEnvWith(t, envOptions{proxies: []string{"127.0.0.1/32"}})
	send := func(path, ip string) response {
		key, _, _ := apikey.Generate()
		return e.do("GET", path, nil, map[string]string{"X-API-Key": key, "X-Forwarded-For": ip})
	}
	burst := auth.DefaultKeyMissLimit.Burst
	for range burst {
		wantDetail(t, send("/protected", "203.0.113.9"), 403, "Invalid API key")
	}
	for _, path := range []string{"/protected", "/items", "/auth/verify"} {
		r := send(path, "203.0.113.9")
		wantDetail(t, r, 429, "Rate limit exceeded")
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("%s: 429 without Retry-After", path)
		}
	}
	wantDetail(t, send("/protected", "198.51.100.4"), 403, "Invalid API key")
}
