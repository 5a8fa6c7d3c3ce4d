package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/passkey"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/token"
)

// Passkeys (contract §14): registering them from a browser session,
// signing in with one without a username (or as the second step after the
// password), listing and deleting them. Package passkey runs the WebAuthn
// ceremonies; this file decides who may, keeps each ceremony's state, and
// opens the browser session.
//
// A ceremony's state — its challenge, its kind, who began it and when it
// ends — is sealed (AES-256-GCM under the Sealer, like mfa_tokens) into an
// opaque value the web layer keeps in an HttpOnly cookie of the browser
// that began it: no client can read or forge it, any instance can open it
// (they share the encryption key), and nothing is stored until a Finish,
// so a flood of Begins grows no table. It lasts passkey.Timeout (5
// minutes) and is single use: Finish spends its id in the NonceStore (one
// row, purged with the others once expired) before looking at the
// response, so a replayed or second Finish of one ceremony is refused,
// whatever its outcome the first time.
//
// What a passkey sign-in is worth:
//   - with user verification (UV: the authenticator checked a PIN or
//     biometrics), a passkey is two factors — something held and something
//     known or inherent — and satisfies 2FA on its own: amr "hwk user";
//   - without it, it is one factor, possession: it signs nobody in alone
//     (the sign-in without a username requires UV), and serves as the
//     second step after the password: amr "pwd hwk".
//
// Registering or deleting a passkey needs a recent authentication: a
// browser session whose login is at most RecentAuth old, or the password
// typed again. A stolen session cookie alone can neither add a passkey
// (a way back in after the session ends) nor remove the owner's.

// RecentAuth is how recent a login must be to register or delete a passkey
// without typing the password again.
const RecentAuth = 5 * time.Minute

// ceremonyPrefix marks sealed ceremony states.
const ceremonyPrefix = "ghc_"

// ceremonyAAD sets ceremony states apart from everything else the Sealer
// seals.
var ceremonyAAD = []byte("gatehouse passkey ceremony v1")

// Ceremony kinds.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"  // without a username
	ceremonySecond   = "second" // after the password, with an mfa_token
)

// ceremonyState is what a sealed ceremony state holds.
type ceremonyState struct {
	ID        string           `json:"jti"` // spent in the NonceStore by Finish
	Kind      string           `json:"k"`
	C         passkey.Ceremony `json:"c"`
	SessionID string           `json:"sid,omitempty"` // register: the browser session that began it
	MFA       string           `json:"mfa,omitempty"` // second: the mfa_token's id
	Name      string           `json:"n,omitempty"`   // register: the new passkey's name
	Expires   int64            `json:"exp"`           // Unix seconds
}

var (
	// ErrPasskeysOff answers every ceremony when no RP is configured (an
	// IP address as the public URL's host).
	ErrPasskeysOff = &gatehouse.Error{Code: gatehouse.EBADREQUEST,
		Message: "Passkeys are unavailable here: Gatehouse is served at an IP address, which browsers refuse for passkeys"}
	errCeremonyGone = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED,
		Message: "This passkey request took too long or was already used. Try again."}
	errPasskeyRefused = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Message: "The passkey was not accepted."}
	errPasskeyUnknown = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED,
		Message: "This passkey is not registered here (it may have been deleted). Sign in with your password."}
	errPasskeyNoUV = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED,
		Message: "This passkey did not verify you (no PIN or biometrics), so it cannot sign you in alone. Sign in with your password; the passkey can then be your second step."}
	errPasskeyNotSaved = &gatehouse.Error{Code: gatehouse.EBADREQUEST, Message: "The new passkey could not be verified, so it was not saved."}
	errPasskeyTaken    = &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "This passkey is already registered."}
	errNoPasskeys      = &gatehouse.Error{Code: gatehouse.EBADREQUEST, Message: "No passkey is registered for this account."}
	errPasskeyNotFound = &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "Passkey not found"}
	// ErrReauthRequired refuses a passkey change from a session whose login
	// is older than RecentAuth, without the password.
	ErrReauthRequired = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED,
		Message: "Enter your current password: you signed in more than 5 minutes ago."}
	errReauthWrong = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Message: "Incorrect password."}
)

// PasskeysEnabled reports whether passkeys can be used: an RP is
// configured.
func (s *Service) PasskeysEnabled() bool { return s.cfg.Passkeys != nil }

// Passkeys returns a user's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, userID int64) ([]*gatehouse.Passkey, error) {
	list, err := s.cfg.Store.PasskeysByUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("auth: passkeys: %w", err)
	}
	return list, nil
}

// sealCeremony seals st, which ends passkey.Timeout from now.
func (s *Service) sealCeremony(st *ceremonyState) (string, error) {
	if s.cfg.Sealer == nil {
		return "", errNoSealer
	}
	st.ID, st.Expires = token.NewID(), s.now().Add(passkey.Timeout).Unix()
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("auth: ceremony state: %w", err)
	}
	return ceremonyPrefix + s.cfg.Sealer.Seal(b, ceremonyAAD), nil
}

// spendCeremony opens a sealed ceremony state of kind and spends it: an
// unreadable, expired, other kind of, or already spent state is
// errCeremonyGone (audited as passkey.ReasonExpired by the caller).
func (s *Service) spendCeremony(ctx context.Context, sealed, kind string) (*ceremonyState, error) {
	rest, ok := strings.CutPrefix(sealed, ceremonyPrefix)
	if !ok || len(rest) > 2048 || s.cfg.Sealer == nil {
		return nil, errCeremonyGone
	}
	b, err := s.cfg.Sealer.Open(rest, ceremonyAAD)
	var st ceremonyState
	if err != nil || json.Unmarshal(b, &st) != nil || st.ID == "" || st.Kind != kind {
		return nil, errCeremonyGone
	}
	exp := time.Unix(st.Expires, 0)
	if !s.now().Before(exp) {
		return nil, errCeremonyGone
	}
	first, err := s.cfg.Store.UseNonce(ctx, "passkey:"+st.ID, exp)
	if err != nil {
		return nil, fmt.Errorf("auth: spend passkey ceremony: %w", err)
	}
	if !first {
		return nil, errCeremonyGone
	}
	return &st, nil
}

// refusePasskey audits a refused ceremony response and returns what the
// user is told. A counter that did not advance needs the credential's
// private key, so it is a real event (a cloned authenticator?); every
// other refusal is one a stranger can cause, aggregated per client.
func (s *Service) refusePasskey(ctx context.Context, userID int64, what string, err error) error {
	reason := passkey.ReasonOf(err)
	if reason == "" {
		if err == errCeremonyGone {
			reason = passkey.ReasonExpired
		} else {
			return err // not a refusal: the store failed
		}
	}
	typ := gatehouse.EventPasskeyRefused
	if reason == passkey.ReasonCounter {
		typ = gatehouse.EventPasskeyCounter
	}
	s.log.InfoContext(ctx, "passkey refused", "what", what, "reason", string(reason), "user_id", userID, "err", err)
	s.met.Login("failure")
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: typ, Outcome: gatehouse.OutcomeFailure, UserID: userID,
		Detail: what + ": " + string(reason)})
	switch reason {
	case passkey.ReasonExpired:
		return errCeremonyGone
	case passkey.ReasonUnknown:
		return errPasskeyUnknown
	case passkey.ReasonNoUV:
		return errPasskeyNoUV
	}
	if what == "registration" {
		return errPasskeyNotSaved
	}
	return errPasskeyRefused
}

// passkeyUser is the ceremony's view of u with its passkeys.
func passkeyUser(u *gatehouse.User, list []*gatehouse.Passkey) *passkey.User {
	return &passkey.User{ID: u.ID, Name: u.Username, DisplayName: u.FullName, Passkeys: list}
}

// PasskeyName checks and tidies a passkey's name: surrounding space
// trimmed, 1–64 characters, no control characters. Empty is "Passkey".
func PasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey", nil
	}
	if len([]rune(name)) > 64 || strings.IndexFunc(name, unicode.IsControl) >= 0 || !utfValid(name) {
		return "", gatehouse.Invalid([]string{"body", "name"}, "A passkey's name is 1 to 64 characters, without control characters", "value_error")
	}
	return name, nil
}

func utfValid(s string) bool { return strings.ToValidUTF8(s, "") == s }

// requireRecentAuth lets a passkey change through for a browser session
// whose login is at most RecentAuth old, or with the user's password.
func (s *Service) requireRecentAuth(ctx context.Context, p *gatehouse.Principal, pw string) error {
	if !IsBrowser(p) {
		return gatehouse.Errorf(gatehouse.EFORBIDDEN, "Passkeys are managed from the account page")
	}
	if pw == "" {
		sess, err := s.cfg.Store.LiveSession(ctx, p.SessionID, s.now())
		if err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
				return errBadSession
			}
			return fmt.Errorf("auth: recent authentication: %w", err)
		}
		if s.now().Sub(sess.AuthTime) <= RecentAuth {
			return nil
		}
		return ErrReauthRequired
	}
	u, err := s.cfg.Store.UserByID(ctx, p.User.ID)
	if err != nil {
		return fmt.Errorf("auth: recent authentication: %w", err)
	}
	var ok bool
	var verr error
	if err := s.hash(ctx, func() { ok, _, verr = s.cfg.Hasher.Verify(pw, u.PasswordHash) }); err != nil {
		return err
	}
	if verr != nil || !ok {
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeFailure,
			UserID: u.ID, Username: u.Username, Detail: "password confirmation for a passkey change"})
		return errReauthWrong
	}
	return nil
}

// BeginPasskeyRegistration starts registering a passkey named name for the
// user of browser session p, who signed in at most RecentAuth ago or gives
// the password again (pw). It returns the options for
// navigator.credentials.create() as JSON and the sealed ceremony state for
// the browser's cookie.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, p *gatehouse.Principal, name, pw string) ([]byte, string, error) {
	rp := s.cfg.Passkeys
	if rp == nil {
		return nil, "", ErrPasskeysOff
	}
	name, err := PasskeyName(name)
	if err != nil {
		return nil, "", err
	}
	if err := s.requireRecentAuth(ctx, p, pw); err != nil {
		return nil, "", err
	}
	list, err := s.Passkeys(ctx, p.User.ID)
	if err != nil {
		return nil, "", err
	}
	if len(list) >= s.cfg.MaxPasskeys {
		return nil, "", gatehouse.TooManyPasskeys(s.cfg.MaxPasskeys)
	}
	opts, c, err := rp.BeginRegistration(passkeyUser(p.User, list))
	if err != nil {
		return nil, "", err
	}
	st, err := s.sealCeremony(&ceremonyState{Kind: ceremonyRegister, C: c, SessionID: p.SessionID, Name: name})
	return opts, st, err
}

// FinishPasskeyRegistration verifies the browser's answer (the JSON of the
// new PublicKeyCredential) to the registration ceremony whose sealed state
// is state, begun by the same browser session p, and stores the passkey.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, p *gatehouse.Principal, state string, body []byte) (*gatehouse.Passkey, error) {
	rp := s.cfg.Passkeys
	if rp == nil {
		return nil, ErrPasskeysOff
	}
	st, err := s.spendCeremony(ctx, state, ceremonyRegister)
	if err == nil && (st.SessionID != p.SessionID || st.C.UserID != p.User.ID) {
		err = errCeremonyGone // another session's ceremony
	}
	if err != nil {
		return nil, s.refusePasskey(ctx, p.User.ID, "registration", err)
	}
	list, err := s.Passkeys(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	pk, err := rp.FinishRegistration(st.C, passkeyUser(p.User, list), body)
	if err != nil {
		return nil, s.refusePasskey(ctx, p.User.ID, "registration", err)
	}
	pk.Name = st.Name
	if err := s.cfg.Store.CreatePasskey(ctx, pk, s.cfg.MaxPasskeys); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
			// The cap, or an id already registered (by this user on
			// another browser, or — by chance — someone else).
			if _, e := s.cfg.Store.PasskeyByID(ctx, pk.ID); e == nil {
				return nil, errPasskeyTaken
			}
		}
		return nil, err
	}
	s.auditUser(ctx, gatehouse.EventPasskeyRegistered, p.User.ID, "passkey registered: "+capText(pk.Name, 64))
	return pk, nil
}

// BeginPasskeyLogin starts a sign-in without a username: the options for
// navigator.credentials.get() as JSON (a conditional request, for the
// browser's autofill, when conditional) and the sealed ceremony state.
func (s *Service) BeginPasskeyLogin(ctx context.Context, conditional bool) ([]byte, string, error) {
	rp := s.cfg.Passkeys
	if rp == nil {
		return nil, "", ErrPasskeysOff
	}
	opts, c, err := rp.BeginLogin(0, nil, conditional, true)
	if err != nil {
		return nil, "", err
	}
	st, err := s.sealCeremony(&ceremonyState{Kind: ceremonyLogin, C: c})
	return opts, st, err
}

// BeginPasskeySecondFactor starts the second step of a password login with
// a passkey instead of a code: mfaToken is the step's mfa_token, whose
// user's passkeys may answer.
func (s *Service) BeginPasskeySecondFactor(ctx context.Context, mfaToken string) ([]byte, string, error) {
	rp := s.cfg.Passkeys
	if rp == nil {
		return nil, "", ErrPasskeysOff
	}
	c, ok := s.openMFAToken(mfaToken)
	if !ok {
		return nil, "", errBadMFAToken
	}
	list, err := s.Passkeys(ctx, c.UserID)
	if err != nil {
		return nil, "", err
	}
	if len(list) == 0 {
		return nil, "", errNoPasskeys
	}
	opts, cer, err := rp.BeginLogin(c.UserID, list, false, false)
	if err != nil {
		return nil, "", err
	}
	st, err := s.sealCeremony(&ceremonyState{Kind: ceremonySecond, C: cer, MFA: c.ID})
	return opts, st, err
}

// FinishPasskeyLogin verifies the browser's answer (the JSON of the
// PublicKeyCredential) to a sign-in ceremony and opens a browser session.
// For a sign-in without a username, mfaToken is "": the passkey's user
// handle names the user, and the passkey must have verified the user. For
// the second step of a password login, mfaToken is that step's mfa_token,
// spent by the success.
//
// The user must exist and be enabled; a disabled one gets EINACTIVE, told
// only once the assertion verified. Every refused answer is audited with
// its reason.
func (s *Service) FinishPasskeyLogin(ctx context.Context, state string, body []byte, mfaToken string) (*BrowserSession, error) {
	b, u, err := s.finishPasskeyLogin(ctx, state, body, mfaToken)
	if err != nil && (passkey.ReasonOf(err) != "" || err == errCeremonyGone) {
		var uid int64
		if u != nil {
			uid = u.ID
		}
		return nil, s.refusePasskey(ctx, uid, "sign-in", err)
	}
	name := ""
	if u != nil {
		name = u.Username
	}
	amr := ""
	if b != nil {
		amr = b.AMR
	}
	s.recordLogin(ctx, name, u, "passkey", amr, err)
	return b, err
}

func (s *Service) finishPasskeyLogin(ctx context.Context, state string, body []byte, mfaToken string) (*BrowserSession, *gatehouse.User, error) {
	rp := s.cfg.Passkeys
	if rp == nil {
		return nil, nil, ErrPasskeysOff
	}
	kind := ceremonyLogin
	var mfa mfaClaims
	if mfaToken != "" {
		kind = ceremonySecond
		var ok bool
		if mfa, ok = s.openMFAToken(mfaToken); !ok {
			return nil, nil, errBadMFAToken
		}
	}
	st, err := s.spendCeremony(ctx, state, kind)
	if err != nil {
		return nil, nil, err
	}
	if kind == ceremonySecond && st.MFA != mfa.ID {
		return nil, nil, errCeremonyGone // begun for another login
	}
	a, err := passkey.ParseAssertion(body)
	if err != nil {
		return nil, nil, err
	}
	pk, err := s.cfg.Store.PasskeyByID(ctx, a.CredentialID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, nil, &passkey.Refusal{Reason: passkey.ReasonUnknown}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("auth: passkey sign-in: %w", err)
	}
	u, err := s.cfg.Store.UserByID(ctx, pk.UserID)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: passkey sign-in: %w", err) // the passkey goes with its user
	}
	if kind == ceremonyLogin {
		if id, ok := passkey.UserIDOf(a.UserHandle); !ok || id != u.ID {
			return nil, u, &passkey.Refusal{Reason: passkey.ReasonUserHandle}
		}
	}
	v, err := rp.FinishLogin(st.C, a, passkeyUser(u, nil), pk)
	if err != nil {
		return nil, u, err
	}
	ok, err := s.cfg.Store.UsePasskey(ctx, pk.ID, gatehouse.PasskeyUse{OldCount: pk.SignCount, NewCount: v.SignCount,
		BackupState: v.BackupState, At: s.now()})
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, u, &passkey.Refusal{Reason: passkey.ReasonUnknown} // deleted meanwhile
	}
	if err != nil {
		return nil, u, fmt.Errorf("auth: passkey sign-in: %w", err)
	}
	if !ok { // another use advanced the counter since it was read
		return nil, u, &passkey.Refusal{Reason: passkey.ReasonCounter, Err: errors.New("concurrent use")}
	}
	if u.Disabled {
		return nil, u, errInactive
	}
	amr, scope := gatehouse.AMRHardwareKey, rbac.Grant(u.Role, "")
	if kind == ceremonySecond {
		if !u.TOTPEnabled { // 2FA reset since the password step: start again
			return nil, u, errBadMFAToken
		}
		// As for a code (mfatoken.go): the password step checked a hash
		// the user no longer has, and its token died with it.
		if mfa.Cred == "" || mfa.Cred != gatehouse.CredentialFingerprint(u.PasswordHash) {
			return nil, u, errBadMFAToken
		}
		first, err := s.cfg.Store.UseNonce(ctx, "mfa:"+mfa.ID, time.Unix(mfa.Expires, 0))
		if err != nil {
			return nil, u, err
		}
		if !first {
			return nil, u, errBadMFAToken
		}
		amr, scope = gatehouse.AMRPassword+" "+amr, rbac.Restrict(u.Role, mfa.Scope)
	}
	if v.UserVerified {
		amr += " " + gatehouse.AMRUser
	}
	sess := s.newSession(ctx, u, scope, gatehouse.SessionBrowser, s.now())
	sess.AMR = amr
	if kind == ceremonySecond {
		sess.Credential = mfa.Cred // the store checks it again, atomically
	}
	pair, err := s.openBrowserSession(ctx, u, sess)
	if errors.Is(err, gatehouse.ErrCredentialChanged) {
		return nil, u, errBadMFAToken
	}
	if err != nil {
		return nil, u, err
	}
	return pair.Browser, u, nil
}

// DeletePasskey deletes the passkey id of the user of browser session p,
// who signed in at most RecentAuth ago or gives the password again (pw).
// A passkey that is not the user's is ENOTFOUND.
func (s *Service) DeletePasskey(ctx context.Context, p *gatehouse.Principal, id []byte, pw string) error {
	pk, err := s.cfg.Store.PasskeyByID(ctx, id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND || err == nil && pk.UserID != p.User.ID {
		return errPasskeyNotFound
	}
	if err != nil {
		return fmt.Errorf("auth: delete passkey: %w", err)
	}
	if err := s.requireRecentAuth(ctx, p, pw); err != nil {
		return err
	}
	if err := s.cfg.Store.DeletePasskey(ctx, p.User.ID, id); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			return errPasskeyNotFound
		}
		return fmt.Errorf("auth: delete passkey: %w", err)
	}
	s.auditUser(ctx, gatehouse.EventPasskeyDeleted, p.User.ID, "passkey deleted: "+capText(pk.Name, 64))
	return nil
}

// RecentlyAuthenticated reports whether browser session p's login is at
// most RecentAuth old, so that a passkey change needs no password.
func (s *Service) RecentlyAuthenticated(ctx context.Context, p *gatehouse.Principal) bool {
	if !IsBrowser(p) {
		return false
	}
	sess, err := s.cfg.Store.LiveSession(ctx, p.SessionID, s.now())
	return err == nil && s.now().Sub(sess.AuthTime) <= RecentAuth
}

// MFATokenHasPasskeys reports whether the user of a live mfa_token holds a
// passkey, which the second step may then offer.
func (s *Service) MFATokenHasPasskeys(ctx context.Context, mfaToken string) bool {
	if s.cfg.Passkeys == nil {
		return false
	}
	c, ok := s.openMFAToken(mfaToken)
	if !ok {
		return false
	}
	n, err := s.cfg.Store.CountPasskeys(ctx, c.UserID)
	return err == nil && n > 0
}
