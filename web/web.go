// Package web is Gatehouse's browser interface (contract §11): the login
// page, the account page and the admin console, rendered on the server
// with html/template from files embedded in the binary, with a small
// style sheet and script of its own — no build step, nothing fetched from
// anywhere else. Forms post and redirect (PRG) and work without
// JavaScript; the script only adds copy buttons.
//
// Security, in one place:
//   - The session is a browser session of package auth, held in one
//     cookie: HttpOnly, SameSite=Lax, Path=/, and Secure with the
//     __Host- prefix when the public URL is https (__Secure- with a
//     Domain when GATEHOUSE_COOKIE_DOMAIN is set).
//   - Every state-changing request is a POST behind Go's
//     http.CrossOriginProtection: Fetch Metadata (Sec-Fetch-Site, sent by
//     every current browser) with an Origin fallback. No token threads
//     through forms; Referrer-Policy: no-referrer, under which Chromium
//     sends "Origin: null" on same-origin posts, does not matter because
//     Sec-Fetch-Site is consulted first; and another port of the same
//     host is another origin, which SameSite alone would let through.
//   - Each page gets its own Content-Security-Policy: scripts and styles
//     from this origin only, no inline script or style anywhere, images
//     from here or data: (the 2FA QR code), forms to here or to the
//     allowed redirect origins (a login's redirect is governed by
//     form-action), no framing, no base URI.
//   - Secrets shown once (a new API key, recovery codes, a TOTP secret)
//     are rendered into the POST's own answer with Cache-Control:
//     no-store, never put in a URL or a cookie.
//   - ?rd= goes only where httpsec.Redirects allows.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/oauth"
	"github.com/gatehouse/gatehouse/rbac"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Limits are the login rate limits the pages share with POST /token: per
// client address, and failed attempts per username (contract §12). Login
// and LoginIP return the 429 error (having set Retry-After on w) when the
// limit is reached. Login's done is called with the attempt's outcome and
// settles it: only a wrong password counts against the username, and a
// login that succeeded makes the address a known device of the user.
// SignedIn says the same of a login completed at its second step.
type Limits interface {
	Login(w http.ResponseWriter, r *http.Request, username string) (done func(err error), err error)
	LoginIP(w http.ResponseWriter, r *http.Request) error
	SignedIn(r *http.Request, userID int64)
}

// Config configures a Handler. Auth, Store and Redirects are required.
type Config struct {
	Auth      *auth.Service
	Store     gatehouse.Store
	Redirects *httpsec.Redirects // ?rd= targets; its public URL decides the cookie's form
	// CookieDomain, when set, is the session cookie's Domain, for single
	// sign-on across subdomains (contract §11).
	CookieDomain string
	Limits       Limits // nil: no limit beyond auth's own
	// FormActions, when set, names the origins beyond this server's that
	// a login returning to rd may be redirected to at its end — an OAuth
	// client's, when rd is an authorization request (package oauth) —
	// which the login page's form-action must allow.
	FormActions func(ctx context.Context, rd string) []string
	Logger      *slog.Logger
	Now         func() time.Time
}

// Handler serves the pages.
type Handler struct {
	cfg    Config
	auth   *auth.Service
	store  gatehouse.Store
	log    *slog.Logger
	now    func() time.Time
	pages  map[string]*template.Template
	csp    string
	cookie cookieSpec
	xorg   *http.CrossOriginProtection
	// clients registers OAuth clients for the admin page (clients.go);
	// nil until SetClientManager.
	clients *oauth.ClientManager
}

// cookieSpec is the form of the session cookie.
type cookieSpec struct {
	name   string
	domain string
	secure bool
}

// New parses the templates and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Auth == nil || cfg.Store == nil || cfg.Redirects == nil {
		return nil, errors.New("web: Auth, Store and Redirects are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, auth: cfg.Auth, store: cfg.Store, log: cfg.Logger, now: cfg.Now,
		pages: map[string]*template.Template{}, xorg: http.NewCrossOriginProtection()}
	h.cookie = CookieFor(cfg.Redirects.Public(), cfg.CookieDomain)
	h.csp = h.cspWith(nil)
	h.xorg.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.errorPage(w, r, http.StatusForbidden, "Cross-origin request refused",
			"This form was sent from another site, so nothing was changed. Go back and try again from this page.")
	}))
	base, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		h.pages[name] = t
	}
	return h, nil
}

// cspWith is the pages' Content-Security-Policy, its form-action also
// allowing the origins in extra.
func (h *Handler) cspWith(extra []string) string {
	sources := h.cfg.Redirects.FormActionSources()
	for _, o := range extra {
		if o != "" && !strings.ContainsAny(o, " ;,'\"") && !slices.Contains(sources, o) {
			sources = append(sources, o)
		}
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"form-action " + strings.Join(sources, " ") + "; frame-ancestors 'none'; base-uri 'none'"
}

// CookieFor is the session cookie's form for a public URL and a cookie
// domain (contract §11): over https, Secure and the __Host- prefix (no
// Domain, Path=/), or __Secure- when a domain is set; over plain http
// (development only) a plain name.
func CookieFor(public *url.URL, domain string) cookieSpec {
	c := cookieSpec{name: "gatehouse", domain: domain}
	if public.Scheme == "https" {
		c.secure = true
		if domain == "" {
			c.name = "__Host-gatehouse"
		} else {
			c.name = "__Secure-gatehouse"
		}
	}
	return c
}

// CookieName returns the session cookie's name.
func (h *Handler) CookieName() string { return h.cookie.name }

// Routes registers every page with handle, which the server's routes()
// calls with its own registration function: every page route is here.
func (h *Handler) Routes(handle func(pattern string, handler http.Handler)) {
	handle("GET /login", h.page(h.loginPage))
	handle("POST /login", h.form(h.login))
	handle("POST /sign-out", h.form(h.signedIn(h.logout)))

	handle("GET /account", h.page(h.signedIn(h.account)))
	handle("POST /account/password", h.form(h.signedIn(h.changePassword)))
	handle("POST /account/2fa/setup", h.form(h.signedIn(h.twoFactorSetup)))
	handle("POST /account/2fa/verify", h.form(h.signedIn(h.twoFactorVerify)))
	handle("POST /account/2fa/disable", h.form(h.signedIn(h.twoFactorDisable)))
	handle("POST /account/sessions/end-others", h.form(h.signedIn(h.endOtherSessions)))
	handle("POST /account/sessions/{id}/end", h.form(h.signedIn(h.endSession)))
	handle("POST /account/api-keys", h.form(h.signedIn(h.createAPIKey)))
	handle("POST /account/api-keys/{id}/revoke", h.form(h.signedIn(h.revokeAPIKey)))
	h.passkeyRoutes(handle) // passkeys.go

	read, write := gatehouse.PermReadUsers, gatehouse.PermWriteUsers
	handle("GET /admin", h.page(h.admin(read, h.adminHome)))
	handle("GET /admin/users", h.page(h.admin(read, h.adminUsers)))
	handle("POST /admin/users", h.form(h.admin(write, h.adminCreateUser)))
	handle("GET /admin/users/{id}", h.page(h.admin(read, h.adminUser)))
	handle("POST /admin/users/{id}/role", h.form(h.admin(write, h.adminSetRole)))
	handle("POST /admin/users/{id}/disabled", h.form(h.admin(write, h.adminSetDisabled)))
	handle("POST /admin/users/{id}/reset-2fa", h.form(h.admin(write, h.adminReset2FA)))
	handle("POST /admin/users/{id}/sign-out", h.form(h.admin(write, h.adminSignOut)))
	handle("GET /admin/audit", h.page(h.admin(read, h.adminAudit)))
	h.clientRoutes(handle) // clients.go: /admin/clients…

	handle("GET /static/{file}", http.HandlerFunc(h.static))
}

// pageFunc answers a page request, returning its error for errorFor.
type pageFunc func(w http.ResponseWriter, r *http.Request) error

// sessionFunc is a pageFunc for a signed-in user.
type sessionFunc func(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error

// page serves a GET page: pages carry a user's data, so none is cached.
func (h *Handler) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpsec.NoStore(w)
		httpsec.SetCSP(w, h.csp)
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// form serves a state-changing POST: refused before anything else when it
// comes from another origin.
func (h *Handler) form(fn pageFunc) http.Handler {
	return h.xorg.Handler(h.page(fn))
}

// signedIn runs fn for the request's signed-in user; a browser without a
// session is sent to the login page, to come back here after.
func (h *Handler) signedIn(fn sessionFunc) pageFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := h.Principal(r)
		if err != nil {
			if gatehouse.ErrorCode(err) != gatehouse.EUNAUTHENTICATED && gatehouse.ErrorCode(err) != gatehouse.EINACTIVE {
				return err
			}
			h.clearCookie(w)
			back := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				back = "/account"
			}
			http.Redirect(w, r, "/login?rd="+url.QueryEscape(back), http.StatusSeeOther)
			return nil
		}
		// The service reads who acts from the context, as for the API:
		// its audit names them, and the rules about one's own account
		// (turning off one's own 2FA needs a code) apply to pages too.
		if !gatehouse.SetPrincipal(r.Context(), p) {
			r = r.WithContext(gatehouse.NewContext(r.Context(), p))
		}
		return fn(w, r, p)
	}
}

// admin runs fn for a signed-in admin holding perm, as the JSON admin API
// requires (its admin scope comes with every browser session of an admin);
// anyone else signed in gets a 403 page.
func (h *Handler) admin(perm string, fn sessionFunc) pageFunc {
	return h.signedIn(func(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
		if p.User.Role != gatehouse.RoleAdmin || !rbac.HasPermission(p.User, perm) || !p.HasScope(gatehouse.ScopeAdmin) {
			h.errorPage(w, r, http.StatusForbidden, "Not allowed", "This page is for administrators.")
			return nil
		}
		return fn(w, r, p)
	})
}

// Principal authenticates r by its session cookie. An unsafe request
// (not GET, HEAD or OPTIONS) from another origin is refused (EFORBIDDEN)
// before the cookie is looked at: the API routes that accept the cookie
// share the pages' protection against cross-site requests.
func (h *Handler) Principal(r *http.Request) (*gatehouse.Principal, error) {
	c, err := r.Cookie(h.cookie.name)
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	if err := h.xorg.Check(r); err != nil {
		return nil, ErrCrossOrigin
	}
	return h.auth.AuthenticateSession(r.Context(), c.Value)
}

var (
	errNoSession = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Message: "Not authenticated"}
	// ErrCrossOrigin refuses an unsafe request with the session cookie
	// from another origin.
	ErrCrossOrigin = &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Message: "Cross-origin request refused"}
	errNotFound    = &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "Not found"}
)

// HasCookie reports whether r carries a session cookie at all.
func (h *Handler) HasCookie(r *http.Request) bool {
	c, err := r.Cookie(h.cookie.name)
	return err == nil && c.Value != ""
}

func (h *Handler) setCookie(w http.ResponseWriter, b *auth.BrowserSession) {
	http.SetCookie(w, &http.Cookie{Name: h.cookie.name, Value: b.Cookie, Path: "/", Domain: h.cookie.domain,
		Expires: b.ExpiresAt, MaxAge: int(b.ExpiresAt.Sub(h.now()) / time.Second), Secure: h.cookie.secure,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (h *Handler) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: h.cookie.name, Value: "", Path: "/", Domain: h.cookie.domain, MaxAge: -1,
		Secure: h.cookie.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// view is what every page template gets.
type view struct {
	Title  string
	Nav    string // "account", "admin": the current section
	User   *gatehouse.User
	Admin  bool
	Notice string // a confirmation after a redirect
	Error  string // the page's error, shown at the top
	Data   any    // the page's own data
	csp    string // the page's own Content-Security-Policy; "" for the usual one
}

func (h *Handler) newView(p *gatehouse.Principal, title, nav string) *view {
	v := &view{Title: title, Nav: nav}
	if p != nil {
		v.User = p.User
		v.Admin = p.User.Role == gatehouse.RoleAdmin
	}
	return v
}

// render writes page with v and status.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	t, ok := h.pages[page]
	if !ok {
		h.fail(w, r, fmt.Errorf("web: no template %q", page))
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		h.log.ErrorContext(r.Context(), "page render failed", "page", page, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	csp := h.csp
	if v.csp != "" {
		csp = v.csp
	}
	httpsec.SetCSP(w, csp)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// errorPage renders a page with a heading and a sentence.
func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	httpsec.NoStore(w)
	var p *gatehouse.Principal
	if status != http.StatusUnauthorized {
		p, _ = h.principalQuiet(r)
	}
	v := h.newView(p, title, "")
	v.Data = struct{ Status, Text string }{strconv.Itoa(status), text}
	h.render(w, r, status, "error", v)
}

// principalQuiet is Principal for decoration (the header of an error
// page): it checks no origin, since nothing is changed on its say-so.
func (h *Handler) principalQuiet(r *http.Request) (*gatehouse.Principal, error) {
	c, err := r.Cookie(h.cookie.name)
	if err != nil {
		return nil, err
	}
	return h.auth.AuthenticateSession(r.Context(), c.Value)
}

// fail renders err as an error page: its public message for the codes a
// user can cause, a generic one (and a log line) for anything else.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := gatehouse.ErrorCode(err)
	status := httperror.Status(code)
	switch code {
	case gatehouse.EINTERNAL:
		h.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
		h.errorPage(w, r, status, "Something went wrong", "The server could not complete this request. Try again in a moment.")
	case gatehouse.ENOTFOUND:
		h.errorPage(w, r, status, "Not found", "There is nothing here, or it is no longer yours to see.")
	case gatehouse.EUNAVAILABLE:
		h.errorPage(w, r, status, "Try again shortly", gatehouse.ErrorMessage(err))
	default:
		h.errorPage(w, r, status, "Request refused", gatehouse.ErrorMessage(err))
	}
}

// see redirects after a successful POST (PRG), with a notice named by a
// known code: nothing a user typed is ever put in the URL.
func (h *Handler) see(w http.ResponseWriter, r *http.Request, to, notice string) error {
	if notice != "" {
		to, frag, _ := strings.Cut(to, "#")
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		to += sep + "done=" + notice
		if frag != "" {
			to += "#" + frag
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// notices are the confirmations a redirect may name.
var notices = map[string]string{
	"password":        "Your password was changed. Your other sessions were signed out.",
	"2fa-off":         "Two-factor authentication is off.",
	"session-ended":   "The session was signed out.",
	"sessions-ended":  "Every other session was signed out.",
	"key-revoked":     "The API key was revoked.",
	"signed-out":      "You are signed out.",
	"user-created":    "The user was created.",
	"role":            "The role was changed.",
	"disabled":        "The account is disabled; its sessions, tokens and keys no longer work.",
	"enabled":         "The account is enabled.",
	"2fa-reset":       "Two-factor authentication was reset.",
	"user-signed-out": "Every session of this user was signed out.",
	"passkey-added":   "The passkey was added. You can sign in with it from now on.",
	"passkey-deleted": "The passkey was deleted.",
	"client-deleted":  "The client was deleted; every session it had was signed out.",
	"client-changed":  "The client was changed.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// static serves the style sheet and the script. Their names change with
// their content only by release, so they are cached for a day, not
// forever.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil || strings.Contains(name, "/") {
		httperror.Write(w, r, h.log, errNotFound)
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}

// formValue reads one field of an urlencoded or multipart form body.
func formValue(r *http.Request, name string) string {
	if r.Form == nil {
		r.ParseMultipartForm(1 << 20)
	}
	return r.PostForm.Get(name)
}

// pathID reads the path's {id}; an id that is not one is not found.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}
