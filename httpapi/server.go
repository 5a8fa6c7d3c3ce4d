// Package httpapi is Gatehouse's HTTP server: every route in one place
// (routes), one handler method per endpoint that decodes, validates, calls
// the domain and encodes, and one error path (httperror).
package httpapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/oauth"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/revstream"
	"github.com/gatehouse/gatehouse/web"
)

// MaxBodyBytes is the largest request body accepted (contract §2).
const MaxBodyBytes = 1 << 20

// Config configures a Server. Auth and Store are required; the rest have
// safe defaults.
type Config struct {
	Auth     *auth.Service
	Store    gatehouse.Store
	Logger   *slog.Logger
	Security *httpsec.Layer   // default: security headers only
	Proxies  *httpsec.Proxies // whose X-Forwarded-* are believed; default none
	Metrics  *metrics.Metrics
	Auditor  gatehouse.Auditor
	// RateStore keeps rate-limit state; default an in-memory store.
	RateStore ratelimit.Store
	// LoginLimit applies per client IP and per username; default 10/minute.
	LoginLimit ratelimit.Limit
	// DeviceMarks remembers the addresses each user logged in from, which
	// the per-username login limit exempts (checkLogin); default in
	// memory, 100,000 marks. Instances behind one name share one (Redis).
	DeviceMarks ratelimit.MarkStore
	// LoginKey keys the hashes under which the login limits and the
	// device marks name usernames and addresses in their stores, so that
	// neither holds a name (perhaps a password typed in the wrong field)
	// or an address as sent. Instances sharing a store must share it.
	// Empty: a random one, for this Server's lifetime.
	LoginKey []byte
	// RefreshLimit applies to refreshes (POST /token/refresh and the
	// refresh_token grant) per client IP; default 60/minute. Each session
	// is limited besides, by the auth service (contract §12).
	RefreshLimit ratelimit.Limit
	// RouteLimits limit routes per client IP, keyed by route pattern as
	// registered ("GET /items"). GET /limited has 5 a minute, as in the
	// guide, unless it is set here. An unknown pattern is an error.
	RouteLimits map[string]ratelimit.Limit
	// Ready reports on dependencies beyond the store (Redis); may be nil.
	Ready func(ctx context.Context) error
	Now   func() time.Time
	// JWKS serves /.well-known/jwks.json (keys.Manager.Handler); nil: 404.
	// Its Cache-Control is its own: nothing here replaces it.
	JWKS http.Handler
	// Revocations serves /revocations/stream; nil: 404.
	Revocations *revstream.Hub
	// Redirects are where the login page and the forward-auth portal may
	// send a browser, and name the public URL (contract §11); default:
	// http://127.0.0.1:8000 and no other host.
	Redirects *httpsec.Redirects
	// CookieDomain is the session cookie's Domain; empty: none (host only).
	CookieDomain string
	// IDTokenAlgs are the algorithms of the asymmetric keys ID tokens may
	// be signed with, the default first; default RS256 (contract §13).
	IDTokenAlgs []string
}

// DefaultRefreshLimit is how many refreshes one client address may make:
// a client refreshes once per access-token lifetime (15 minutes), so 60 a
// minute serves several hundred sessions behind one address while bounding
// what one client can make the store write. Raise it
// (GATEHOUSE_REFRESH_RATE_LIMIT) for a large NAT.
var DefaultRefreshLimit = ratelimit.Limit{Rate: 60, Period: time.Minute, Burst: 60}

// Server serves the Gatehouse HTTP API.
type Server struct {
	cfg         Config
	auth        *auth.Service
	store       gatehouse.Store
	log         *slog.Logger
	guard       *guard.Guard
	met         *metrics.Metrics
	audit       gatehouse.Auditor
	now         func() time.Time
	routeLimits map[string]*ratelimit.Limiter // by route pattern, per client IP
	loginIP     *ratelimit.Limiter
	loginUN     *ratelimit.Limiter
	refreshIP   *ratelimit.Limiter
	mux         *http.ServeMux
	handler     http.Handler
	patterns    []string // every registered pattern, for the OpenAPI check
	pages       []string // the browser pages' patterns (web), not in the API document
	web         *web.Handler
	browser     *guard.Guard    // s.guard, and the session cookie too: sessions.go
	verifyReqs  verifyCache     // parsed /auth/verify requirements, by query
	oauth       *oauth.Provider // the OAuth provider: oauth.go
}

// Routes returns every registered route pattern ("METHOD /path").
func (s *Server) Routes() []string { return s.patterns }

// New returns a Server with every route registered.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Auditor == nil {
		cfg.Auditor = nopAuditor{}
	}
	if cfg.Security == nil {
		l, err := httpsec.New(httpsec.Config{Proxies: cfg.Proxies})
		if err != nil {
			return nil, err
		}
		cfg.Security = l
	}
	if cfg.RateStore == nil {
		cfg.RateStore = ratelimit.NewMemoryStore(100_000)
	}
	if cfg.LoginLimit.Rate == 0 {
		cfg.LoginLimit = ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 10}
	}
	if cfg.RefreshLimit.Rate == 0 {
		cfg.RefreshLimit = DefaultRefreshLimit
	}
	if cfg.DeviceMarks == nil {
		cfg.DeviceMarks = ratelimit.NewMemoryMarks(100_000)
	}
	if len(cfg.LoginKey) == 0 {
		cfg.LoginKey = make([]byte, 32)
		rand.Read(cfg.LoginKey)
	}
	s := &Server{cfg: cfg, auth: cfg.Auth, store: cfg.Store, log: cfg.Logger, met: cfg.Metrics,
		audit: cfg.Auditor, now: cfg.Now, mux: http.NewServeMux()}
	limits := map[string]ratelimit.Limit{"GET /limited": {Rate: 5, Period: time.Minute, Burst: 5},
		// Passkey ceremonies begin without a credential (the login page's
		// autofill begins one at every load).
		web.PasskeyRoutes.LoginBegin:    {Rate: 30, Period: time.Minute, Burst: 30},
		web.PasskeyRoutes.RegisterBegin: {Rate: 30, Period: time.Minute, Burst: 30}}
	maps.Copy(limits, cfg.RouteLimits)
	s.routeLimits = make(map[string]*ratelimit.Limiter, len(limits))
	for route, l := range limits {
		lim, err := ratelimit.New(cfg.RateStore, l, cfg.Now)
		if err != nil {
			return nil, fmt.Errorf("httpapi: limit of %s: %w", route, err)
		}
		s.routeLimits[route] = lim
	}
	var err error
	if s.loginIP, err = ratelimit.New(cfg.RateStore, cfg.LoginLimit, cfg.Now); err != nil {
		return nil, err
	}
	if s.loginUN, err = ratelimit.New(cfg.RateStore, cfg.LoginLimit, cfg.Now); err != nil {
		return nil, err
	}
	if s.refreshIP, err = ratelimit.New(cfg.RateStore, cfg.RefreshLimit, cfg.Now); err != nil {
		return nil, err
	}
	s.guard = guard.New(cfg.Auth, s.keyAuthenticator(), s.log)
	s.guard.OnDenied = s.denied
	s.guard.OnError = s.error
	if err := s.newWeb(); err != nil {
		return nil, err
	}
	if err := s.newOAuth(); err != nil {
		return nil, err
	}
	s.routes()
	for route := range limits {
		if !slices.Contains(s.patterns, route) && !slices.Contains(s.pages, route) {
			return nil, fmt.Errorf("httpapi: a rate limit names %q, which is not a route", route)
		}
	}
	// observe is outermost, so a recovered panic is counted, logged with
	// its request id and answered with the X-Request-Id header.
	s.handler = s.observe(s.recoverer(cfg.Security.Wrap(s.limitBody(s.mux))))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// handlerFunc is a handler that returns its error for the one error path.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.error(w, r, err)
		}
	})
}

// error answers err through the one error path, with Retry-After when one
// of the auth service's limits refused the request.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	httperror.Write(w, r, s.log, withRetryAfter(w, err))
}

// denied audits an authenticated principal that a route's requirement
// refused (a missing scope, role or permission). Refused API keys are
// audited where keys are checked, in auth.
func (s *Server) denied(r *http.Request, p *gatehouse.Principal, err error) {
	s.audit.Record(r.Context(), gatehouse.AuditEvent{Type: gatehouse.EventPermissionRefused, Outcome: gatehouse.OutcomeFailure,
		UserID: p.User.ID, Username: p.User.Username, Detail: gatehouse.ErrorMessage(err)})
}

// handle registers h for pattern ("METHOD /path") and for the same path with
// a trailing slash (contract §2), recording the pattern for metrics.
func (s *Server) handle(pattern string, h http.Handler) {
	route := pattern
	s.patterns = append(s.patterns, pattern)
	if lim := s.routeLimits[pattern]; lim != nil {
		h = s.limitRoute(route, lim, h)
	}
	labelled := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatehouse.RequestInfoFrom(r.Context()).Route = route
		h.ServeHTTP(w, r)
	})
	s.mux.Handle(pattern, labelled)
	if !strings.HasSuffix(pattern, "/") {
		s.mux.Handle(pattern+"/{$}", labelled)
	}
}

// routes registers every route. Read this to know the API.
func (s *Server) routes() {
	authed := s.guard.Require()

	s.handle("GET /health", s.wrap(s.handleHealth))
	s.handle("POST /token", s.wrap(s.handleToken))
	s.handle("POST /token/refresh", s.wrap(s.handleRefresh))
	s.handle("GET /users/me", authed(s.wrap(s.handleMe)))
	s.handle("POST /logout", authed(s.wrap(s.handleLogout)))
	s.handle("GET /limited", s.wrap(s.handleLimited))

	s.routesOps()              // ops.go: /ready, /metrics, /openapi.json, /docs, /audit
	s.routesAdmin()            // admin.go: /users, /users/{id}
	s.routesAPIKeys()          // apikeys.go: /api-keys, /protected
	s.routesExamples()         // examples.go: /items, /comments, /moderate
	s.routesTwoFactor()        // twofactor.go: /2fa/*
	s.routesForwardAuth()      // forwardauth.go: /auth/verify
	s.routesKeys()             // keys.go: /.well-known/jwks.json, /revocations/stream
	s.routesSessions()         // sessions.go: /sessions, /users/{id}/sessions
	s.routesOAuth()            // oauth.go: discovery, /authorize, /userinfo, /introspect, /revoke, /end-session
	s.routesClients()          // clients.go: /clients, /clients/{id} (OAuth client admin)
	s.web.Routes(s.handlePage) // web: /login, /sign-out, /account…, /admin…, /static/*

	s.mux.Handle("/", s.wrap(s.handleNoRoute))
}

// probeMethods are the methods tried when telling 405 from 404.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// handleNoRoute answers requests no route matched: 405 with Allow when the
// path exists under other methods, else 404, both as JSON.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range probeMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return gatehouse.Errorf(gatehouse.EMETHOD, "Method Not Allowed")
	}
	return gatehouse.Errorf(gatehouse.ENOTFOUND, "Not Found")
}

type nopAuditor struct{}

func (nopAuditor) Record(context.Context, gatehouse.AuditEvent) {}
