package main

import (
	"net"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/httpsec"
)

// parseBrowser validates the settings of the browser pages (contract §10,
// §11): GATEHOUSE_PUBLIC_URL (default http:// + the listen address),
// GATEHOUSE_COOKIE_DOMAIN, which must contain the public URL's host, and
// GATEHOUSE_REDIRECT_DOMAINS.
func parseBrowser(public, addr, cookieDomain, redirectDomains string) (*httpsec.Redirects, string, error) {
	const env = "GATEHOUSE_PUBLIC_URL"
	if public == "" {
		public = "http://" + addr
	}
	u, err := url.Parse(public)
	switch {
	case err != nil:
		return nil, "", bad(env, "%q is not a URL", public)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, "", bad(env, "%q: want an http:// or https:// URL", public)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(public, "?") || strings.HasSuffix(public, "#"):
		return nil, "", bad(env, "%q: want scheme://host[:port] and nothing else", public)
	case u.Path != "":
		return nil, "", bad(env, "%q: no path and no trailing slash (Gatehouse serves at the root)", public)
	}
	domain := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(cookieDomain), "."))
	if domain != "" {
		host := strings.ToLower(u.Hostname())
		if strings.ContainsAny(domain, "/:@* ") || net.ParseIP(domain) != nil || !strings.Contains(domain, ".") && domain != "localhost" {
			return nil, "", bad("GATEHOUSE_COOKIE_DOMAIN", "%q: want a domain name such as example.com", cookieDomain)
		}
		if host != domain && !strings.HasSuffix(host, "."+domain) {
			return nil, "", bad("GATEHOUSE_COOKIE_DOMAIN", "%q does not contain the public URL's host %q: browsers would refuse the cookie", cookieDomain, host)
		}
	}
	red, err := httpsec.NewRedirects(u, splitList(redirectDomains))
	if err != nil {
		return nil, "", bad("GATEHOUSE_REDIRECT_DOMAINS", "%v", err)
	}
	return red, domain, nil
}
