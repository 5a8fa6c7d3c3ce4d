package web

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/httpsec"
)

func TestCookieForm(t *testing.T) {
	for _, c := range []struct {
		public, domain string
		want           cookieSpec
	}{
		{"http://127.0.0.1:8000", "", cookieSpec{name: "gatehouse"}},
		{"https://auth.example.com", "", cookieSpec{name: "__Host-gatehouse", secure: true}},
		{"https://auth.example.com", "example.com", cookieSpec{name: "__Secure-gatehouse", domain: "example.com", secure: true}},
	} {
		u, _ := url.Parse(c.public)
		if got := CookieFor(u, c.domain); got != c.want {
			t.Errorf("CookieFor(%s, %q) = %+v, want %+v", c.public, c.domain, got, c.want)
		}
	}
}

func TestDescribeAgent(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36":          "Chrome on Linux",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604": "Safari on iOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0":                           "Firefox on Windows",
		"curl/8.5.0": "curl",
		"":           "Unknown client",
	} {
		if got := describeAgent(ua); got != want {
			t.Errorf("describeAgent(%q) = %q, want %q", ua, got, want)
		}
	}
}

// An origin handed to the login page's form-action (an OAuth client's
// redirect origin) cannot add a directive or a source to the policy.
func TestCSPFormActionTakesNoInjectedSource(t *testing.T) {
	pub, _ := url.Parse("https://auth.example.com")
	red, err := httpsec.NewRedirects(pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{cfg: Config{Redirects: red}}
	csp := h.cspWith([]string{"https://app.example.com", "https://a.example; script-src *", "https://b.example 'unsafe-inline'",
		"https://c.example,https://d.example", `https://e.example"`})
	want := "form-action 'self' https://app.example.com; frame-ancestors"
	if !strings.Contains(csp, want) || strings.Count(csp, "script-src") != 1 || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("policy %q, want its form-action to be %q", csp, want)
	}
}
