package httpapi

import (
	"errors"
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
// and refuses a request that carries both Content-Length and
// Transfer-Encoding (RFC 9112 §6.1: such a message may be an attempt at
// request smuggling; answer once and close the connection).
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 && (r.ContentLength > 0 || len(r.Header.Values("Content-Length")) > 0) {
			w.Header().Set("Connection", "close")
			s.error(w, r, gatehouse.Errorf(gatehouse.EBADREQUEST, "Both Content-Length and Transfer-Encoding"))
			return
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
