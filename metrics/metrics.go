// Package metrics defines Gatehouse's Prometheus metrics on a registry of
// its own (never the global one). Every method is safe on a nil *Metrics,
// so libraries and tests can run without metrics.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors.
type Metrics struct {
	Registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	logins          *prometheus.CounterVec
	tokensIssued    *prometheus.CounterVec
	refreshReuse    prometheus.Counter
	revocations     *prometheus.CounterVec
	rateLimited     *prometheus.CounterVec
	hashWait        prometheus.Histogram
	apiKeyAuth      *prometheus.CounterVec
	twoFactorChecks *prometheus.CounterVec
	byRequest       sync.Map // requestKey → requestSeries
}

// New registers every collector on a new registry. queueDepth reports the
// password-hashing pool's queue (may be nil).
func New(queueDepth func() int) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_http_requests_total",
			Help: "HTTP requests by route pattern, method and status."}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern and method.", Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
			[]string{"route", "method"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_logins_total",
			Help: "Password logins by outcome."}, []string{"outcome"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_tokens_issued_total",
			Help: "Tokens issued by grant (password, refresh)."}, []string{"grant"}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_refresh_reuse_detected_total",
			Help: "Spent refresh tokens presented again after the grace window; each revoked a session."}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_revocations_total",
			Help: "Revocations by reason (logout, reuse)."}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_rate_limited_total",
			Help: "Requests refused by a rate limit, by limit name."}, []string{"limit"}),
		hashWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gatehouse_password_hash_wait_seconds",
			Help: "Time password-hashing jobs waited for a worker.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		apiKeyAuth: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_api_key_authentications_total",
			Help: "API key authentications by outcome."}, []string{"outcome"}),
		twoFactorChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_2fa_checks_total",
			Help: "Second-factor checks by outcome."}, []string{"outcome"}),
	}
	reg.MustRegister(m.requests, m.latency, m.logins, m.tokensIssued, m.refreshReuse, m.revocations,
		m.rateLimited, m.hashWait, m.apiKeyAuth, m.twoFactorChecks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queueDepth != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_password_hash_queue_depth",
			Help: "Password-hashing jobs waiting for a worker."}, func() float64 { return float64(queueDepth()) }))
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Request records one HTTP request. The method is reduced to the standard
// ones (methodLabel) before it names a series.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	method = methodLabel(method)
	k := requestKey{route, method, status}
	v, ok := m.byRequest.Load(k)
	if !ok {
		v, _ = m.byRequest.LoadOrStore(k, requestSeries{
			count:   m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
			latency: m.latency.WithLabelValues(route, method),
		})
	}
	rs := v.(requestSeries)
	rs.count.Inc()
	rs.latency.Observe(d.Seconds())
}

// methodLabel returns method if it is one of the methods Gatehouse serves or
// a client commonly sends, and "OTHER" for anything else. Any token is a
// valid HTTP method, so labelling by the raw method would let a client
// create series (and cache entries) without bound.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

// requestKey and requestSeries cache the labelled series of each route,
// method and status, so the per-request cost is one map lookup without
// formatting or hashing label values.
type requestKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// Login records a password login's outcome ("success", "failure", "inactive", "mfa_required", …).
func (m *Metrics) Login(outcome string) {
	if m != nil {
		m.logins.WithLabelValues(outcome).Inc()
	}
}

// TokenIssued records an issued token pair by grant.
func (m *Metrics) TokenIssued(grant string) {
	if m != nil {
		m.tokensIssued.WithLabelValues(grant).Inc()
	}
}

// RefreshReuse records a detected refresh-token reuse.
func (m *Metrics) RefreshReuse() {
	if m != nil {
		m.refreshReuse.Inc()
	}
}

// Revocation records a revocation by reason.
func (m *Metrics) Revocation(reason string) {
	if m != nil {
		m.revocations.WithLabelValues(reason).Inc()
	}
}

// RateLimited records a refusal by the named limit.
func (m *Metrics) RateLimited(limit string) {
	if m != nil {
		m.rateLimited.WithLabelValues(limit).Inc()
	}
}

// HashWait records how long a hashing job waited.
func (m *Metrics) HashWait(d time.Duration) {
	if m != nil {
		m.hashWait.Observe(d.Seconds())
	}
}

// APIKeyAuth records an API key authentication outcome.
func (m *Metrics) APIKeyAuth(outcome string) {
	if m != nil {
		m.apiKeyAuth.WithLabelValues(outcome).Inc()
	}
}

// TwoFactor records a second-factor check outcome.
func (m *Metrics) TwoFactor(outcome string) {
	if m != nil {
		m.twoFactorChecks.WithLabelValues(outcome).Inc()
	}
}
