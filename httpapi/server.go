// Package httpapi is Gatehouse's HTTP server: every route in one place
// (routes), one handler method per endpoint that decodes, validates, calls
// the domain and encodes, and one error path (httperror).
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
)

// MaxBodyBytes is the largest request body accepted (contract §2).
const MaxBodyBytes = 1 << 20

// Config configures a Server. Auth and Store are required.
type Config struct {
	Auth   *auth.Service
	Store  gatehouse.Store
	Logger *slog.Logger
}

// Server serves the Gatehouse HTTP API.
type Server struct {
	auth    *auth.Service
	store   gatehouse.Store
	log     *slog.Logger
	guard   *guard.Guard
	mux     *http.ServeMux
	handler http.Handler
}

// New returns a Server with every route registered.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{auth: cfg.Auth, store: cfg.Store, log: log, mux: http.NewServeMux()}
	s.guard = guard.New(cfg.Auth, nil, log)
	s.routes()
	s.handler = s.recoverer(s.limitBody(s.mux))
	return s
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

func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	httperror.Write(w, r, s.log, err)
}

// handle registers h for pattern ("METHOD /path") and for the same path with
// a trailing slash (contract §2).
func (s *Server) handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	if !strings.HasSuffix(pattern, "/") {
		s.mux.Handle(pattern+"/{$}", h)
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
