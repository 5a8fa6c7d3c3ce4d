package httpsec

import (
	"fmt"
	"strings"
)

// hosts is a parsed trusted-host list.
type hosts struct {
	any      bool     // "*" or an empty list
	exact    []string // "api.example.com", "127.0.0.1", "::1"
	suffixes []string // ".example.com", from "*.example.com"
}

func parseHosts(patterns []string) (hosts, error) {
	var h hosts
	n := 0
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		n++
		switch {
		case p == "*":
			h.any = true
		case strings.HasPrefix(p, "*."):
			name := strings.TrimSuffix(p[2:], ".")
			if err := checkHostPattern(name); err != nil {
				return hosts{}, fmt.Errorf("httpsec: trusted host %q: %w", p, err)
			}
			h.suffixes = append(h.suffixes, "."+name)
		default:
			name := strings.TrimSuffix(p, ".")
			if len(name) > 2 && name[0] == '[' && name[len(name)-1] == ']' {
				name = name[1 : len(name)-1]
			}
			if err := checkHostPattern(name); err != nil {
				return hosts{}, fmt.Errorf("httpsec: trusted host %q: %w", p, err)
			}
			h.exact = append(h.exact, name)
		}
	}
	h.any = h.any || n == 0
	return h, nil
}

func checkHostPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty name")
	case strings.Contains(p, "*"):
		return fmt.Errorf(`"*" is allowed only alone or as a leading "*."`)
	case strings.ContainsAny(p, "/@ []"):
		return fmt.Errorf("want a host name, not a URL")
	case strings.Count(p, ":") == 1:
		return fmt.Errorf("hosts are matched on the name; leave the port out")
	}
	return nil
}

// allow reports whether the Host header names a trusted host. The port is
// ignored and names compare case-insensitively (RFC 9110 §4.2.3), without
// allocating.
func (h *hosts) allow(hostHeader string) bool {
	if h.any {
		return true
	}
	name := hostname(hostHeader)
	if name == "" {
		return false
	}
	for _, e := range h.exact {
		if strings.EqualFold(name, e) {
			return true
		}
	}
	for _, s := range h.suffixes {
		// len(name) > len(s) keeps a non-empty label before the suffix, so
		// "*.example.com" matches "a.example.com" but not "example.com".
		if len(name) > len(s) && strings.EqualFold(name[len(name)-len(s):], s) {
			return true
		}
	}
	return false
}

// hostname returns the name part of a Host header: no port, no IPv6
// brackets, no trailing dot. It returns "" for a malformed header.
func hostname(host string) string {
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 || (end+1 < len(host) && host[end+1] != ':') {
			return ""
		}
		return host[1:end]
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		if strings.IndexByte(host[i+1:], ':') >= 0 {
			return "" // an IPv6 address without brackets
		}
		host = host[:i]
	}
	return strings.TrimSuffix(host, ".")
}
