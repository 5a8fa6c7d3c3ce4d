package httpsec

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the set of networks whose X-Forwarded-For and X-Forwarded-Proto
// headers are believed. The nil *Proxies trusts nobody, so forwarded headers
// are ignored until proxies are configured.
type Proxies struct {
	nets []netip.Prefix
}

// ParseProxies parses CIDRs ("10.0.0.0/8", "2001:db8::/32") and bare
// addresses ("127.0.0.1", taken as /32 or /128). Blank entries are skipped so
// that an empty comma-separated setting means "no proxies".
func ParseProxies(cidrs []string) (*Proxies, error) {
	p := &Proxies{}
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		var pfx netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if pfx, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("httpsec: trusted proxy %q: %w", s, err)
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("httpsec: trusted proxy %q: %w", s, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("httpsec: trusted proxy %q: zones are not allowed", s)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		p.nets = append(p.nets, pfx.Masked())
	}
	return p, nil
}

func (p *Proxies) trusts(a netip.Addr) bool {
	if p == nil {
		return false
	}
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that sent r. It is the one
// function everything keyed on a client (rate limits, audit) must use.
//
// When the peer (RemoteAddr) is not a trusted proxy, it is the client and
// X-Forwarded-For is ignored, so forging that header changes nothing. When
// it is trusted, X-Forwarded-For is walked from the right: each entry was
// appended by the hop to its right, so entries are believable only while
// every hop so far is trusted. The first untrusted entry is the client;
// everything left of it may be forged. An unparsable entry stops the walk at
// the last address vouched for (a proxy's), which is wrong only towards
// strictness: clients behind it share one key. If every hop is trusted, the
// left-most one is returned. The zero Addr means RemoteAddr is not an IP
// (a Unix socket, say).
func (p *Proxies) ClientIP(r *http.Request) netip.Addr {
	client := parseRemote(r.RemoteAddr)
	if !p.trusts(client) {
		return client
	}
	xff := r.Header["X-Forwarded-For"]
	// Several header lines form one list, in order (RFC 9110 §5.3).
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		for list != "" {
			entry := list
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				entry, list = list[j+1:], list[:j]
			} else {
				list = ""
			}
			a, ok := parseForwarded(strings.TrimSpace(entry))
			if !ok {
				return client
			}
			client = a
			if !p.trusts(a) {
				return a
			}
		}
	}
	return client
}

// IsHTTPS reports whether the client reached us over TLS: directly, or as
// told by X-Forwarded-Proto from a trusted proxy. When the header holds a
// list, the right-most value is the one the nearest proxy wrote.
func (p *Proxies) IsHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	xfp := r.Header["X-Forwarded-Proto"]
	if len(xfp) == 0 || !p.trusts(parseRemote(r.RemoteAddr)) {
		return false
	}
	last := xfp[len(xfp)-1]
	if j := strings.LastIndexByte(last, ','); j >= 0 {
		last = last[j+1:]
	}
	return strings.EqualFold(strings.TrimSpace(last), "https")
}

// parseRemote parses a RemoteAddr, normally "ip:port".
func parseRemote(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr())
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a)
	}
	return netip.Addr{}
}

// parseForwarded parses one X-Forwarded-For entry: an address, some proxies
// add a port ("192.0.2.1:4711", "[2001:db8::1]:4711") or brackets.
func parseForwarded(s string) (netip.Addr, bool) {
	bare := s
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		bare = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(bare); err == nil {
		return normalize(a), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr()), true
	}
	return netip.Addr{}, false
}

// normalize makes one client one key: an IPv4-mapped IPv6 address is the
// IPv4 address, and a zone names our interface, not the client.
func normalize(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}
