package httpsec_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/httpsec"
)

// discard is a ResponseWriter whose header map is reused, so that the
// benchmarks count the layer's cost, not the recorder's.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkChain measures the whole layer (headers, host check, HTTPS
// decision through a trusted proxy, CORS for a listed origin) around a
// handler that does nothing.
func BenchmarkChain(b *testing.B) {
	p, err := httpsec.ParseProxies([]string{"10.0.0.0/8"})
	if err != nil {
		b.Fatal(err)
	}
	l, err := httpsec.New(httpsec.Config{
		Proxies:       p,
		TrustedHosts:  []string{"api.example.com", "*.example.org"},
		HTTPSRedirect: true,
		CORSOrigins:   []string{"https://app.example.com"},
	})
	if err != nil {
		b.Fatal(err)
	}
	h := l.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "http://api.example.com:8000/items?x=1", nil)
	r.RemoteAddr = "10.0.0.1:4711"
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("Origin", "https://app.example.com")
	w := &discard{h: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if w.h.Get("Access-Control-Allow-Origin") == "" || w.h.Get("Strict-Transport-Security") == "" {
		b.Fatalf("the benchmark did not take the full path: %v", w.h)
	}
}

func BenchmarkClientIP(b *testing.B) {
	p, err := httpsec.ParseProxies([]string{"10.0.0.0/8", "2001:db8:1::/48"})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:4711"
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.9, 10.1.1.1, 10.2.2.2")
	b.ReportAllocs()
	for b.Loop() {
		if !p.ClientIP(r).IsValid() {
			b.Fatal("no client")
		}
	}
}
