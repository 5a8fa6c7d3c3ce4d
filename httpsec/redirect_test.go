package httpsec

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
)

func TestRedirectsFollowOnlyAllowedOrigins(t *testing.T) {
	pub, _ := url.Parse("https://auth.example.com")
	r, err := NewRedirects(pub, []string{"app.example.org", "*.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rd, want string // want "" = refused
	}{
		// Allowed: our own paths and origin, listed hosts, their subdomains.
		{"/account", "https://auth.example.com/account"},
		{"/admin/users?q=bob#top", "https://auth.example.com/admin/users?q=bob#top"},
		{"https://auth.example.com/x?y=1", "https://auth.example.com/x?y=1"},
		{"HTTPS://AUTH.EXAMPLE.COM/Path", "https://auth.example.com/Path"},
		{"https://app.example.org/dash", "https://app.example.org/dash"},
		{"https://app.example.org:8443/dash", "https://app.example.org:8443/dash"},
		{"https://grafana.example.com/d/1", "https://grafana.example.com/d/1"},
		{"https://a.b.example.com/", "https://a.b.example.com/"},
		{"/%2F%2Fevil.com", "https://auth.example.com/%2F%2Fevil.com"}, // stays a path on our origin

		// Refused: other hosts, look-alikes, tricks with the authority.
		{"https://evil.com/", ""},
		{"https://example.com/", ""}, // *.example.com is not the apex
		{"https://evilexample.com/", ""},
		{"https://example.com.evil.com/", ""},
		{"https://app.example.org.evil.com/", ""},
		{"https://auth.example.com@evil.com/", ""},
		{"https://user:pw@auth.example.com/", ""},
		{"https://evil.com#@auth.example.com", ""},
		{"https://evil.com?@auth.example.com", ""},
		{"https://evil.com%2eauth.example.com/", ""},
		{"https://evil.com%40auth.example.com/", ""},
		{"http://app.example.org/", ""}, // plain http to a listed host when the public URL is https
		{"//evil.com", ""},
		{"//evil.com/account", ""},
		{"///evil.com", ""},
		{"\\\\evil.com", ""},
		{"/\\evil.com", ""},
		{"\\/evil.com", ""},
		{"https:\\\\evil.com", ""},
		{"https:evil.com", ""},
		{"https:/evil.com", ""},
		{"javascript:alert(1)", ""},
		{"JavaScript:alert(1)//https://auth.example.com", ""},
		{"data:text/html,<script>alert(1)</script>", ""},
		{"ftp://app.example.org/", ""},
		{"account", ""}, // relative, not a path
		{" https://auth.example.com/", ""},
		{"https://auth.example.com/\t", ""},
		{"/\naccount", ""},
		{"/account\r\nSet-Cookie: x=y", ""},
		{"", ""},
	} {
		got, ok := r.Target(c.rd)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("Target(%q) = %q, %v; want %q", c.rd, got, ok, c.want)
		}
	}
}

func TestRedirectsOverPlainHTTPInDevelopment(t *testing.T) {
	pub, _ := url.Parse("http://127.0.0.1:8000")
	r, err := NewRedirects(pub, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	for rd, want := range map[string]string{
		"http://127.0.0.1:8000/account": "http://127.0.0.1:8000/account",
		"http://localhost:3000/app":     "http://localhost:3000/app",
		"https://localhost/app":         "https://localhost/app",
		"http://127.0.0.1:9000/":        "", // another port of our host is another origin, and not listed
	} {
		if got, _ := r.Target(rd); got != want {
			t.Errorf("Target(%q) = %q, want %q", rd, got, want)
		}
	}
	if got := r.FormActionSources(); !slices.Equal(got, []string{"'self'", "https://localhost:*", "http://localhost:*"}) {
		t.Errorf("form-action sources %v", got)
	}
}

func TestRedirectDomainsAreValidated(t *testing.T) {
	pub, _ := url.Parse("https://auth.example.com")
	for _, bad := range []string{"*", "*.", "https://x.com", "x.com/path", "*.*.x.com", "x.com:443", "a b.com", ".x.com"} {
		if _, err := NewRedirects(pub, []string{bad}); err == nil {
			t.Errorf("domain %q accepted", bad)
		}
	}
	if _, err := NewRedirects(&url.URL{Path: "/x"}, nil); err == nil {
		t.Error("a relative public URL accepted")
	}
}

func TestOriginalURLIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	p, _ := ParseProxies([]string{"10.0.0.0/8"})
	req := func(remote string, h ...string) *http.Request {
		r := httptest.NewRequest("GET", "/auth/verify", nil)
		r.RemoteAddr = remote
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	for _, c := range []struct {
		r    *http.Request
		want string
	}{
		{req("10.1.2.3:5000", "X-Original-URL", "https://app.example.com/a?b=c"), "https://app.example.com/a?b=c"},
		{req("10.1.2.3:5000", "X-Forwarded-Proto", "HTTPS", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "/d?e=f"), "https://app.example.com/d?e=f"},
		{req("10.1.2.3:5000", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.com, app.example.com"), "https://app.example.com/"},
		{req("10.1.2.3:5000", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example.com", "X-Forwarded-Uri", "@evil.com/"), ""},
		{req("10.1.2.3:5000", "X-Forwarded-Host", "app.example.com"), ""},
		{req("192.0.2.1:5000", "X-Original-URL", "https://app.example.com/"), ""}, // not a proxy of ours
	} {
		got, ok := p.OriginalURL(c.r)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("OriginalURL(%v) = %q, %v; want %q", c.r.Header, got, ok, c.want)
		}
	}
	var none *Proxies
	if _, ok := none.OriginalURL(req("10.1.2.3:1", "X-Original-URL", "https://x/")); ok {
		t.Error("no proxies configured, yet a header believed")
	}
}
