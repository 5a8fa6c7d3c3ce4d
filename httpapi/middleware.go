package httpapi

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"

	"github.com/gatehouse/gatehouse"
)

// recoverer turns a panic in a handler into a logged 500 JSON answer; no
// panic reaches a client or takes the server down.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic in handler", "method", r.Method, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				s.error(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies at MaxBodyBytes (contract §2: 413 beyond)
// and closes the connection after any request sent with Transfer-Encoding.
// net/http drops Content-Length when both are present (RFC 9112 §6.1), so
// the two can no longer be told apart here; closing the connection is what
// makes sure nothing smuggled behind such a request is ever answered.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		if r.ContentLength > MaxBodyBytes {
			w.Header().Set("Connection", "close")
			s.error(w, r, errTooLarge)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

var errTooLarge = gatehouse.Errorf(gatehouse.ETOOLARGE, "Request body too large")

// observe gives each request its RequestInfo (request id, client IP, user
// agent, path without query) and, once answered, records its metrics and
// a debug-level access line. It runs on every request, so it allocates
// once for its own state and reads headers by their canonical keys.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		st := &requestState{statusWriter: statusWriter{ResponseWriter: w, status: http.StatusOK}}
		ri := &st.info
		if v := r.Header["X-Request-Id"]; len(v) == 1 && validRequestID(v[0]) {
			ri.RequestID = v[0]
		} else {
			ri.RequestID = newRequestID()
		}
		st.requestID[0] = ri.RequestID
		w.Header()["X-Request-Id"] = st.requestID[:] // full (len == cap): an Add copies it
		ri.UserAgent, ri.Path = r.UserAgent(), r.URL.Path
		ri.ClientAddr = s.cfg.Proxies.ClientIP(r)
		ctx := gatehouse.WithRequestInfo(r.Context(), ri)
		next.ServeHTTP(&st.statusWriter, r.WithContext(ctx))
		d := s.now().Sub(start)
		route := ri.Route
		if route == "" {
			route = "unmatched"
		}
		s.met.Request(route, r.Method, st.status, d)
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", st.status), slog.Duration("duration", d), slog.String("client_ip", ri.ClientIP()))
		}
	})
}

// requestState is observe's per-request state in one allocation.
type requestState struct {
	info      gatehouse.RequestInfo
	requestID [1]string // the X-Request-Id header's value slice
	statusWriter
}

// validRequestID accepts a caller's X-Request-ID only if it is short and
// plain, so it cannot inject anything into logs.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newRequestID returns 96 random bits in hex. A request id names a request
// in logs and is no secret, so it comes from the runtime's per-thread
// ChaCha8 generator (math/rand/v2) rather than the kernel: no system call
// per request.
func newRequestID() string {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// LogHandler adds the request id of the context to every log record, so
// every line a request causes can be found by it.
type LogHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h LogHandler) Handle(ctx context.Context, rec slog.Record) error {
	if ri := gatehouse.RequestInfoFrom(ctx); ri.RequestID != "" {
		rec.AddAttrs(slog.String("request_id", ri.RequestID))
	}
	return h.Handler.Handle(ctx, rec)
}

// WithAttrs implements slog.Handler.
func (h LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h LogHandler) WithGroup(name string) slog.Handler { return LogHandler{h.Handler.WithGroup(name)} }
