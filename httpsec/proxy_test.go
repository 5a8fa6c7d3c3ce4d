package httpsec_test

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gatehouse/gatehouse/httpsec"
)

func mustProxies(t testing.TB, cidrs ...string) *httpsec.Proxies {
	t.Helper()
	p, err := httpsec.ParseProxies(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientIP(t *testing.T) {
	p := mustProxies(t, "10.0.0.0/8", "2001:db8:1::/48", "127.0.0.1")
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"untrusted peer is the client", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"forged XFF from an untrusted peer changes nothing", "203.0.113.7:5000", []string{"1.1.1.1"}, "203.0.113.7"},
		{"trusted peer without XFF is the client", "10.0.0.1:80", nil, "10.0.0.1"},
		{"trusted peer: last entry is the client", "10.0.0.1:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"spoofed left-most entries are ignored", "10.0.0.1:80", []string{"6.6.6.6, 7.7.7.7, 198.51.100.9"}, "198.51.100.9"},
		{"trusted hops are skipped", "10.0.0.1:80", []string{"6.6.6.6, 198.51.100.9, 10.1.1.1, 10.2.2.2"}, "198.51.100.9"},
		{"several header lines form one list", "10.0.0.1:80", []string{"6.6.6.6, 198.51.100.9", "10.1.1.1"}, "198.51.100.9"},
		{"every hop trusted: the left-most hop", "10.0.0.1:80", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"garbage stops the walk at the last trusted hop", "10.0.0.1:80", []string{"198.51.100.9, garbage, 10.2.2.2"}, "10.2.2.2"},
		{"garbage as the last entry: the peer", "10.0.0.1:80", []string{"198.51.100.9, unknown"}, "10.0.0.1"},
		{"empty entry is garbage", "10.0.0.1:80", []string{"198.51.100.9,"}, "10.0.0.1"},
		{"garbage left of the client is never read", "10.0.0.1:80", []string{"<script>, 198.51.100.9"}, "198.51.100.9"},
		{"entry with a port", "10.0.0.1:80", []string{"198.51.100.9:4711"}, "198.51.100.9"},
		{"IPv6 peer untrusted", "[2001:db8:2::5]:443", []string{"1.1.1.1"}, "2001:db8:2::5"},
		{"IPv6 proxy and IPv6 client", "[2001:db8:1::1]:443", []string{"2001:db8:9::abcd"}, "2001:db8:9::abcd"},
		{"IPv6 entry with brackets and port", "[2001:db8:1::1]:443", []string{"[2001:db8:9::abcd]:4711"}, "2001:db8:9::abcd"},
		{"IPv6 entry with brackets", "10.0.0.1:80", []string{"[2001:db8:9::abcd]"}, "2001:db8:9::abcd"},
		{"IPv4-mapped peer is the IPv4 address", "[::ffff:10.0.0.1]:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"IPv4-mapped entry is unmapped", "10.0.0.1:80", []string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		{"a bare IP proxy is a /32", "127.0.0.2:80", []string{"198.51.100.9"}, "127.0.0.2"},
		{"zone is dropped", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"non-IP RemoteAddr gives the zero Addr", "@", []string{"198.51.100.9"}, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header["X-Forwarded-For"] = tt.xff
			if got := p.ClientIP(r).String(); got != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNilProxiesTrustNobody(t *testing.T) {
	var p *httpsec.Proxies
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	r.Header.Set("X-Forwarded-Proto", "https")
	if got := p.ClientIP(r); got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("ClientIP = %s, want the peer", got)
	}
	if p.IsHTTPS(r) {
		t.Error("IsHTTPS believed X-Forwarded-Proto with no proxy configured")
	}
}

func TestIsHTTPS(t *testing.T) {
	p := mustProxies(t, "10.0.0.0/8")
	tests := []struct {
		name   string
		remote string
		tls    bool
		xfp    []string
		want   bool
	}{
		{"TLS connection", "203.0.113.7:1", true, nil, true},
		{"plain connection", "203.0.113.7:1", false, nil, false},
		{"https from a trusted proxy", "10.0.0.1:1", false, []string{"https"}, true},
		{"HTTPS in capitals from a trusted proxy", "10.0.0.1:1", false, []string{"HTTPS"}, true},
		{"http from a trusted proxy", "10.0.0.1:1", false, []string{"http"}, false},
		{"forged https from an untrusted peer", "203.0.113.7:1", false, []string{"https"}, false},
		{"list: the nearest proxy's value counts", "10.0.0.1:1", false, []string{"https, http"}, false},
		{"list: https last", "10.0.0.1:1", false, []string{"http", "https"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			r.Header["X-Forwarded-Proto"] = tt.xfp
			if got := p.IsHTTPS(r); got != tt.want {
				t.Errorf("IsHTTPS = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseProxies(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		wantErr bool
	}{
		{"CIDRs and bare addresses", []string{"10.0.0.0/8", "127.0.0.1", "::1", "2001:db8::/32"}, false},
		{"blank entries are skipped", []string{"", " "}, false},
		{"host bits are masked, not refused", []string{"10.1.2.3/8"}, false},
		{"garbage", []string{"ten.0.0.0/8"}, true},
		{"bad prefix length", []string{"10.0.0.0/33"}, true},
		{"zone", []string{"fe80::1%eth0"}, true},
		{"host name", []string{"proxy.internal"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpsec.ParseProxies(tt.in)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}
