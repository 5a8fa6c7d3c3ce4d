package httpapi

import (
	"context"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
)

// openAPI is the OpenAPI 3.1 document of every route; a test holds it equal
// to the router's routes, both ways.
//
//go:embed openapi.json
var openAPI []byte

// docsFS holds the /docs page and its script and style sheet, so the page
// works offline: nothing is loaded from anywhere but this binary.
//
//go:embed docs
var docsFS embed.FS

// docsCSP lets the /docs page load its own script, style sheet and the
// document, and nothing else; it still may not be framed.
const docsCSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// readyTimeout bounds how long /ready waits for a dependency: a check that
// hangs is as bad as one that fails.
const readyTimeout = 2 * time.Second

// Audit page sizes (GET /audit).
const (
	auditDefaultLimit = 50
	auditMaxLimit     = 200
)

// routesOps registers /ready, /metrics, /openapi.json, /docs and /audit.
func (s *Server) routesOps() {
	s.handle("GET /ready", s.wrap(s.handleReady))
	var metricsHandler http.Handler
	if s.met != nil {
		metricsHandler = s.met.Handler()
	}
	s.handle("GET /metrics", s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		if metricsHandler == nil {
			return errNotFound
		}
		metricsHandler.ServeHTTP(w, r)
		return nil
	}))
	s.handle("GET /openapi.json", s.wrap(s.handleOpenAPI))
	s.handle("GET /docs", s.wrap(s.handleDocs))
	s.handle("GET /docs/{asset}", s.wrap(s.handleDocsAsset))
	admin := s.guard.Require(guard.Permission(gatehouse.PermReadUsers), guard.Scopes(gatehouse.ScopeAdmin))
	s.handle("GET /audit", admin(s.wrap(s.handleAudit)))
}

var errNotFound = gatehouse.Errorf(gatehouse.ENOTFOUND, "Not Found")

// handleReady answers 200 only when the database, and every dependency
// cfg.Ready checks, answer within readyTimeout; otherwise 503 naming the
// dependency (the cause is logged, not sent).
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Database not ready", Err: err}
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(ctx); err != nil {
			msg := "Dependency not ready"
			if gatehouse.ErrorCode(err) != gatehouse.EINTERNAL { // a public message names the dependency
				msg = gatehouse.ErrorMessage(err)
			}
			return &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: msg, Err: err}
		}
	}
	httperror.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPI)))
	w.Write(openAPI)
	return nil
}

// handleDocs serves the page that renders /openapi.json. It is the one
// response that is a page rather than data, so it gets its own CSP.
func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) error {
	return serveDocsFile(w, "index.html", docsCSP)
}

// handleDocsAsset serves the page's script and style sheet. The page itself
// is only served by handleDocs, with its CSP.
func (s *Server) handleDocsAsset(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("asset")
	if name == "index.html" {
		return errNotFound
	}
	return serveDocsFile(w, name, "")
}

func serveDocsFile(w http.ResponseWriter, name, csp string) error {
	b, err := fs.ReadFile(docsFS, "docs/"+name) // an invalid name ("..") fails here
	if err != nil {
		return errNotFound
	}
	if csp != "" {
		httpsec.SetCSP(w, csp)
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
	return nil
}

// AuditEntry is one event as GET /audit and `gatehouse audit --json` show
// it. It holds no secret: audit events never do.
type AuditEntry struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Outcome   string    `json:"outcome"`
	UserID    *int64    `json:"user_id"`  // null when no user is known
	Username  *string   `json:"username"` // null when no user is known
	ClientIP  string    `json:"client_ip"`
	UserAgent string    `json:"user_agent"`
	RequestID string    `json:"request_id"`
	Path      string    `json:"path"`
	Detail    string    `json:"detail"`
	// Count is how many events the entry stands for: more than 1 for a
	// summary of refusals from one client (contract §12).
	Count int64 `json:"count"`
}

// AuditEntries converts events for display. Events store a username only
// where one was presented (a login); for the others it is looked up by
// user id, once per user. A deleted user's events keep only the id.
func AuditEntries(ctx context.Context, users gatehouse.UserStore, events []*gatehouse.AuditEvent) ([]AuditEntry, error) {
	names := map[int64]string{}
	out := make([]AuditEntry, len(events))
	for i, e := range events {
		name := e.Username
		if name == "" && e.UserID != 0 {
			n, ok := names[e.UserID]
			if !ok {
				u, err := users.UserByID(ctx, e.UserID)
				switch {
				case err == nil:
					n = u.Username
				case gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND:
					return nil, err
				}
				names[e.UserID] = n
			}
			name = n
		}
		out[i] = AuditEntry{ID: e.ID, Time: e.Time.UTC(), Type: e.Type, Outcome: e.Outcome,
			ClientIP: e.ClientIP, UserAgent: e.UserAgent, RequestID: e.RequestID, Path: e.Path, Detail: e.Detail,
			Count: max(e.Count, 1)}
		if e.UserID != 0 {
			out[i].UserID = &e.UserID
		}
		if name != "" {
			out[i].Username = &name
		}
	}
	return out, nil
}

// handleAudit pages through the audit log, newest first. The cursor is the
// last id of the previous page, so pages stay stable while new events
// arrive; the client sends it back with the same filters.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	f, none, err := s.auditFilter(r)
	if err != nil {
		return err
	}
	limit := f.Limit
	var events []*gatehouse.AuditEvent
	if !none {
		f.Limit = limit + 1 // one more tells whether another page exists
		if events, err = s.store.AuditEvents(r.Context(), f); err != nil {
			return err
		}
	}
	events, next := nextPage(events, limit, func(e *gatehouse.AuditEvent) int64 { return e.ID })
	entries, err := AuditEntries(r.Context(), s.store, events)
	if err != nil {
		return err
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, struct {
		Events     []AuditEntry `json:"events"`
		NextCursor *string      `json:"next_cursor"`
	}{entries, next})
	return nil
}

// auditFilter reads GET /audit's query. none is true when the filter can
// match nothing (a user that does not exist).
func (s *Server) auditFilter(r *http.Request) (f gatehouse.AuditFilter, none bool, err error) {
	q := r.URL.Query()
	if f.Limit, f.Before, err = readPage(q, auditDefaultLimit, auditMaxLimit); err != nil {
		return f, false, err
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339, v); err != nil {
				return f, false, gatehouse.Invalid([]string{"query", p.name}, "Must be an RFC 3339 time (2026-01-02T15:04:05Z)", "value_error.datetime")
			}
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, false, gatehouse.Invalid([]string{"query", "until"}, "Must be after since", "value_error")
	}
	f.Type = q.Get("type")
	if v := q.Get("user"); v != "" {
		if f.UserID, err = s.auditUserID(r.Context(), v); err != nil {
			return f, false, err
		}
		none = f.UserID == 0
	}
	return f, none, nil
}

// auditUserID resolves ?user=: a username first, then a numeric id (so a
// deleted user's events stay findable). 0 means no such user.
func (s *Server) auditUserID(ctx context.Context, v string) (int64, error) {
	u, err := s.store.UserByUsername(ctx, v)
	if err == nil {
		return u.ID, nil
	}
	if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return 0, err
	}
	if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
		return id, nil
	}
	return 0, nil
}
