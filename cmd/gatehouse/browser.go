package main

import (
	"net"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/passkey"
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

// parseWebAuthn builds the passkeys' relying party (contract §14) from
// GATEHOUSE_WEBAUTHN_RP_ID and GATEHOUSE_WEBAUTHN_ORIGINS, whose defaults
// are the public URL's host and origin. Set explicitly, a value browsers
// would refuse stops serve (exit status 2); left to the defaults, a public
// URL browsers refuse for passkeys — an IP address such as the default
// http://127.0.0.1:8000, or plain http off localhost — leaves passkeys
// unavailable, and off says why, for serve to warn.
func parseWebAuthn(public, rpID, origins string) (rp *passkey.RP, off string, err error) {
	u, err := url.Parse(public)
	if err != nil || u.Host == "" {
		return nil, "", bad("GATEHOUSE_PUBLIC_URL", "%q is not an absolute URL", public)
	}
	id, list := strings.ToLower(strings.TrimSpace(rpID)), splitList(origins)
	explicit := id != "" || len(list) > 0
	if id == "" {
		id = strings.ToLower(u.Hostname())
	}
	if len(list) == 0 {
		list = []string{u.Scheme + "://" + u.Host}
	}
	if err := passkey.CheckConfig(id, list); err != nil {
		switch {
		case !explicit:
			return nil, "passkeys are unavailable: " + err.Error() +
				"; set GATEHOUSE_PUBLIC_URL to a host name (such as http://localhost:8000), or GATEHOUSE_WEBAUTHN_RP_ID and GATEHOUSE_WEBAUTHN_ORIGINS", nil
		case passkey.CheckRPID(id) != nil || len(splitList(origins)) == 0:
			return nil, "", bad("GATEHOUSE_WEBAUTHN_RP_ID", "%v", err)
		default:
			return nil, "", bad("GATEHOUSE_WEBAUTHN_ORIGINS", "%v", err)
		}
	}
	rp, err = passkey.New(passkey.Config{RPID: id, Origins: list})
	if err != nil {
		return nil, "", bad("GATEHOUSE_WEBAUTHN_RP_ID", "%v", err)
	}
	return rp, "", nil
}
