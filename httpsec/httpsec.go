// Package httpsec is Gatehouse's HTTP security layer as net/http middleware:
// security headers on every response, trusted Host names, the HTTPS
// redirect, CORS, and the client's address behind trusted proxies
// (contract §8). Every setting left unset is the safe one: no CORS, no
// forwarded header believed.
package httpsec

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
)

// APICSP is the Content-Security-Policy of API responses: they are data and
// must never be rendered, framed or allowed to load anything.
const APICSP = "default-src 'none'; frame-ancestors 'none'"

// hsts is sent on HTTPS responses only: RFC 6797 §7.2 forbids it over plain
// HTTP, where an attacker could forge or strip it anyway.
const hsts = "max-age=31536000; includeSubDomains"

// Config configures a Layer. The zero Config is valid: security headers
// only, any Host, no redirect, no CORS, no proxy believed.
type Config struct {
	// Proxies whose X-Forwarded-For/-Proto are believed; nil trusts none.
	Proxies *Proxies
	// TrustedHosts are the Host names served: "api.example.com",
	// "*.example.com" (any subdomain, not the apex), or "*" for all. Ports
	// are not part of a pattern. Empty means all.
	TrustedHosts []string
	// HTTPSRedirect sends plain-HTTP GET and HEAD to https (308) and refuses
	// other methods (403).
	HTTPSRedirect bool
	// CORSOrigins are the origins ("https://app.example.com") allowed to
	// make cross-origin requests. Empty means no CORS headers at all.
	CORSOrigins []string
	// CORSCredentials lets those origins send cookies and HTTP auth. The
	// allowed origin is always echoed, never "*".
	CORSCredentials bool
}

// Layer is a configured security layer; it is safe for concurrent use.
type Layer struct {
	proxies  *Proxies
	hosts    hosts
	redirect bool
	cors     *cors.Cors // nil when no origin is configured
}

// ConfigError is New's error for a refused Config field. It names the field
// so that a caller can name the setting the value came from, without
// validating each field on its own first.
type ConfigError struct {
	Field string // "TrustedHosts" or "CORSOrigins"
	Err   error
}

// Error is Err's message alone: the field is for the caller to name.
func (e *ConfigError) Error() string { return e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

// New validates c and returns its Layer. A refused field is reported as a
// *ConfigError.
func New(c Config) (*Layer, error) {
	h, err := parseHosts(c.TrustedHosts)
	if err != nil {
		return nil, &ConfigError{Field: "TrustedHosts", Err: err}
	}
	origins, err := parseOrigins(c.CORSOrigins)
	if err != nil {
		return nil, &ConfigError{Field: "CORSOrigins", Err: err}
	}
	l := &Layer{proxies: c.Proxies, hosts: h, redirect: c.HTTPSRedirect}
	if len(origins) > 0 {
		// Never hand rs/cors an empty list: it reads that as "allow all".
		l.cors = cors.New(cors.Options{
			AllowedOrigins: origins,
			AllowedMethods: []string{
				http.MethodGet, http.MethodHead, http.MethodPost,
				http.MethodPut, http.MethodPatch, http.MethodDelete,
			},
			AllowedHeaders: []string{"Authorization", "Content-Type", "X-API-Key"},
			ExposedHeaders: []string{
				"WWW-Authenticate", "Retry-After", "RateLimit-Limit",
				"RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
			},
			AllowCredentials: c.CORSCredentials,
			MaxAge:           600,
		})
	}
	return l, nil
}

// parseOrigins checks that every origin is a serialized origin as a browser
// sends it (scheme://host[:port], RFC 6454 §6.2) and lower-cases it. "*" and
// "null" are refused: "null" is what sandboxed iframes and file: pages send,
// so allowing it allows anyone.
func parseOrigins(list []string) ([]string, error) {
	var out []string
	for _, o := range list {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o == "*" || strings.EqualFold(o, "null") {
			return nil, fmt.Errorf("httpsec: CORS origin %q: list each allowed origin", o)
		}
		u, err := url.Parse(o)
		if err != nil {
			return nil, fmt.Errorf("httpsec: CORS origin %q: %w", o, err)
		}
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			return nil, fmt.Errorf("httpsec: CORS origin %q: want http:// or https://", o)
		case u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
			return nil, fmt.Errorf("httpsec: CORS origin %q: want scheme://host[:port] and nothing else", o)
		case strings.Contains(u.Host, "*"):
			return nil, fmt.Errorf("httpsec: CORS origin %q: wildcards are not allowed", o)
		case u.Scheme == "https" && u.Port() == "443", u.Scheme == "http" && u.Port() == "80":
			return nil, fmt.Errorf("httpsec: CORS origin %q: browsers omit the default port; so must the origin", o)
		}
		out = append(out, strings.ToLower(o))
	}
	return out, nil
}

// Wrap returns next behind the layer: security headers, then the trusted
// Host check, then the HTTPS redirect, then CORS. The headers are set first
// so that every answer carries them, the layer's own 400, 403, 308 and
// preflight answers included.
func (l *Layer) Wrap(next http.Handler) http.Handler {
	if l.cors != nil {
		next = l.cors.Handler(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		https := l.proxies.IsHTTPS(r)
		setHeaders(w.Header(), https)
		if !l.hosts.allow(r.Host) {
			WriteError(w, http.StatusBadRequest, "Invalid host header")
			return
		}
		if l.redirect && !https {
			toHTTPS(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setHeaders sets the contract's security headers. X-XSS-Protection is left
// out on purpose: the "1; mode=block" filter it enables is gone from
// browsers and was itself a source of cross-site leaks.
func setHeaders(h http.Header, https bool) {
	// Canonical keys and shared values, as in NoStore: this runs on every
	// request and allocates nothing.
	h["X-Content-Type-Options"] = nosniffValue
	h["X-Frame-Options"] = denyValue
	h["Referrer-Policy"] = noReferrerValue
	h["Content-Security-Policy"] = apiCSPValue
	if https {
		h["Strict-Transport-Security"] = hstsValue
	}
}

// The values of the security headers, shared by every response. Each is
// its own full slice (len == cap), so a handler's Add copies it rather than
// writing into the shared array; Set and SetCSP replace the slice.
var (
	nosniffValue    = []string{"nosniff"}
	denyValue       = []string{"DENY"}
	noReferrerValue = []string{"no-referrer"}
	apiCSPValue     = []string{APICSP}
	hstsValue       = []string{hsts}
)

// toHTTPS answers a plain-HTTP request when HTTPS is required. GET and HEAD
// are safe to repeat, so they are sent to the same URL over https with 308
// (RFC 9110 §15.4.9). Any other method is refused: a redirect would invite
// the client to send its body, and any credentials in it, once more after
// it already went in clear (ASVS 5.0 4.1.2).
func toHTTPS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		WriteError(w, http.StatusForbidden, "HTTPS required")
		return
	}
	name := hostname(r.Host)
	if name == "" {
		WriteError(w, http.StatusBadRequest, "Invalid host header")
		return
	}
	if strings.IndexByte(name, ':') >= 0 {
		name = "[" + name + "]"
	}
	// The port is dropped: whatever served plain HTTP is not where TLS is;
	// https means 443. RequestURI is the escaped path and query only.
	w.Header().Set("Location", "https://"+name+r.URL.RequestURI())
	w.WriteHeader(http.StatusPermanentRedirect)
}

// NoStore marks the response as not to be stored by any cache. Handlers call
// it on every response that carries a token, a user or a secret (contract
// §8). Pragma is for HTTP/1.0 caches, as RFC 6749 §5.1 asks of token
// responses.
func NoStore(w http.ResponseWriter) {
	h := w.Header()
	// Canonical keys and shared values: this runs on every token and user
	// response. The slices are full (len == cap), so an Add copies them.
	h["Cache-Control"] = noStoreValue
	h["Pragma"] = noCacheValue
}

var (
	noStoreValue = []string{"no-store"}
	noCacheValue = []string{"no-cache"}
)

// SetCSP replaces the response's Content-Security-Policy, for the rare
// response that is a page (the API docs) rather than data.
func SetCSP(w http.ResponseWriter, csp string) {
	w.Header().Set("Content-Security-Policy", csp)
}

// WriteError writes {"detail": detail} with status. It is for the layer's
// own answers; the server has its own error path.
func WriteError(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(struct { // a string always marshals
		Detail string `json:"detail"`
	}{detail})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
