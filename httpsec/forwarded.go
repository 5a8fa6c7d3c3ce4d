package httpsec

import (
	"net/http"
	"strings"
)

// OriginalURL returns the URL a reverse proxy's forward-auth subrequest
// stands for, from X-Original-URL (nginx, as configured) or from
// X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Uri (Caddy,
// Traefik). They are believed only from a trusted proxy, as
// X-Forwarded-For is: from anyone else OriginalURL returns "", false. The
// URL is not checked here: a proxy passes on what its client sent, so
// the caller checks it like any other redirect target (Redirects.Target).
func (p *Proxies) OriginalURL(r *http.Request) (string, bool) {
	if !p.trusts(parseRemote(r.RemoteAddr)) {
		return "", false
	}
	if v := r.Header.Get("X-Original-URL"); v != "" {
		return v, true
	}
	proto, host, uri := lastValue(r.Header.Get("X-Forwarded-Proto")), lastValue(r.Header.Get("X-Forwarded-Host")), r.Header.Get("X-Forwarded-Uri")
	if proto == "" || host == "" {
		return "", false
	}
	if uri == "" {
		uri = "/"
	}
	if !strings.HasPrefix(uri, "/") {
		return "", false
	}
	return strings.ToLower(proto) + "://" + host + uri, true
}

// lastValue is the right-most entry of a comma-separated header: the one
// the nearest proxy wrote.
func lastValue(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
