package passkey

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse"
)

// Reason says why a ceremony's response was refused, in words fit for the
// audit log (never the response's content).
type Reason string

// The reasons a response is refused.
const (
	ReasonMalformed    Reason = "malformed response"
	ReasonType         Reason = "wrong ceremony type"
	ReasonChallenge    Reason = "challenge does not match" // another ceremony's response
	ReasonOrigin       Reason = "wrong origin"
	ReasonRPID         Reason = "wrong RP ID"
	ReasonUnknown      Reason = "unknown or deleted credential"
	ReasonOtherUser    Reason = "credential of another user"
	ReasonUserHandle   Reason = "user handle does not match the credential's user"
	ReasonNoUV         Reason = "the authenticator did not verify the user"
	ReasonCounter      Reason = "signature counter did not advance (cloned authenticator?)"
	ReasonInvalid      Reason = "verification failed" // signature, flags, attestation: the library's checks
	ReasonExpired      Reason = "challenge expired or already used"
	ReasonTooLong      Reason = "credential id too long"
	ReasonNotPermitted Reason = "credential not permitted"
)

// Refusal is the error of a refused response.
type Refusal struct {
	Reason Reason
	Err    error // the library's error, for logs; may be nil
}

func (r *Refusal) Error() string {
	if r.Err != nil {
		return "passkey: " + string(r.Reason) + ": " + r.Err.Error()
	}
	return "passkey: " + string(r.Reason)
}

func (r *Refusal) Unwrap() error { return r.Err }

func refuse(reason Reason, err error) *Refusal { return &Refusal{Reason: reason, Err: err} }

// ReasonOf returns the Reason of a refusal, "" for any other error.
func ReasonOf(err error) Reason {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// checkClient checks what the client data and authenticator data say
// about where a response comes from, so that each failure has its reason.
func (rp *RP) checkClient(c Ceremony, cd *protocol.CollectedClientData, rpIDHash []byte, ceremony protocol.CeremonyType) error {
	if cd.Type != ceremony {
		return refuse(ReasonType, nil)
	}
	if subtle.ConstantTimeCompare([]byte(cd.Challenge), []byte(c.Challenge)) != 1 {
		return refuse(ReasonChallenge, nil)
	}
	if !protocol.IsOriginInHaystack(cd.Origin, rp.origins) {
		return refuse(ReasonOrigin, fmt.Errorf("origin %q", capped(cd.Origin)))
	}
	if !bytes.Equal(rpIDHash, rp.rpIDHash[:]) {
		return refuse(ReasonRPID, nil)
	}
	return nil
}

// capped keeps client-controlled text short in errors.
func capped(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// FinishRegistration verifies the response of navigator.credentials.create()
// (its JSON, as PublicKeyCredential.toJSON gives it) to the ceremony c for
// u, and returns the new passkey, unnamed and unstored. Every refusal is a
// *Refusal.
func (rp *RP) FinishRegistration(c Ceremony, u *User, body []byte) (*gatehouse.Passkey, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, refuse(ReasonMalformed, err)
	}
	if c.UserID != u.ID {
		return nil, refuse(ReasonOtherUser, nil)
	}
	att := &parsed.Response.AttestationObject
	if err := rp.checkClient(c, &parsed.Response.CollectedClientData, att.AuthData.RPIDHash, protocol.CreateCeremony); err != nil {
		return nil, err
	}
	if len(att.AuthData.AttData.CredentialID) > MaxCredentialID {
		return nil, refuse(ReasonTooLong, nil)
	}
	sess := webauthn.SessionData{Challenge: c.Challenge, RelyingPartyID: rp.rpID, UserID: UserHandle(u.ID),
		UserVerification: protocol.VerificationPreferred, CredParams: webauthn.CredentialParametersDefault()}
	if c.RequireUV {
		sess.UserVerification = protocol.VerificationRequired
	}
	cred, err := rp.wa.CreateCredential(webauthnUser{u}, sess, parsed)
	if err != nil {
		return nil, refuse(ReasonInvalid, err)
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		if s := string(t); s != "" && len(s) <= 32 && len(transports) < 8 {
			transports = append(transports, s)
		}
	}
	return &gatehouse.Passkey{
		ID: cred.ID, UserID: u.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		Transports: transports, AAGUID: cred.Authenticator.AAGUID,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		UVInitialized: cred.Flags.UserVerified, AttestationFormat: cred.AttestationFormat,
	}, nil
}

// Assertion is a parsed response of navigator.credentials.get(), not yet
// verified: which credential answered, and for whom it says it answered.
type Assertion struct {
	CredentialID []byte
	UserHandle   []byte // empty when the authenticator sent none (not a passkey)
	parsed       *protocol.ParsedCredentialAssertionData
}

// ParseAssertion parses the JSON of a navigator.credentials.get()
// response. A response that is not one is a *Refusal (ReasonMalformed).
func ParseAssertion(body []byte) (*Assertion, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, refuse(ReasonMalformed, err)
	}
	if len(parsed.RawID) == 0 || len(parsed.RawID) > MaxCredentialID {
		return nil, refuse(ReasonMalformed, errors.New("credential id empty or too long"))
	}
	return &Assertion{CredentialID: parsed.RawID, UserHandle: parsed.Response.UserHandle, parsed: parsed}, nil
}

// Verified is what a verified assertion tells.
type Verified struct {
	UserVerified bool   // the authenticator verified the user (UV)
	BackupState  bool   // the credential is backed up now (BS)
	SignCount    uint32 // the assertion's counter
}

// FinishLogin verifies assertion a to ceremony c, made with pk, a passkey
// of u (the caller found pk by a's credential id and u by pk's owner).
// Every refusal is a *Refusal: a user handle that names someone else, a
// ceremony for another user, an origin, RP ID or challenge of another
// ceremony, a missing user verification when c requires it, a signature
// or flags that do not verify, and a counter that did not advance.
func (rp *RP) FinishLogin(c Ceremony, a *Assertion, u *User, pk *gatehouse.Passkey) (*Verified, error) {
	if pk.UserID != u.ID || !bytes.Equal(pk.ID, a.CredentialID) {
		return nil, refuse(ReasonOtherUser, nil)
	}
	if c.UserID != 0 && c.UserID != u.ID {
		return nil, refuse(ReasonOtherUser, nil)
	}
	if len(a.UserHandle) > 0 && !bytes.Equal(a.UserHandle, UserHandle(u.ID)) {
		return nil, refuse(ReasonUserHandle, nil)
	}
	resp := &a.parsed.Response
	if err := rp.checkClient(c, &resp.CollectedClientData, resp.AuthenticatorData.RPIDHash, protocol.AssertCeremony); err != nil {
		return nil, err
	}
	uv := resp.AuthenticatorData.Flags.HasUserVerified()
	if c.RequireUV && !uv {
		return nil, refuse(ReasonNoUV, nil)
	}
	one := &User{ID: u.ID, Name: u.Name, Passkeys: []*gatehouse.Passkey{pk}}
	sess := webauthn.SessionData{Challenge: c.Challenge, RelyingPartyID: rp.rpID, UserVerification: protocol.VerificationPreferred}
	var cred *webauthn.Credential
	var err error
	if len(a.UserHandle) > 0 {
		// A passkey: the library's sign-in without a username, which
		// insists on the user handle.
		_, cred, err = rp.wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return webauthnUser{one}, nil }, sess, a.parsed)
	} else {
		sess.UserID, sess.AllowedCredentialIDs = UserHandle(u.ID), [][]byte{pk.ID}
		cred, err = rp.wa.ValidateLogin(webauthnUser{one}, sess, a.parsed)
	}
	if err != nil {
		return nil, refuse(ReasonInvalid, err)
	}
	if cred.Authenticator.CloneWarning {
		return nil, refuse(ReasonCounter, fmt.Errorf("counter %d, stored %d", resp.AuthenticatorData.Counter, pk.SignCount))
	}
	return &Verified{UserVerified: uv, BackupState: resp.AuthenticatorData.Flags.HasBackupState(),
		SignCount: resp.AuthenticatorData.Counter}, nil
}
