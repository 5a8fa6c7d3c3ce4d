package web

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/totp"
)

// The account page (contract §11): profile, password, two-factor,
// sessions and API keys, each a section with its own forms.

// accountData is the account page's state. The secrets in it (Enrol,
// RecoveryCodes, NewKey) are set only in the answer to the POST that made
// them, which is never cached.
type accountData struct {
	Sessions      []sessionRow
	Keys          []keyRow
	Scopes        []string // scopes a new key may hold
	Enrol         *enrolView
	RecoveryCodes []string
	NewKey        string
	NewKeyName    string
	Errors        map[string]string // by form: "password", "2fa", "key", "passkey"
	KeyName       string            // the name typed, kept after an error
	// Passkeys (passkeys.go): the list, whether passkeys work here, and
	// whether a change needs the password (the login is not recent).
	Passkeys     []passkeyRow
	PasskeysOn   bool
	NeedPassword bool
}

type enrolView struct {
	QR     template.URL // data:image/png;base64,…
	Secret string
	Groups []string // the secret in groups of four, for reading aloud or typing
}

type sessionRow struct {
	ID, Kind, Device, UserAgent, ClientIP, AMR string
	ClientID, ClientName                       string // an "oauth" session's client, and its name (web/clients.go)
	Current                                    bool
	Created, LastUsed, Expires                 time.Time
}

type keyRow struct {
	ID                         int64
	Name, Prefix, Scope        string
	Created, LastUsed, Expires time.Time
	Active, Expired            bool
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	v := h.newView(p, "Your account", "account")
	v.Notice = notice(r)
	return h.renderAccount(w, r, p, v, &accountData{}, http.StatusOK)
}

// renderAccount fills the lists and renders the page with d.
func (h *Handler) renderAccount(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal, v *view, d *accountData, status int) error {
	ctx := r.Context()
	sessions, err := h.auth.Sessions(ctx, p.User.ID)
	if err != nil {
		return err
	}
	d.Sessions = h.nameClients(r.Context(), sessionRows(sessions, p.SessionID))
	keys, err := h.auth.ListAPIKeys(ctx, p.User.ID)
	if err != nil {
		return err
	}
	now := h.now()
	for _, k := range keys {
		d.Keys = append(d.Keys, keyRow{ID: k.ID, Name: k.Name, Prefix: apikey.Prefix + k.LookupID, Scope: k.Scope, Created: k.CreatedAt,
			LastUsed: k.LastUsedAt, Expires: k.ExpiresAt, Active: k.Active,
			Expired: !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)})
	}
	d.Scopes = strings.Fields(rbac.Grant(p.User.Role, ""))
	if err := h.passkeySection(r, p, d); err != nil {
		return err
	}
	v.Data = d
	h.render(w, r, status, "account", v)
	return nil
}

func sessionRows(sessions []*gatehouse.Session, current string) []sessionRow {
	rows := make([]sessionRow, 0, len(sessions))
	for _, s := range sessions {
		rows = append(rows, sessionRow{ID: s.ID, Kind: s.Kind, ClientID: s.ClientID, Device: describeAgent(s.UserAgent), UserAgent: s.UserAgent,
			ClientIP: s.ClientIP, AMR: s.AMR, Current: s.ID == current, Created: s.CreatedAt, LastUsed: s.LastUsedAt, Expires: s.ExpiresAt})
	}
	// This device first.
	slices.SortStableFunc(rows, func(a, b sessionRow) int {
		switch {
		case a.Current == b.Current:
			return 0
		case a.Current:
			return -1
		}
		return 1
	})
	return rows
}

// accountError re-renders the account page with a form's error, or
// answers err as a page when it is not the user's to fix.
func (h *Handler) accountError(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal, form string, err error, d *accountData) error {
	code := gatehouse.ErrorCode(err)
	msg := gatehouse.ErrorMessage(err)
	switch code {
	case gatehouse.EINVALID, gatehouse.EBADREQUEST, gatehouse.ECONFLICT, gatehouse.EFORBIDDEN, gatehouse.ERATELIMIT, gatehouse.EUNAUTHENTICATED:
	default:
		return err
	}
	if code == gatehouse.ERATELIMIT {
		msg = "Too many attempts; try again in " + retryAfter(w, err) + " s."
	}
	if d == nil {
		d = &accountData{}
	}
	d.Errors = map[string]string{form: msg}
	v := h.newView(p, "Your account", "account")
	v.Error = "Nothing was changed: " + lowerFirst(msg)
	return h.renderAccount(w, r, p, v, d, httpStatus(code))
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	current, next, confirm := formValue(r, "current_password"), formValue(r, "new_password"), formValue(r, "confirm_password")
	if next != confirm {
		return h.accountError(w, r, p, "password", gatehouse.Invalid([]string{"body", "confirm_password"},
			"The new password and its confirmation differ", "value_error"), nil)
	}
	done := func(error) {}
	if h.cfg.Limits != nil {
		// Checking the current password is a login attempt: a stolen
		// session must not make it a free guessing oracle.
		var err error
		if done, err = h.cfg.Limits.Login(w, r, p.User.Username); err != nil {
			return h.accountError(w, r, p, "password", err, nil)
		}
	}
	err := h.auth.ChangePassword(r.Context(), p, current, next)
	done(err)
	if err != nil {
		return h.accountError(w, r, p, "password", err, nil)
	}
	return h.see(w, r, "/account#password", "password")
}

func (h *Handler) twoFactorSetup(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	en, err := h.auth.SetupTwoFactor(r.Context(), p.User)
	if err != nil {
		return h.accountError(w, r, p, "2fa", err, nil)
	}
	png, err := totp.QRPNG(en.URI)
	if err != nil {
		return err
	}
	d := &accountData{Enrol: &enrolView{
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), // our own PNG
		Secret: en.Secret, Groups: groupsOf(en.Secret, 4)}}
	v := h.newView(p, "Set up two-factor authentication", "account")
	v.Notice = "Two-factor setup has started: scan the QR code under Two-factor authentication below, then enter the code your app shows."
	return h.renderAccount(w, r, p, v, d, http.StatusOK)
}

func (h *Handler) twoFactorVerify(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	codes, err := h.auth.VerifyTwoFactor(r.Context(), p.User, formValue(r, "code"))
	if err != nil {
		return h.accountError(w, r, p, "2fa", err, nil)
	}
	// The user changed: show the page with the new state.
	u, err := h.auth.User(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	np := *p
	np.User = u
	v := h.newView(&np, "Your account", "account")
	v.Notice = "Two-factor authentication is on. Keep your recovery codes somewhere safe: they are shown only now."
	return h.renderAccount(w, r, &np, v, &accountData{RecoveryCodes: codes}, http.StatusOK)
}

func (h *Handler) twoFactorDisable(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	if err := h.auth.DisableTwoFactor(r.Context(), p.User, formValue(r, "code")); err != nil {
		return h.accountError(w, r, p, "2fa", err, nil)
	}
	return h.see(w, r, "/account#two-factor", "2fa-off")
}

func (h *Handler) endSession(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	if err := h.auth.EndSession(r.Context(), p.User.ID, r.PathValue("id")); err != nil {
		return err
	}
	if r.PathValue("id") == p.SessionID { // this browser's own: it is signed out
		h.clearCookie(w)
		return h.see(w, r, "/login", "signed-out")
	}
	return h.see(w, r, "/account#sessions", "session-ended")
}

func (h *Handler) endOtherSessions(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	if _, err := h.auth.EndSessions(r.Context(), p.User.ID, p.SessionID); err != nil {
		return err
	}
	return h.see(w, r, "/account#sessions", "sessions-ended")
}

func (h *Handler) createAPIKey(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	r.ParseMultipartForm(1 << 20)
	name := formValue(r, "name")
	scopes := strings.Join(r.PostForm["scope"], " ")
	var expires time.Time
	if v := formValue(r, "expires"); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return h.accountError(w, r, p, "key", gatehouse.Invalid([]string{"body", "expires"}, "Give the expiry date as YYYY-MM-DD", "value_error"),
				&accountData{KeyName: name})
		}
		expires = t.Add(24 * time.Hour) // the end of that day, UTC
	}
	if scopes == "" {
		return h.accountError(w, r, p, "key", gatehouse.Invalid([]string{"body", "scopes"}, "Choose at least one scope", "value_error"),
			&accountData{KeyName: name})
	}
	key, k, err := h.auth.CreateAPIKey(r.Context(), p, name, scopes, expires)
	if err != nil {
		return h.accountError(w, r, p, "key", err, &accountData{KeyName: name})
	}
	v := h.newView(p, "Your account", "account")
	v.Notice = "API key created. Copy it now: it is shown only this once."
	return h.renderAccount(w, r, p, v, &accountData{NewKey: key, NewKeyName: k.Name}, http.StatusCreated)
}

func (h *Handler) revokeAPIKey(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	// Only the user's own keys, even for an admin: the admin console is
	// where other users' things are handled.
	own := *p
	own.Scope = strings.ReplaceAll(p.Scope, gatehouse.ScopeAdmin, "")
	if err := h.auth.RevokeAPIKey(r.Context(), &own, id); err != nil {
		return err
	}
	return h.see(w, r, "/account#api-keys", "key-revoked")
}

// groupsOf cuts s into groups of n characters.
func groupsOf(s string, n int) []string {
	var out []string
	for len(s) > n {
		out, s = append(out, s[:n]), s[n:]
	}
	return append(out, s)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// retryAfter is the wait, in seconds, that a 429 carries.
func retryAfter(w http.ResponseWriter, err error) string {
	if v := w.Header().Get("Retry-After"); v != "" {
		return v
	}
	var lock *auth.CodeLockoutError
	if ok := asLockout(err, &lock); ok {
		secs := max(int64((lock.RetryAfter+time.Second-1)/time.Second), 1)
		v := itoa(secs)
		w.Header().Set("Retry-After", v)
		return v
	}
	return "60"
}
