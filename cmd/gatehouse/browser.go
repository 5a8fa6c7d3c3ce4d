package main

import (
	"net"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/httpsec"
)

// parseBrowser validates the settings of the browser pages (contract §11)
// against the public URL, parsed already (parsePublicURL):
// GATEHOUSE_COOKIE_DOMAIN, which must contain the public URL's host, and
// GATEHOUSE_REDIRECT_DOMAINS. The pages use the public URL's origin: a
// path in it changes nothing for them (they are served at the root).
func parseBrowser(public, cookieDomain, redirectDomains string) (*httpsec.Redirects, string, error) {
	u, err := url.Parse(public)
	if err != nil || u.Host == "" {
		return nil, "", bad("GATEHOUSE_PUBLIC_URL", "%q is not an absolute URL", public)
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
