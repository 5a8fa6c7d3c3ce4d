package totp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a Sealer key: AES-256.
const KeySize = 32

// minMasterSize is the shortest master secret DeriveKey accepts. HKDF extracts
// entropy but cannot add any, so the master must already be a key-sized secret.
const minMasterSize = 32

// DeriveKey derives a Sealer key from a master secret (the server secret or
// GATEHOUSE_ENCRYPTION_KEY) with HKDF-SHA256 (RFC 5869). info names the use,
// e.g. "gatehouse totp v1", so that one master yields independent keys for
// different purposes (RFC 5869 §3.2). No salt is used: the master is already
// uniformly random, and RFC 5869 §3.1 makes the salt optional.
func DeriveKey(master []byte, info string) ([]byte, error) {
	if len(master) < minMasterSize {
		return nil, fmt.Errorf("totp: derive key: master secret is %d bytes, want at least %d", len(master), minMasterSize)
	}
	key, err := hkdf.Key(sha256.New, master, nil, info, KeySize)
	if err != nil {
		return nil, fmt.Errorf("totp: derive key: %w", err)
	}
	return key, nil
}

// sealVersion prefixes every sealed value, so the format can change later.
const sealVersion = "v1"

// A Sealer encrypts small secrets (TOTP secrets) for storage with AES-256-GCM
// under a random 96-bit nonce. The additional data passed to Seal and Open
// binds a ciphertext to its row, typically the user id, so that a ciphertext
// copied into another row does not open there.
//
// A sealed value reads "v1.<kid>.<base64url(nonce|ciphertext|tag)>", where kid
// is the hex of the first 4 bytes of the key's SHA-256: it lets Open pick the
// key and reveals nothing about it.
//
// To rotate the key: configure the new key as current and the previous one as
// old; everything new is sealed under the new key while old values still open.
// Re-seal each value for which NeedsReseal reports true (lazily when it is
// read, or in one pass over the table); once none is left, drop the old key.
// With random 96-bit nonces, NIST SP 800-38D §8.3 allows one key at most
// 2^32 seals. That counts every seal, not just stored secrets: auth also
// seals each mfa_token, so the count grows with two-factor logins. At a
// million such logins a day the bound is over ten years away; rotate
// GATEHOUSE_ENCRYPTION_KEY well before a deployment's count nears it.
//
// A Sealer is safe for concurrent use.
type Sealer struct {
	current string                 // key id of the sealing key
	aeads   map[string]cipher.AEAD // by key id; the current key and the old ones
}

// NewSealer returns a Sealer that seals under current and opens values sealed
// under current or any of old. Every key must be KeySize bytes.
func NewSealer(current []byte, old ...[]byte) (*Sealer, error) {
	s := &Sealer{aeads: make(map[string]cipher.AEAD, 1+len(old))}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("totp: sealer: key %d is %d bytes, want %d", i, len(key), KeySize)
		}
		sum := sha256.Sum256(key)
		kid := hex.EncodeToString(sum[:4])
		if i == 0 {
			s.current = kid
		}
		if _, dup := s.aeads[kid]; dup {
			continue // the same key listed twice is harmless
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("totp: sealer: %w", err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("totp: sealer: %w", err)
		}
		s.aeads[kid] = aead
	}
	return s, nil
}

// Seal encrypts plaintext under the current key, binding it to aad.
func (s *Sealer) Seal(plaintext, aad []byte) string {
	// The AEAD draws a fresh random nonce and writes it before the ciphertext.
	ct := s.aeads[s.current].Seal(nil, nil, plaintext, aad)
	return sealVersion + "." + s.current + "." + base64.RawURLEncoding.EncodeToString(ct)
}

var errMalformed = errors.New("totp: open: malformed sealed value")

// Open decrypts a value produced by Seal with the same aad. It fails if the
// value was sealed under a key this Sealer does not hold, or was altered, or
// belongs to different aad. Errors name the key id at most, never key material
// or the value.
func (s *Sealer) Open(sealed string, aad []byte) ([]byte, error) {
	kid, body, ok := parseSealed(sealed)
	if !ok {
		return nil, errMalformed
	}
	aead, ok := s.aeads[kid]
	if !ok {
		return nil, fmt.Errorf("totp: open: no key with id %q (was an old key dropped too soon?)", kid)
	}
	ct, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, errMalformed
	}
	plaintext, err := aead.Open(nil, nil, ct, aad)
	if err != nil {
		return nil, fmt.Errorf("totp: open: value altered or bound to other data: %w", err)
	}
	return plaintext, nil
}

// NeedsReseal reports whether sealed was sealed under one of the old keys, so
// that it should be opened and sealed again under the current one.
func (s *Sealer) NeedsReseal(sealed string) bool {
	kid, _, ok := parseSealed(sealed)
	if !ok || kid == s.current {
		return false
	}
	_, known := s.aeads[kid]
	return known
}

// KeyID returns the id of the key the Sealer seals under: the hex of the
// first 4 bytes of the key's SHA-256, which reveals nothing about the key.
// A database can record it, so that an instance holding another key is
// told at start instead of failing to open secrets later.
func (s *Sealer) KeyID() string { return s.current }

// HasKey reports whether the Sealer holds the key with id kid, current or
// old, and so can open what was sealed under it.
func (s *Sealer) HasKey(kid string) bool {
	_, ok := s.aeads[kid]
	return ok
}

// SealedKeyID returns the id of the key sealed was sealed under, "" when
// sealed is not a sealed value.
func SealedKeyID(sealed string) string {
	kid, _, ok := parseSealed(sealed)
	if !ok {
		return ""
	}
	return kid
}

// String describes the Sealer without key material, so that printing or
// logging one is safe.
func (s *Sealer) String() string {
	return fmt.Sprintf("totp.Sealer{current: %s, keys: %d}", s.current, len(s.aeads))
}

// GoString is String, so that %#v does not dump the key schedules either.
func (s *Sealer) GoString() string { return s.String() }

// parseSealed splits "v1.<kid>.<body>" into kid and body.
func parseSealed(sealed string) (kid, body string, ok bool) {
	version, rest, ok1 := strings.Cut(sealed, ".")
	kid, body, ok2 := strings.Cut(rest, ".")
	return kid, body, ok1 && ok2 && version == sealVersion && len(kid) == 8
}
