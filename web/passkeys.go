package web

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/passkey"
)

// Passkeys (contract §14). The ceremonies need the browser's WebAuthn API,
// so they are JSON endpoints that static/passkeys.js calls: begin answers
// the options for navigator.credentials.create() or .get() and puts the
// ceremony's sealed state in an HttpOnly cookie of this browser (auth
// seals it, and spends it at the first finish); finish posts the
// browser's answer with that cookie. Deleting a passkey is a plain form.
//
// Every one of these routes is behind the same cross-origin protection as
// the pages' forms; the begin routes are rate limited per client address
// by the server (httpapi), and a sign-in's finish counts as a login
// attempt of the address.

// PasskeyRoutes are the passkey endpoints: begin routes that the server
// limits per client address.
var PasskeyRoutes = struct{ LoginBegin, RegisterBegin string }{
	LoginBegin:    "POST /passkeys/login/begin",
	RegisterBegin: "POST /account/passkeys/begin",
}

// maxCeremonyBody bounds a ceremony's JSON: a credential's answer is a few
// kilobytes at most.
const maxCeremonyBody = 64 << 10

// ceremonyCookie names the cookie holding a ceremony's state: one for
// sign-ins and one for registrations, so that a login page in another tab
// does not void a registration under way.
func (h *Handler) ceremonyCookie(kind string) string { return h.cookie.name + "_passkey_" + kind }

func (h *Handler) setCeremony(w http.ResponseWriter, kind, state string) {
	http.SetCookie(w, &http.Cookie{Name: h.ceremonyCookie(kind), Value: state, Path: "/", MaxAge: int(passkey.Timeout / time.Second),
		Secure: h.cookie.secure, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func (h *Handler) takeCeremony(w http.ResponseWriter, r *http.Request, kind string) string {
	c, err := r.Cookie(h.ceremonyCookie(kind))
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: h.ceremonyCookie(kind), Value: "", Path: "/", MaxAge: -1,
		Secure: h.cookie.secure, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return c.Value
}

func (h *Handler) passkeyRoutes(handle func(pattern string, handler http.Handler)) {
	handle(PasskeyRoutes.LoginBegin, h.api(h.passkeyLoginBegin))
	handle("POST /passkeys/login/finish", h.api(h.passkeyLoginFinish))
	handle(PasskeyRoutes.RegisterBegin, h.api(h.passkeyRegisterBegin))
	handle("POST /account/passkeys/finish", h.api(h.passkeyRegisterFinish))
	handle("POST /account/passkeys/{id}/delete", h.form(h.signedIn(h.deletePasskey)))
}

// api serves a JSON endpoint of the pages' script: refused before anything
// else when it comes from another origin, errors as the API's JSON.
func (h *Handler) api(fn pageFunc) http.Handler {
	return h.xorg.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpsec.NoStore(w)
		if err := fn(w, r); err != nil {
			httperror.Write(w, r, h.log, err)
		}
	}))
}

// ceremonyBody is what the script posts.
type ceremonyBody struct {
	Mediation  string          `json:"mediation"` // begin: "conditional" for the autofill
	MFAToken   string          `json:"mfa_token"` // the second step of a password login
	RD         string          `json:"rd"`        // finish: where to go after
	Name       string          `json:"name"`      // registration: the passkey's name
	Password   string          `json:"password"`  // registration: when the login is not recent
	Credential json.RawMessage `json:"credential"`
}

func readCeremony(w http.ResponseWriter, r *http.Request) (*ceremonyBody, error) {
	var b ceremonyBody
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCeremonyBody))
	if err != nil {
		return nil, &gatehouse.Error{Code: gatehouse.ETOOLARGE, Message: "Request body too large"}
	}
	if len(raw) == 0 {
		return &b, nil
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, gatehouse.Invalid([]string{"body"}, "Expected a JSON object", "json_invalid")
	}
	return &b, nil
}

// writeOptions answers a begin with the options and keeps the state.
func (h *Handler) writeOptions(w http.ResponseWriter, kind string, opts []byte, state string) {
	h.setCeremony(w, kind, state)
	w.Header().Set("Content-Type", "application/json")
	w.Write(opts)
}

func (h *Handler) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) error {
	b, err := readCeremony(w, r)
	if err != nil {
		return err
	}
	var opts []byte
	var state string
	if b.MFAToken != "" {
		opts, state, err = h.auth.BeginPasskeySecondFactor(r.Context(), b.MFAToken)
	} else {
		opts, state, err = h.auth.BeginPasskeyLogin(r.Context(), b.Mediation == "conditional")
	}
	if err != nil {
		return err
	}
	h.writeOptions(w, "login", opts, state)
	return nil
}

func (h *Handler) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) error {
	b, err := readCeremony(w, r)
	if err != nil {
		return err
	}
	state := h.takeCeremony(w, r, "login")
	if h.cfg.Limits != nil {
		if err := h.cfg.Limits.LoginIP(w, r); err != nil {
			return err
		}
	}
	sess, err := h.auth.FinishPasskeyLogin(r.Context(), state, b.Credential, b.MFAToken)
	if gatehouse.ErrorCode(err) == gatehouse.EINACTIVE {
		return &gatehouse.Error{Code: gatehouse.EINACTIVE, Message: "This account is disabled."}
	}
	if err != nil {
		return err
	}
	// As signIn: no session left behind that this browser's cookie no
	// longer names.
	if old, err := h.principalQuiet(r); err == nil {
		if err := h.auth.BrowserLogout(r.Context(), old); err != nil {
			h.log.WarnContext(r.Context(), "previous browser session not ended", "err", err)
		}
	}
	if h.cfg.Limits != nil {
		h.cfg.Limits.SignedIn(r, sess.UserID)
	}
	h.setCookie(w, sess)
	httperror.JSON(w, http.StatusOK, map[string]string{"redirect": h.target(b.RD)})
	return nil
}

// sessionPrincipal is the signed-in user of a JSON endpoint: no session is
// a 401, not a redirect.
func (h *Handler) sessionPrincipal(r *http.Request) (*gatehouse.Principal, error) {
	p, err := h.Principal(r)
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.EINACTIVE {
			return nil, errNoSession
		}
		return nil, err
	}
	return p, nil
}

func (h *Handler) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	p, err := h.sessionPrincipal(r)
	if err != nil {
		return err
	}
	b, err := readCeremony(w, r)
	if err != nil {
		return err
	}
	done := func(error) {}
	if b.Password != "" && h.cfg.Limits != nil {
		// Checking the password is a login attempt: a stolen session must
		// not make it a free guessing oracle.
		if done, err = h.cfg.Limits.Login(w, r, p.User.Username); err != nil {
			return err
		}
	}
	opts, state, err := h.auth.BeginPasskeyRegistration(r.Context(), p, b.Name, b.Password)
	done(err)
	if err != nil {
		return err
	}
	h.writeOptions(w, "register", opts, state)
	return nil
}

func (h *Handler) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) error {
	p, err := h.sessionPrincipal(r)
	if err != nil {
		return err
	}
	b, err := readCeremony(w, r)
	if err != nil {
		return err
	}
	if _, err := h.auth.FinishPasskeyRegistration(r.Context(), p, h.takeCeremony(w, r, "register"), b.Credential); err != nil {
		return err
	}
	httperror.JSON(w, http.StatusCreated, map[string]string{"redirect": "/account?done=passkey-added#passkeys"})
	return nil
}

func (h *Handler) deletePasskey(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil || len(id) == 0 || len(id) > passkey.MaxCredentialID {
		return errNotFound
	}
	pw := formValue(r, "password")
	done := func(error) {}
	if pw != "" && h.cfg.Limits != nil {
		if done, err = h.cfg.Limits.Login(w, r, p.User.Username); err != nil {
			return h.accountError(w, r, p, "passkey", err, nil)
		}
	}
	err = h.auth.DeletePasskey(r.Context(), p, id, pw)
	done(err)
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			return err
		}
		return h.accountError(w, r, p, "passkey", err, nil)
	}
	return h.see(w, r, "/account#passkeys", "passkey-deleted")
}

// passkeyRow is one passkey in the account page's list.
type passkeyRow struct {
	ID, Name          string // ID: the credential id, base64url
	Created, LastUsed time.Time
	Synced, Verifying bool // backed up (BS); verifies the user (UV)
}

// passkeySection fills the account page's passkeys section.
func (h *Handler) passkeySection(r *http.Request, p *gatehouse.Principal, d *accountData) error {
	d.PasskeysOn = h.auth.PasskeysEnabled()
	list, err := h.auth.Passkeys(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	for _, pk := range list {
		d.Passkeys = append(d.Passkeys, passkeyRow{ID: base64.RawURLEncoding.EncodeToString(pk.ID), Name: pk.Name,
			Created: pk.CreatedAt, LastUsed: pk.LastUsedAt, Synced: pk.BackupState, Verifying: pk.UVInitialized})
	}
	d.NeedPassword = !h.auth.RecentlyAuthenticated(r.Context(), p)
	return nil
}
