// Package passkey runs the WebAuthn Level 2 ceremonies of contract §14 —
// registering a passkey and signing in with one — over
// github.com/go-webauthn/webauthn, the library Authelia, Kratos and
// Supabase use. It decides nothing about sessions or accounts and keeps no
// state: a ceremony's challenge comes back from Begin as a Ceremony, which
// the caller keeps (auth seals it into a cookie of the browser that began
// it and makes it single use) and hands to Finish.
//
// Before the library verifies a response, Finish checks the parts whose
// failure must be told apart in the audit log — the ceremony type, the
// challenge, the origin and the RP ID hash — so that each refusal has a
// Reason; the library then verifies everything again, the signature,
// flags and attestation included.
package passkey

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse"
)

// Timeout is how long a ceremony may take, from Begin to Finish; the
// browser is told the same.
const Timeout = 5 * time.Minute

// MaxCredentialID is the longest credential id accepted (WebAuthn Level 2
// §5.1: at most 1023 bytes).
const MaxCredentialID = 1023

// Config configures an RP.
type Config struct {
	// RPID is the relying party id: a host name that is the origins' host
	// or a parent domain of it. Browsers refuse an IP address.
	RPID string
	// Origins are the web origins the ceremonies may come from
	// (scheme://host[:port]).
	Origins []string
	// Name is shown by authenticators; default "Gatehouse".
	Name string
}

// ErrIPAddress is the error of an RP ID that is an IP address, which
// browsers refuse (WebAuthn Level 2 §5.1.3 needs a valid domain).
var ErrIPAddress = errors.New("an IP address cannot be a WebAuthn RP ID: serve Gatehouse at a host name (localhost works on this machine)")

// CheckConfig reports what is wrong with an RP ID and origins, naming the
// setting: the RP ID must be a domain, each origin an http(s) origin whose
// host is the RP ID or a subdomain of it (§5.1.3), and https unless the
// host is localhost.
func CheckConfig(rpID string, origins []string) error {
	if err := CheckRPID(rpID); err != nil {
		return err
	}
	if len(origins) == 0 {
		return errors.New("no origin")
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
		}
		host := strings.ToLower(u.Hostname())
		if host != rpID && !strings.HasSuffix(host, "."+rpID) {
			return fmt.Errorf("the origin %q is not on the RP ID %q or a subdomain of it", o, rpID)
		}
		if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			return fmt.Errorf("the origin %q is plain http: browsers allow passkeys over http only on localhost", o)
		}
	}
	return nil
}

// CheckRPID reports what is wrong with an RP ID: it must be a host name,
// not an IP address.
func CheckRPID(rpID string) error {
	if rpID == "" {
		return errors.New("the RP ID is empty")
	}
	if net.ParseIP(strings.Trim(rpID, "[]")) != nil {
		return ErrIPAddress
	}
	if err := protocol.ValidateRPID(rpID); err != nil || strings.ContainsAny(rpID, ":/") {
		return fmt.Errorf("the RP ID %q is not a host name", rpID)
	}
	return nil
}

// RP is a relying party: the ceremonies for one RP ID and its origins.
type RP struct {
	wa       *webauthn.WebAuthn
	rpID     string
	origins  []string
	rpIDHash [sha256.Size]byte
}

// New returns an RP, or the error of CheckConfig.
func New(cfg Config) (*RP, error) {
	cfg.RPID = strings.ToLower(cfg.RPID)
	if err := CheckConfig(cfg.RPID, cfg.Origins); err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = "Gatehouse"
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.Name,
		RPOrigins:             slices.Clone(cfg.Origins),
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: Timeout, TimeoutUVD: Timeout},
			Registration: webauthn.TimeoutConfig{Timeout: Timeout, TimeoutUVD: Timeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &RP{wa: wa, rpID: cfg.RPID, origins: slices.Clone(cfg.Origins), rpIDHash: sha256.Sum256([]byte(cfg.RPID))}, nil
}

// RPID returns the relying party id.
func (rp *RP) RPID() string { return rp.rpID }

// Origins returns the accepted origins.
func (rp *RP) Origins() []string { return slices.Clone(rp.origins) }

// UserHandle is the WebAuthn user handle of a user: the user id, 8 bytes
// big endian. It names no one outside Gatehouse (§14.6.1 asks for no
// personal information in it); that ids are sequential tells only how
// many accounts there were.
func UserHandle(userID int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(userID))
}

// UserIDOf reads a user handle; false when it is not one of ours.
func UserIDOf(handle []byte) (int64, bool) {
	if len(handle) != 8 {
		return 0, false
	}
	id := int64(binary.BigEndian.Uint64(handle))
	return id, id > 0
}

// User is who a ceremony is for: an account and its passkeys.
type User struct {
	ID          int64
	Name        string // the username, shown by authenticators
	DisplayName string // the full name, or the username
	Passkeys    []*gatehouse.Passkey
}

// webauthnUser adapts User to the library.
type webauthnUser struct{ u *User }

func (w webauthnUser) WebAuthnID() []byte { return UserHandle(w.u.ID) }

func (w webauthnUser) WebAuthnName() string { return w.u.Name }

func (w webauthnUser) WebAuthnDisplayName() string {
	if w.u.DisplayName != "" {
		return w.u.DisplayName
	}
	return w.u.Name
}

func (w webauthnUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(w.u.Passkeys))
	for i, p := range w.u.Passkeys {
		out[i] = credentialOf(p)
	}
	return out
}

// credentialOf is the library's credential record of a passkey.
func credentialOf(p *gatehouse.Passkey) webauthn.Credential {
	var flags protocol.AuthenticatorFlags
	if p.UVInitialized {
		flags |= protocol.FlagUserVerified
	}
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: p.ID, PublicKey: p.PublicKey, AttestationFormat: p.AttestationFormat, Transport: transports,
		Flags:         webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
}

// Ceremony is what Finish needs of a Begin: the challenge and who it was
// for. It is the caller's to keep safe from the client (sealed, or on the
// server) and to use once.
type Ceremony struct {
	Challenge string `json:"c"`           // base64url, as the client data carries it
	UserID    int64  `json:"u,omitempty"` // 0: a sign-in without a username
	// RequireUV is set when only a user-verifying assertion will do.
	RequireUV bool `json:"uv,omitempty"`
}

// BeginRegistration starts registering a passkey for u: the options for
// navigator.credentials.create() as JSON, and the ceremony. A
// discoverable credential (a passkey) is required, user verification
// preferred, attestation "none"; u's passkeys are excluded, so an
// authenticator does not register twice.
func (rp *RP) BeginRegistration(u *User) ([]byte, Ceremony, error) {
	exclude := make([]protocol.CredentialDescriptor, len(u.Passkeys))
	for i, p := range u.Passkeys {
		c := credentialOf(p)
		exclude[i] = c.Descriptor()
	}
	creation, sess, err := rp.wa.BeginRegistration(webauthnUser{u}, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, Ceremony{}, fmt.Errorf("passkey: begin registration: %w", err)
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		return nil, Ceremony{}, fmt.Errorf("passkey: begin registration: %w", err)
	}
	return opts, Ceremony{Challenge: sess.Challenge, UserID: u.ID}, nil
}

// BeginLogin starts a sign-in: the options for navigator.credentials.get()
// as JSON, and the ceremony. With allow empty it is a sign-in without a
// username (discoverable credentials), in the browser's autofill when
// conditional; otherwise allow lists the passkeys of user userID that may
// answer (a second factor after the password). User verification is
// preferred: requireUV makes Finish refuse an assertion without it.
func (rp *RP) BeginLogin(userID int64, allow []*gatehouse.Passkey, conditional, requireUV bool) ([]byte, Ceremony, error) {
	descs := make([]protocol.CredentialDescriptor, len(allow))
	for i, p := range allow {
		c := credentialOf(p)
		descs[i] = c.Descriptor()
	}
	mediation := protocol.MediationDefault
	if conditional {
		mediation = protocol.MediationConditional
	}
	assertion, sess, err := rp.wa.BeginDiscoverableMediatedLogin(mediation,
		webauthn.WithAllowedCredentials(descs), webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, Ceremony{}, fmt.Errorf("passkey: begin login: %w", err)
	}
	opts, err := json.Marshal(assertion)
	if err != nil {
		return nil, Ceremony{}, fmt.Errorf("passkey: begin login: %w", err)
	}
	return opts, Ceremony{Challenge: sess.Challenge, UserID: userID, RequireUV: requireUV}, nil
}
