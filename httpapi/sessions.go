package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/web"
)

// Browser sessions and the sessions API (contract §11). The pages are
// package web's; this file mounts them and serves the JSON side, which a
// Bearer token, an API key or the session cookie may call. A cookie is
// accepted only here and at /auth/verify — every other API route still
// wants a token or a key — and on an unsafe method only from the same
// origin (web.Handler.Principal), as the pages' forms.

// newWeb builds the pages and the guard that also accepts their cookie.
func (s *Server) newWeb() error {
	red := s.cfg.Redirects
	if red == nil {
		var err error
		if red, err = httpsec.NewRedirects(&url.URL{Scheme: "http", Host: "127.0.0.1:8000"}, nil); err != nil {
			return err
		}
	}
	h, err := web.New(web.Config{Auth: s.auth, Store: s.store, Redirects: red, CookieDomain: s.cfg.CookieDomain,
		Limits: webLimits{s}, Logger: s.log, Now: s.now, FormActions: s.formActions})
	if err != nil {
		return err
	}
	s.web, s.cfg.Redirects = h, red
	s.browser = guard.New(s.auth, s.keyAuthenticator(), s.log)
	s.browser.OnDenied = s.denied
	s.browser.Fallback = h.Principal
	return nil
}

// webLimits gives the login page the login limits of POST /token.
type webLimits struct{ s *Server }

func (l webLimits) Login(w http.ResponseWriter, r *http.Request, username string) (func(error), error) {
	a, err := l.s.checkLogin(w, r, username)
	if err != nil {
		return nil, err
	}
	return func(err error) { l.s.settleLogin(r, a, err, username) }, nil
}

// SignedIn makes the address of a login completed at its second step a
// known device of the user.
func (l webLimits) SignedIn(r *http.Request, userID int64) {
	u, err := l.s.auth.User(r.Context(), userID)
	if err != nil {
		l.s.log.WarnContext(r.Context(), "known-device mark skipped", "err", err)
		return
	}
	l.s.settleLogin(r, nil, nil, u.Username)
}

func (l webLimits) LoginIP(w http.ResponseWriter, r *http.Request) error {
	return l.s.checkLoginIP(w, r)
}

// handlePage registers a page as handle registers an API route, but
// records it apart: pages are not in the API's OpenAPI document.
func (s *Server) handlePage(pattern string, h http.Handler) {
	n := len(s.patterns)
	s.handle(pattern, h)
	s.pages = append(s.pages, s.patterns[n:]...)
	s.patterns = s.patterns[:n]
}

// Pages returns the browser pages' route patterns.
func (s *Server) Pages() []string { return s.pages }

func (s *Server) routesSessions() {
	authed := s.browser.Require()
	s.handle("GET /sessions", authed(s.wrap(s.handleListSessions)))
	s.handle("DELETE /sessions", authed(s.wrap(s.handleEndOtherSessions)))
	s.handle("DELETE /sessions/{id}", authed(s.wrap(s.handleEndSession)))
	admin := func(perm string) func(http.Handler) http.Handler {
		return s.browser.Require(guard.Permission(perm), guard.Scopes(gatehouse.ScopeAdmin))
	}
	s.handle("GET /users/{id}/sessions", admin(gatehouse.PermReadUsers)(s.wrap(s.handleUserSessions)))
	s.handle("DELETE /users/{id}/sessions", admin(gatehouse.PermWriteUsers)(s.wrap(s.handleEndUserSessions)))
}

// sessionJSON is one session in the sessions API.
type sessionJSON struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`      // "token", "browser" or "oauth"
	ClientID   *string    `json:"client_id"` // the OAuth client of an "oauth" session; null otherwise
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"` // null: not used since the login
	ExpiresAt  *time.Time `json:"expires_at"`   // a browser session's end; null for a token login
	AuthTime   time.Time  `json:"auth_time"`
	AMR        []string   `json:"amr"`
	ClientIP   string     `json:"client_ip"`
	UserAgent  string     `json:"user_agent"`
	Current    bool       `json:"current"`
}

func sessionsJSON(list []*gatehouse.Session, current string) []sessionJSON {
	out := make([]sessionJSON, 0, len(list))
	for _, ss := range list {
		auth := ss.AuthTime
		if auth.IsZero() { // sessions from before migration 008
			auth = ss.CreatedAt
		}
		amr := strings.Fields(ss.AMR)
		if amr == nil {
			amr = []string{}
		}
		out = append(out, sessionJSON{ID: ss.ID, Kind: ss.Kind, ClientID: nullable(ss.ClientID), CreatedAt: ss.CreatedAt.UTC().Truncate(time.Second),
			LastUsedAt: optionalTime(ss.LastUsedAt), ExpiresAt: optionalTime(ss.ExpiresAt), AuthTime: auth.UTC().Truncate(time.Second),
			AMR: amr, ClientIP: ss.ClientIP, UserAgent: ss.UserAgent, Current: current != "" && ss.ID == current})
	}
	return out
}

func (s *Server) writeSessions(w http.ResponseWriter, r *http.Request, userID int64, current string) error {
	list, err := s.auth.Sessions(r.Context(), userID)
	if err != nil {
		return err
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, struct {
		Sessions []sessionJSON `json:"sessions"`
	}{sessionsJSON(list, current)})
	return nil
}

// handleListSessions lists the caller's live sessions, the one it calls
// from marked current (none for an API key).
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	return s.writeSessions(w, r, p.User.ID, p.SessionID)
}

// handleEndSession ends one of the caller's sessions (its own current one
// included: that is a logout).
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if err := s.auth.EndSession(r.Context(), p.User.ID, r.PathValue("id")); err != nil {
		return err
	}
	httperror.JSON(w, http.StatusOK, map[string]string{"message": "Session ended"})
	return nil
}

// handleEndOtherSessions ends every session of the caller but the current
// one (with an API key, which is no session, every one).
func (s *Server) handleEndOtherSessions(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	n, err := s.auth.EndSessions(r.Context(), p.User.ID, p.SessionID)
	if err != nil {
		return err
	}
	httperror.JSON(w, http.StatusOK, map[string]any{"message": "Other sessions ended", "ended": n})
	return nil
}

func (s *Server) handleUserSessions(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	return s.writeSessions(w, r, u.ID, principal(r).SessionID)
}

// handleEndUserSessions signs a user out everywhere: every session, the
// admin's own included when it is theirs.
func (s *Server) handleEndUserSessions(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	n, err := s.auth.EndSessions(r.Context(), u.ID, "")
	if err != nil {
		return notFoundAsUser(err)
	}
	httperror.JSON(w, http.StatusOK, map[string]any{"message": "Sessions ended", "ended": n})
	return nil
}

// portal answers a forward-auth request that carries no valid credential
// the way a browser needs (contract §11): when a trusted proxy names the
// original URL, the client accepts HTML and ?redirect=1 asks for it
// (Caddy, Traefik), 302 to the login page with rd = that URL — kept only
// if it is an allowed target, so a forged X-Forwarded-Host cannot make the
// login send anyone elsewhere. It reports whether it answered; nginx,
// without ?redirect=1, gets the 401 and maps it to the login page itself.
func (s *Server) portal(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Get("redirect") != "1" || !acceptsHTML(r) {
		return false
	}
	orig, ok := s.cfg.Proxies.OriginalURL(r)
	if !ok {
		return false
	}
	login := s.cfg.Redirects.Public()
	login.Path = "/login"
	if t, ok := s.cfg.Redirects.Target(orig); ok {
		login.RawQuery = url.Values{"rd": {t}}.Encode()
	}
	httpsec.NoStore(w)
	w.Header().Set("Location", login.String())
	w.WriteHeader(http.StatusFound)
	return true
}

// acceptsHTML reports whether the Accept header lists text/html: a
// browser navigating, not a script fetching.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}
