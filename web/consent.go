package web

import (
	"net/http"

	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/oauth"
)

// The pages of the OAuth provider (contract §13): Handler is its
// oauth.Pages — the session cookie, the consent page, the sign-out
// confirmation, error pages and the forms' cross-origin protection.

var _ oauth.Pages = (*Handler)(nil)

// SessionCookie returns the browser session cookie's value, "" if none.
func (h *Handler) SessionCookie(r *http.Request) string {
	c, err := r.Cookie(h.cookie.name)
	if err != nil {
		return ""
	}
	return c.Value
}

// ClearSessionCookie forgets the session cookie.
func (h *Handler) ClearSessionCookie(w http.ResponseWriter) { h.clearCookie(w) }

// Consent renders the consent page. Its buttons are name="consent" with
// value="allow" and value="deny"; its form posts here, and the answer
// redirects to the client, whose origin formActions names.
func (h *Handler) Consent(w http.ResponseWriter, r *http.Request, v *oauth.ConsentView, formActions []string) {
	httpsec.NoStore(w)
	p, _ := h.principalQuiet(r)
	view := h.newView(p, "Allow "+v.ClientName+"?", "")
	view.Data, view.csp = v, h.cspWith(formActions)
	h.render(w, r, http.StatusOK, "consent", view)
}

// ConfirmLogout renders the page that asks whether to sign out.
func (h *Handler) ConfirmLogout(w http.ResponseWriter, r *http.Request, v *oauth.LogoutView, formActions []string) {
	httpsec.NoStore(w)
	p, _ := h.principalQuiet(r)
	view := h.newView(p, "Sign out?", "")
	view.Data, view.csp = v, h.cspWith(formActions)
	h.render(w, r, http.StatusOK, "logout", view)
}

// Error renders an error page.
func (h *Handler) Error(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	h.errorPage(w, r, status, title, text)
}

// Protect refuses a cross-origin unsafe request before next runs, as it
// does for every form of the pages.
func (h *Handler) Protect(next http.Handler) http.Handler {
	return h.xorg.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpsec.NoStore(w)
		next.ServeHTTP(w, r)
	}))
}
