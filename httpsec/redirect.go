package httpsec

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Redirects decides where a browser may be sent after a login: the URL in
// a login page's ?rd= (or ?return_to=), or the original URL a forward-auth
// proxy names. Only the public URL's origin and the listed domains are
// followed, so the login page cannot be made an open redirect (OWASP
// ASVS 5.0 V3.7.2, RFC 9700 §4.11): anything else is refused and the
// caller sends the browser to its own default.
type Redirects struct {
	public *url.URL // scheme://host[:port], no path
	exact  []string // host names allowed on any port
	suffix []string // ".example.com" for *.example.com
}

// NewRedirects allows public's origin and the hosts in domains:
// "app.example.com" or "*.example.com" (every subdomain, not the apex),
// on any port, over https — or http too when public is http, as in
// development. public must be an absolute http(s) URL.
func NewRedirects(public *url.URL, domains []string) (*Redirects, error) {
	if public == nil || (public.Scheme != "http" && public.Scheme != "https") || public.Host == "" {
		return nil, fmt.Errorf("httpsec: redirects: the public URL must be an absolute http(s) URL")
	}
	r := &Redirects{public: &url.URL{Scheme: public.Scheme, Host: strings.ToLower(public.Host)}}
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		host := strings.TrimPrefix(d, "*.")
		if host == "" || strings.ContainsAny(host, "*/:@\\?#% ") || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") {
			return nil, fmt.Errorf("httpsec: redirect domain %q: want a host name such as app.example.com or *.example.com", d)
		}
		if strings.HasPrefix(d, "*.") {
			r.suffix = append(r.suffix, "."+host)
		} else {
			r.exact = append(r.exact, host)
		}
	}
	return r, nil
}

// Public returns the public URL's origin.
func (r *Redirects) Public() *url.URL { u := *r.public; return &u }

// Target returns the URL to send a browser to for raw, and whether raw is
// allowed. A path ("/account?tab=keys") is taken on the public origin. An
// absolute URL must be http(s) without user information, on the public
// origin or an allowed host. Anything with a backslash, a control
// character or a space, a scheme-relative "//host", or an opaque URL
// ("https:evil.example") is refused, whatever its encoding: the caller
// hands Target the value once decoded, and Target decodes nothing more.
// The answer is re-serialised, never raw itself.
func (r *Redirects) Target(raw string) (string, bool) {
	if raw == "" || len(raw) > 2048 || strings.ContainsAny(raw, "\\ ") {
		return "", false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x20 || raw[i] == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "", false
	}
	if u.Scheme == "" && u.Host == "" {
		// A path on our own origin: "/x", never "//x".
		if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
			return "", false
		}
		t := r.Public()
		t.Path, t.RawPath, t.RawQuery, t.Fragment, t.RawFragment = u.Path, u.RawPath, u.RawQuery, u.Fragment, u.RawFragment
		return t.String(), true
	}
	if !r.allowed(u) {
		return "", false
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	return u.String(), true
}

func (r *Redirects) allowed(u *url.URL) bool {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	if host == "" || strings.ContainsAny(host, "%@") {
		return false
	}
	if scheme == r.public.Scheme && host == r.public.Host {
		return true
	}
	if scheme != "https" && !(scheme == "http" && r.public.Scheme == "http") {
		return false
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	for _, e := range r.exact {
		if name == e {
			return true
		}
	}
	for _, s := range r.suffix {
		if len(name) > len(s) && strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// FormActionSources returns the Content-Security-Policy sources that let a
// page's form redirect to every allowed target: 'self' and one source per
// listed host, on any port (CSP Level 3 §6.3.1 form-action governs
// redirects after a form submission too).
func (r *Redirects) FormActionSources() []string {
	out := []string{"'self'"}
	schemes := []string{"https"}
	if r.public.Scheme == "http" {
		schemes = append(schemes, "http")
	}
	for _, sc := range schemes {
		for _, e := range r.exact {
			out = append(out, sc+"://"+e+":*")
		}
		for _, s := range r.suffix {
			out = append(out, sc+"://*"+s+":*")
		}
	}
	return out
}
