// Package passkeytest is a software authenticator for tests and
// benchmarks: it answers the options of package passkey's ceremonies as a
// browser with a platform authenticator would (attestation "none", ES256
// keys, discoverable credentials), and lets a test break any part of the
// answer — the origin, the RP ID, the counter, the user handle, the user
// verification flag.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/gatehouse/gatehouse"
)

// Authenticator is a software authenticator used from one origin. Its
// fields say how its next answer is made; tests change them to break it.
type Authenticator struct {
	Origin string // the client data's origin
	RPID   string // hashed into the authenticator data
	// NoUV leaves the user-verified flag unset (a security key without a
	// PIN); BackupEligible and BackupState set BE and BS.
	NoUV           bool
	BackupEligible bool
	BackupState    bool
	// Type overrides the client data's type ("webauthn.get" or
	// "webauthn.create") when set.
	Type string
	// Challenge overrides the challenge answered when set (base64url).
	Challenge string
}

// New returns an authenticator answering for origin and rpID.
func New(origin, rpID string) *Authenticator { return &Authenticator{Origin: origin, RPID: rpID} }

// Credential is a key pair the authenticator holds.
type Credential struct {
	ID         []byte
	UserHandle []byte // sent with every assertion (a passkey); nil: none
	Counter    uint32 // the last counter signed; the next assertion signs Counter+1 unless Fixed
	// FixedCounter keeps the counter at Counter (0: an authenticator
	// without one, as most passkey providers are).
	FixedCounter bool
	key          *ecdsa.PrivateKey
}

// NewCredential makes a credential for the user with that handle.
func NewCredential(userHandle []byte) *Credential {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &Credential{ID: id, UserHandle: userHandle, key: key}
}

// COSEKey is the credential's public key as a COSE_Key (RFC 9053 EC2,
// ES256).
func (c *Credential) COSEKey() []byte {
	pub, err := c.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	b, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		panic(err)
	}
	return b
}

// Passkey is the credential as a store would hold it once registered,
// for tests that skip the registration ceremony.
func (c *Credential) Passkey(userID int64, name string) *gatehouse.Passkey {
	return &gatehouse.Passkey{ID: c.ID, UserID: userID, Name: name, PublicKey: c.COSEKey(), SignCount: c.Counter,
		Transports: []string{"internal"}, AAGUID: make([]byte, 16), UVInitialized: true, AttestationFormat: "none"}
}

var b64 = base64.RawURLEncoding

// options is what the authenticator reads of a ceremony's options.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	if a.Type != "" {
		typ = a.Type
	}
	if a.Challenge != "" {
		challenge = a.Challenge
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) authData(counter uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	flags := byte(0x01) // UP
	if !a.NoUV {
		flags |= 0x04
	}
	if a.BackupEligible {
		flags |= 0x08
	}
	if a.BackupState {
		flags |= 0x10
	}
	if attested != nil {
		flags |= 0x40 // AT
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, counter)
	return append(out, attested...)
}

// Register answers the options of a registration (the JSON of
// navigator.credentials.create()'s argument) with a new credential for
// the user they name, and returns the response's JSON, as
// PublicKeyCredential.toJSON() gives it, and the credential.
func (a *Authenticator) Register(optionsJSON []byte) ([]byte, *Credential, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, nil, fmt.Errorf("passkeytest: options: %w", err)
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("passkeytest: user id: %w", err)
	}
	c := NewCredential(handle)
	cd := a.clientData("webauthn.create", o.PublicKey.Challenge)
	attested := make([]byte, 16) // AAGUID zero, as with attestation "none"
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(c.ID)))
	attested = append(attested, c.ID...)
	attested = append(attested, c.COSEKey()...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(c.Counter, attested)})
	if err != nil {
		return nil, nil, err
	}
	resp, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att),
			"transports": []string{"internal"}},
	})
	return resp, c, err
}

// Assert answers the options of a sign-in with c, signing the next
// counter, and returns the response's JSON.
func (a *Authenticator) Assert(optionsJSON []byte, c *Credential) ([]byte, error) {
	var o options
	if err := json.Unmarshal(optionsJSON, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: options: %w", err)
	}
	if !c.FixedCounter {
		c.Counter++
	}
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	ad := a.authData(c.Counter, nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	r := map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
		"signature": b64.EncodeToString(sig)}
	if c.UserHandle != nil {
		r["userHandle"] = b64.EncodeToString(c.UserHandle)
	}
	return json.Marshal(map[string]any{"id": b64.EncodeToString(c.ID), "rawId": b64.EncodeToString(c.ID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{}, "response": r})
}
