package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/internal/testservice"
	"github.com/gatehouse/gatehouse/metrics"
)

// discardWriter is a ResponseWriter reused across iterations, so that the
// benchmark measures the server rather than a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

func newBenchServer(b *testing.B, met *metrics.Metrics) *httpapi.Server {
	b.Helper()
	svc, store := testservice.New(b, testservice.Options{Metrics: met})
	// The security layer as serve builds it, with a trusted host list and
	// a proxy list, so the checks it makes on every request are counted.
	proxies, err := httpsec.ParseProxies([]string{"10.0.0.0/8"})
	if err != nil {
		b.Fatal(err)
	}
	layer, err := httpsec.New(httpsec.Config{Proxies: proxies, TrustedHosts: []string{"api.example.com", "*.example.org"}})
	if err != nil {
		b.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Auth: svc, Store: store, Security: layer, Proxies: proxies, Metrics: met})
	if err != nil {
		b.Fatal(err)
	}
	return api
}

// BenchmarkChain measures a request through the whole middleware chain
// (recoverer, observe, the security layer, limitBody, the mux) to a
// trivial handler, GET /health. "handler only" is the same handler and
// route on a bare mux: the difference is the chain's cost.
func BenchmarkChain(b *testing.B) {
	req := httptest.NewRequest("GET", "/health", nil)
	req.Host = "api.example.com"
	req.RemoteAddr = "192.0.2.1:4711"
	run := func(b *testing.B, h http.Handler, r *http.Request) {
		w := &discardWriter{h: make(http.Header, 16)}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	b.Run("handler only", func(b *testing.B) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
			httperror.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		run(b, mux, req)
	})
	b.Run("chain", func(b *testing.B) {
		run(b, newBenchServer(b, nil), req)
	})
	b.Run("chain with metrics", func(b *testing.B) {
		run(b, newBenchServer(b, metrics.New(nil)), req)
	})
	b.Run("chain with metrics and a request id", func(b *testing.B) {
		r := req.Clone(context.Background())
		r.Header.Set("X-Request-ID", "0123456789abcdef01234567")
		run(b, newBenchServer(b, metrics.New(nil)), r)
	})
}
