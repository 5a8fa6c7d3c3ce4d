package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"golang.org/x/crypto/hkdf"
)

// RefreshPrefix starts every refresh token, so that a leaked one is
// recognisable to secret scanners and can never be mistaken for a JWT
// access token (which starts with "ey").
const RefreshPrefix = "ghr_"

const refreshSecretLen = 32 // 256 bits

var refreshEncoding = base64.RawURLEncoding.Strict()

// newRefreshToken returns a fresh opaque refresh token.
func newRefreshToken() string {
	var b [refreshSecretLen]byte
	rand.Read(b[:]) // never returns an error (crypto/rand, Go 1.24+)
	return RefreshPrefix + refreshEncoding.EncodeToString(b[:])
}

// wellFormedRefresh reports whether tok has the shape of a refresh token;
// anything else (an access token, garbage) is refused before any lookup.
func wellFormedRefresh(tok string) bool {
	rest, ok := strings.CutPrefix(tok, RefreshPrefix)
	if !ok || len(rest) != refreshEncoding.EncodedLen(refreshSecretLen) {
		return false
	}
	_, err := refreshEncoding.DecodeString(rest)
	return err == nil
}

// hashRefresh is the stored form of a refresh token. The token carries 256
// random bits, so a fast hash is as strong as a slow one here; only the
// hash is ever stored.
func hashRefresh(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// successorKey derives the key that seals a token's successor from the
// token itself: only a client that holds the old token can open it.
func successorKey(old string) []byte {
	key := make([]byte, 32)
	r := hkdf.New(sha256.New, []byte(old), nil, []byte("gatehouse refresh successor v1"))
	if _, err := r.Read(key); err != nil {
		panic("auth: hkdf: " + err.Error()) // cannot happen for 32 bytes of SHA-256 HKDF
	}
	return key
}

func successorAEAD(old string) cipher.AEAD {
	block, err := aes.NewCipher(successorKey(old))
	if err != nil {
		panic("auth: aes: " + err.Error()) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("auth: gcm: " + err.Error())
	}
	return aead
}

// sealSuccessor encrypts next under a key derived from old, bound to old's
// hash.
func sealSuccessor(old, next string) []byte {
	aead := successorAEAD(old)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(next)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(next), []byte(hashRefresh(old)))
}

// openSuccessor decrypts what sealSuccessor sealed.
func openSuccessor(old string, sealed []byte) (string, error) {
	aead := successorAEAD(old)
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("auth: sealed successor too short")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(hashRefresh(old)))
	if err != nil {
		return "", errors.New("auth: open sealed successor: authentication failed")
	}
	return string(pt), nil
}
