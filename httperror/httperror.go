// Package httperror is the one path from an error to an HTTP response: it
// maps gatehouse error codes to the contract's status codes and JSON bodies
// (contract §2), sets the RFC 6750 WWW-Authenticate challenge, and logs what
// a client must not see. The server and the guard middleware both answer
// through it, so a failure looks the same wherever it happens.
package httperror

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse"
)

// Status returns the HTTP status for an error code.
func Status(code string) int {
	switch code {
	case gatehouse.EINVALID:
		return http.StatusUnprocessableEntity
	case gatehouse.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case gatehouse.EFORBIDDEN:
		return http.StatusForbidden
	case gatehouse.ENOTFOUND:
		return http.StatusNotFound
	case gatehouse.EMETHOD:
		return http.StatusMethodNotAllowed
	case gatehouse.ECONFLICT:
		return http.StatusConflict
	case gatehouse.EINACTIVE, gatehouse.EBADREQUEST:
		return http.StatusBadRequest
	case gatehouse.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case gatehouse.ERATELIMIT:
		return http.StatusTooManyRequests
	case gatehouse.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fieldError is the contract's 422 list item, FastAPI's shape.
type fieldError struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// Write answers with err. Internal errors (anything that is not a
// *gatehouse.Error, or one with code EINTERNAL) are logged with their cause
// and answered with a generic 500; a *gatehouse.Error's public message is
// sent, never its cause.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *gatehouse.Error
	if !errors.As(err, &e) {
		e = &gatehouse.Error{Code: gatehouse.EINTERNAL, Err: err}
	}
	status := Status(e.Code)
	if status >= 500 && log != nil {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	h := w.Header()
	switch {
	case status == http.StatusUnauthorized && e.OAuth == "invalid_token":
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	case status == http.StatusUnauthorized:
		h.Set("WWW-Authenticate", "Bearer")
	case e.OAuth == "insufficient_scope":
		h.Set("WWW-Authenticate", `Bearer scope="`+e.Scope+`", error="insufficient_scope"`)
	}
	if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1")
	}
	body := map[string]any{"detail": gatehouse.ErrorMessage(err)}
	if e.Code == gatehouse.EINTERNAL {
		body["detail"] = "Internal server error"
	}
	if len(e.Fields) > 0 {
		list := make([]fieldError, len(e.Fields))
		for i, f := range e.Fields {
			list[i] = fieldError(f)
		}
		body["detail"] = list
	}
	// RFC 6749 §5.2 fields on token-endpoint errors; invalid_token and
	// insufficient_scope travel in WWW-Authenticate (RFC 6750 §3).
	if e.OAuth != "" && e.OAuth != "invalid_token" && e.OAuth != "insufficient_scope" {
		body["error"] = e.OAuth
		body["error_description"] = gatehouse.ErrorMessage(err)
	}
	var rs *reasoned
	if errors.As(err, &rs) {
		body["error"] = rs.reason
	}
	JSON(w, status, body)
}

// WithReason returns err to be answered as Write answers it, with reason
// as the body's "error" field: a machine-readable cause, beside the
// human-readable detail, for clients that act on it (/auth/verify's
// refusals, which guard.Remote reads). It is meant for answers that carry
// no RFC 6749 error code, which it would replace.
func WithReason(err error, reason string) error { return &reasoned{err: err, reason: reason} }

type reasoned struct {
	err    error
	reason string
}

func (e *reasoned) Error() string { return e.err.Error() }
func (e *reasoned) Unwrap() error { return e.err }

var jsonType = []string{"application/json"}

// JSON writes v as a JSON response with status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"Internal server error"}`)
	}
	h := w.Header()
	h["Content-Type"] = jsonType // canonical key, shared full slice: no allocation
	h["Content-Length"] = []string{strconv.Itoa(len(b) + 1)}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
