package ratelimit

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// SetHeaders sets the RateLimit header fields of draft-ietf-httpapi-
// ratelimit-headers-07 on every answer, and Retry-After (RFC 9110 §10.2.3)
// on a refusal. RateLimit-Limit is the burst, the most Remaining can be.
func SetHeaders(w http.ResponseWriter, res Result) {
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(res.Limit.Burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(res.Remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(seconds(res.ResetAfter), 10))
	h.Set("RateLimit-Policy", strconv.Itoa(res.Limit.Rate)+";w="+strconv.FormatInt(seconds(res.Limit.Period), 10))
	if !res.Allowed {
		// Whole seconds, rounded up so that a client that waits exactly
		// this long is admitted, and at least 1 so that it waits at all.
		h.Set("Retry-After", strconv.FormatInt(max(seconds(res.RetryAfter), 1), 10))
	}
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// AddrKey returns the rate-limit key of a client address: an IPv4 address
// itself, but an IPv6 address's /64, because one subscriber is normally
// given a whole /64 (RFC 6177) and could otherwise rotate through 2^64
// addresses, each with a fresh allowance.
func AddrKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
	}
	return a.Unmap().String()
}
