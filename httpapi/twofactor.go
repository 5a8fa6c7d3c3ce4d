package httpapi

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/totp"
)

// Two-factor login at POST /token (contract §3), for the README and the
// OpenAPI document:
//
// One step: grant_type=password (or absent), username, password, optional
// scope, and otp = a current 6-digit code or an unused recovery code.
//
// Two steps, for clients that cannot send the password again (a login page):
//
//  1. grant_type=password, username, password, optional scope, no otp →
//     401 {"detail": "2FA code required", "error": "mfa_required",
//     "error_description": …, "mfa_token": "ghm_…", "mfa_token_expires_in": 300}
//  2. grant_type=urn:gatehouse:params:oauth:grant-type:mfa-otp, mfa_token,
//     otp → 200, the usual token response, for the scope asked in step 1.
//
// The mfa_token is opaque, lasts 5 minutes and is spent by its first
// success; a wrong otp (401 "invalid_otp") may be retried with the same
// token. A wrong password is answered the same with or without 2FA, so
// step 1 tells nothing to someone who does not know it. Every wrong code
// (one-step, two-step, /2fa/verify, /2fa/disable, /2fa/recovery-codes)
// counts towards the user's limit: after 5 within 5 minutes, every code
// gets 429 with Retry-After until the window has passed.

// GrantTypeMFA is the grant_type of the second step of a two-factor login:
// an extension grant (RFC 6749 §4.5), named by a URI as that section asks.
const GrantTypeMFA = "urn:gatehouse:params:oauth:grant-type:mfa-otp"

// routesTwoFactor registers /2fa/* (contract §6). Each takes a Bearer
// access token; an API key may not change a user's second factor.
func (s *Server) routesTwoFactor() {
	authed := s.guard.Require()
	s.handle("POST /2fa/setup", authed(s.wrap(s.handleTwoFactorSetup)))
	s.handle("POST /2fa/verify", authed(s.wrap(s.handleTwoFactorVerify)))
	s.handle("POST /2fa/disable", authed(s.wrap(s.handleTwoFactorDisable)))
	s.handle("POST /2fa/recovery-codes", authed(s.wrap(s.handleRecoveryCodes)))
}

// handleTwoFactorSetup answers a QR code PNG of a new pending secret's
// otpauth URI, or {"secret", "otpauth_uri"} to Accept: application/json.
// With 2FA already enabled it is 409: disable first.
func (s *Server) handleTwoFactorSetup(w http.ResponseWriter, r *http.Request) error {
	httpsec.NoStore(w)
	u, err := tokenUser(r)
	if err != nil {
		return err
	}
	en, err := s.auth.SetupTwoFactor(r.Context(), u)
	if err != nil {
		return err
	}
	if acceptsJSON(r) {
		httperror.JSON(w, http.StatusOK, map[string]string{"secret": en.Secret, "otpauth_uri": en.URI})
		return nil
	}
	img, err := totp.QRPNG(en.URI)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(img)))
	w.WriteHeader(http.StatusOK)
	w.Write(img)
	return nil
}

// handleTwoFactorVerify enables 2FA with the first code of a pending
// secret, answering the recovery codes once; afterwards it checks a code.
func (s *Server) handleTwoFactorVerify(w http.ResponseWriter, r *http.Request) error {
	httpsec.NoStore(w)
	u, code, err := codeRequest(r)
	if err != nil {
		return err
	}
	recovery, err := s.auth.VerifyTwoFactor(r.Context(), u, code)
	if err != nil {
		return err
	}
	body := map[string]any{"message": "2FA verified successfully"}
	if recovery != nil {
		body["recovery_codes"] = recovery
	}
	httperror.JSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) handleTwoFactorDisable(w http.ResponseWriter, r *http.Request) error {
	u, code, err := codeRequest(r)
	if err != nil {
		return err
	}
	if err := s.auth.DisableTwoFactor(r.Context(), u, code); err != nil {
		return err
	}
	httperror.JSON(w, http.StatusOK, map[string]string{"message": "2FA disabled"})
	return nil
}

// handleRecoveryCodes issues a fresh set of recovery codes, voiding the
// old, for a valid code.
func (s *Server) handleRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	httpsec.NoStore(w)
	u, code, err := codeRequest(r)
	if err != nil {
		return err
	}
	recovery, err := s.auth.NewRecoveryCodes(r.Context(), u, code)
	if err != nil {
		return err
	}
	httperror.JSON(w, http.StatusOK, map[string]any{"message": "New recovery codes issued", "recovery_codes": recovery})
	return nil
}

// tokenMFA is the second step of a two-factor login (GrantTypeMFA). It is
// limited per client IP like a password login; per user, the limit on
// wrong codes applies.
func (s *Server) tokenMFA(w http.ResponseWriter, r *http.Request, form url.Values) error {
	tok, otp := form.Get("mfa_token"), form.Get("otp")
	if tok == "" {
		return missing("mfa_token")
	}
	if otp == "" {
		return missing("otp")
	}
	if err := s.checkLoginIP(w, r); err != nil {
		return err
	}
	pair, err := s.auth.LoginMFA(r.Context(), tok, otp)
	s.settleLogin(r, nil, err, signedInAs(pair)) // a completed login makes a known device
	if err != nil {
		return loginError(w, err)
	}
	writeTokens(w, pair)
	return nil
}

// loginError answers mfa_required itself, because its body carries the
// mfa_token, and passes every other error on to the one error path.
func loginError(w http.ResponseWriter, err error) error {
	var mfa *auth.MFARequiredError
	if !errors.As(err, &mfa) {
		return err
	}
	msg := gatehouse.ErrorMessage(err)
	w.Header().Set("WWW-Authenticate", "Bearer")
	httperror.JSON(w, http.StatusUnauthorized, map[string]any{"detail": msg, "error": "mfa_required",
		"error_description": msg, "mfa_token": mfa.Token, "mfa_token_expires_in": int(mfa.ExpiresIn / time.Second)})
	return nil
}

// withRetryAfter sets Retry-After, in whole seconds rounded up, on a
// refusal by one of the auth service's limits — too many wrong codes, a
// session refreshing too often, a client trying unknown API keys
// (contract §8: every 429 carries it).
func withRetryAfter(w http.ResponseWriter, err error) error {
	var wait time.Duration
	var lock *auth.CodeLockoutError
	var limited *auth.RateLimitError
	switch {
	case errors.As(err, &lock):
		wait = lock.RetryAfter
	case errors.As(err, &limited):
		wait = limited.RetryAfter
	default:
		return err
	}
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return err
}

// tokenUser returns the user of a request authenticated by an access token.
// API keys are refused: they are long-lived and held by programs, and must
// not be able to enrol, disable or check a second factor.
func tokenUser(r *http.Request) (*gatehouse.User, error) {
	p := principal(r)
	if p.APIKeyID != 0 {
		return nil, gatehouse.Errorf(gatehouse.EFORBIDDEN, "2FA requires a login token, not an API key")
	}
	return p.User, nil
}

// codeRequest returns the token user and the code of a /2fa request. The
// code comes from a JSON or form body, or else from the query string, where
// the guide's clients send it (logs never record query strings).
func codeRequest(r *http.Request) (*gatehouse.User, string, error) {
	u, err := tokenUser(r)
	if err != nil {
		return nil, "", err
	}
	var code string
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.ContentLength == 0:
	case isForm(r):
		form, err := readForm(r)
		if err != nil {
			return nil, "", err
		}
		code = form.Get("code")
	case mt == "application/json":
		var body struct {
			Code *string `json:"code"`
		}
		if err := readJSON(r, &body); err != nil {
			return nil, "", err
		}
		if body.Code != nil {
			code = *body.Code
		}
	}
	if code == "" {
		code = r.URL.Query().Get("code")
	}
	if code == "" {
		return nil, "", missing("code")
	}
	return u, code, nil
}

// acceptsJSON reports whether the Accept header lists application/json
// (with a non-zero q); anything else gets the PNG, as in the guide.
func acceptsJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "application/json" {
				continue
			}
			if q, err := strconv.ParseFloat(params["q"], 64); err == nil && q == 0 {
				continue // "not acceptable" (RFC 9110 §12.4.2)
			}
			return true
		}
	}
	return false
}
