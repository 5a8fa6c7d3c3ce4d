package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

// The login page (contract §11): the password, then, for a user with 2FA,
// a code. The half-done login is the mfa_token of auth, carried in a
// hidden field of the second form: it is sealed, single use and lasts
// five minutes, lives only in a no-store answer and the next POST body,
// and, unlike a cookie, is never sent anywhere else or shared by another
// tab's login.

// loginData is the login page's state.
type loginData struct {
	Step     string // "password" or "code"
	Username string
	RD       string // where to go after, as asked (checked when used)
	MFAToken string
	Field    string // the input Message is about; "" for the form as a whole
	Message  string // why the last try was refused
	// PasskeysOn: passkeys work here (passkeys.go); Passkey: the code step
	// may offer the user's passkey instead.
	PasskeysOn bool
	Passkey    bool
}

// rdParam reads where a login should return to: ?rd= or ?return_to=.
func rdParam(q url.Values) string {
	if v := q.Get("rd"); v != "" {
		return v
	}
	return q.Get("return_to")
}

// target is where to send a signed-in browser for rd: rd itself when
// allowed, else the account page.
func (h *Handler) target(rd string) string {
	if t, ok := h.cfg.Redirects.Target(rd); ok {
		return t
	}
	return "/account"
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rd := rdParam(q)
	// prompt=login (an OAuth client's, contract §13) asks for a login even
	// from a browser already signed in.
	if p, err := h.principalQuiet(r); err == nil && p != nil && q.Get("prompt") != "login" {
		http.Redirect(w, r, h.target(rd), http.StatusSeeOther)
		return nil
	}
	v := h.newView(nil, "Sign in", "")
	v.Notice = notice(r)
	v.csp = h.loginCSP(r.Context(), rd)
	username := q.Get("login_hint")
	if len(username) > 256 {
		username = ""
	}
	v.Data = &loginData{Step: "password", RD: rd, Username: username, PasskeysOn: h.auth.PasskeysEnabled()}
	h.render(w, r, http.StatusOK, "login", v)
	return nil
}

// login takes either step: username and password, or mfa_token and otp.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	rd := formValue(r, "rd")
	if tok := formValue(r, "mfa_token"); tok != "" {
		return h.loginCode(w, r, tok, rd)
	}
	username, pw := formValue(r, "username"), formValue(r, "password")
	d := &loginData{Step: "password", Username: username, RD: rd}
	if username == "" || pw == "" {
		d.Field = "username"
		if username != "" {
			d.Field = "password"
		}
		return h.loginAgain(w, r, d, http.StatusUnprocessableEntity, "Enter your username and password.")
	}
	done := func(error) {}
	if h.cfg.Limits != nil {
		var err error
		if done, err = h.cfg.Limits.Login(w, r, username); err != nil {
			return h.loginFailed(w, r, d, err)
		}
	}
	b, err := h.auth.BrowserLogin(r.Context(), username, pw, "")
	done(err)
	var mfa *auth.MFARequiredError
	if errors.As(err, &mfa) {
		d.Step, d.MFAToken, d.Field = "code", mfa.Token, ""
		return h.loginAgain(w, r, d, http.StatusOK, "")
	}
	if err != nil {
		return h.loginFailed(w, r, d, err)
	}
	return h.signIn(w, r, b, rd)
}

func (h *Handler) loginCode(w http.ResponseWriter, r *http.Request, tok, rd string) error {
	d := &loginData{Step: "code", RD: rd, MFAToken: tok, Field: "otp"}
	otp := formValue(r, "otp")
	if otp == "" {
		return h.loginAgain(w, r, d, http.StatusUnprocessableEntity, "Enter the code from your authenticator app, or a recovery code.")
	}
	if h.cfg.Limits != nil {
		if err := h.cfg.Limits.LoginIP(w, r); err != nil {
			return h.loginFailed(w, r, d, err)
		}
	}
	b, err := h.auth.BrowserLoginMFA(r.Context(), tok, otp)
	if err != nil {
		return h.loginFailed(w, r, d, err)
	}
	if h.cfg.Limits != nil {
		h.cfg.Limits.SignedIn(r, b.UserID)
	}
	return h.signIn(w, r, b, rd)
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, b *auth.BrowserSession, rd string) error {
	// A browser signing in again, as the same user or another, leaves no
	// session behind that its cookie no longer names.
	if old, err := h.principalQuiet(r); err == nil {
		if err := h.auth.BrowserLogout(r.Context(), old); err != nil {
			h.log.WarnContext(r.Context(), "previous browser session not ended", "err", err)
		}
	}
	h.setCookie(w, b)
	http.Redirect(w, r, h.target(rd), http.StatusSeeOther)
	return nil
}

// loginFailed answers a refused login as the API would, in words: a wrong
// password and an unknown user alike, a disabled account only once the
// password matched (auth decides that), and a limit with the wait.
func (h *Handler) loginFailed(w http.ResponseWriter, r *http.Request, d *loginData, err error) error {
	code := gatehouse.ErrorCode(err)
	var lock *auth.CodeLockoutError
	switch {
	case code == gatehouse.ERATELIMIT:
		wait := w.Header().Get("Retry-After")
		if errors.As(err, &lock) {
			secs := max(int64((lock.RetryAfter+time.Second-1)/time.Second), 1)
			wait = strconv.FormatInt(secs, 10)
			w.Header().Set("Retry-After", wait)
		}
		if wait == "" {
			wait = "60"
		}
		d.Field = ""
		return h.loginAgain(w, r, d, http.StatusTooManyRequests, "Too many attempts; try again in "+wait+" s.")
	case code == gatehouse.EINACTIVE:
		d.Field = ""
		return h.loginAgain(w, r, d, http.StatusForbidden, "This account is disabled.")
	case code == gatehouse.EUNAUTHENTICATED && d.Step == "code":
		if gatehouse.ErrorMessage(err) == "Invalid 2FA code" {
			return h.loginAgain(w, r, d, http.StatusUnauthorized, "That code is not right. Check your authenticator app and try again.")
		}
		// The mfa_token expired or was spent: start again.
		d.Step, d.MFAToken, d.Field = "password", "", "username"
		return h.loginAgain(w, r, d, http.StatusUnauthorized, "This sign-in took too long or was already used. Start again.")
	case code == gatehouse.EUNAUTHENTICATED:
		d.Field = "password"
		return h.loginAgain(w, r, d, http.StatusUnauthorized, "Incorrect username or password.")
	case code == gatehouse.EINVALID:
		d.Field = "password"
		return h.loginAgain(w, r, d, http.StatusUnprocessableEntity, gatehouse.ErrorMessage(err))
	case code == gatehouse.EUNAVAILABLE:
		d.Field = ""
		return h.loginAgain(w, r, d, http.StatusServiceUnavailable, "The server is busy. Try again in a moment.")
	}
	return err
}

func (h *Handler) loginAgain(w http.ResponseWriter, r *http.Request, d *loginData, status int, msg string) error {
	title := "Sign in"
	if d.Step == "code" {
		title = "Two-factor authentication"
	}
	v := h.newView(nil, title, "")
	v.csp = h.loginCSP(r.Context(), d.RD)
	d.Message, v.Data = msg, d
	d.PasskeysOn = h.auth.PasskeysEnabled()
	if d.Step == "code" {
		d.Passkey = h.auth.MFATokenHasPasskeys(r.Context(), d.MFAToken)
	}
	h.render(w, r, status, "login", v)
	return nil
}

// loginCSP is the login page's policy for a login returning to rd: its
// form's answer redirects there, and on to where rd redirects (an OAuth
// client), which form-action governs too.
func (h *Handler) loginCSP(ctx context.Context, rd string) string {
	if h.cfg.FormActions == nil || rd == "" {
		return ""
	}
	extra := h.cfg.FormActions(ctx, rd)
	if len(extra) == 0 {
		return ""
	}
	return h.cspWith(extra)
}

// logout ends the browser session and forgets its cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	if err := h.auth.BrowserLogout(r.Context(), p); err != nil {
		return err
	}
	h.clearCookie(w)
	return h.see(w, r, "/login", "signed-out")
}
