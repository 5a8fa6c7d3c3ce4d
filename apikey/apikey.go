// Package apikey makes and checks Gatehouse API keys.
//
// A key reads "ghk_" + a 16-character lookup id + "_" + a 43-character
// secret, 64 characters in all. The fixed prefix lets secret scanners find a
// leaked key; the lookup id is public and finds the key's row without a
// scan; the secret is 32 random bytes (256 bits, beyond NIST SP 800-63B's
// 112-bit floor for look-up secrets) in unpadded base64url.
//
// Only an HMAC-SHA-256 of the secret, keyed with a pepper, is stored. A fast
// keyed hash is right here: the secret's 256 bits of entropy are what make
// guessing a key impossible, so there is nothing for a slow password hash to
// protect against, and a key is checked on every request. The pepper is a
// key of its own, separate from the token signing key, so the stored values
// are HMACs rather than plain hashes of the secret. It is not a second line
// of defence against a stolen database: the gatehouse server keeps it in
// the settings table, beside the hashes.
package apikey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// Prefix starts every key.
const Prefix = "ghk_"

const (
	lookupLen   = 16
	secretBytes = 32
	secretLen   = 43 // base64.RawURLEncoding.EncodedLen(secretBytes)
	// Len is the length of every key.
	Len = len(Prefix) + lookupLen + 1 + secretLen
)

// base62 keeps the lookup id free of "-" and "_", so a key is one word to a
// double-click and to a scanner's regular expression.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Generate returns a new key and its two parts. crypto/rand never fails
// (it aborts the program instead), so neither does Generate.
func Generate() (key, lookupID, secret string) {
	lookupID = randomBase62(lookupLen)
	b := make([]byte, secretBytes)
	rand.Read(b)
	secret = base64.RawURLEncoding.EncodeToString(b)
	return Prefix + lookupID + "_" + secret, lookupID, secret
}

// randomBase62 returns n uniformly random base62 characters: bytes ≥ 248
// (4·62) are rejected so that no character is likelier than another.
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2)
	for len(out) < n {
		rand.Read(buf)
		for _, c := range buf {
			if c < 248 && len(out) < n {
				out = append(out, base62[c%62])
			}
		}
	}
	return string(out)
}

// Parse splits a key into its lookup id and secret. It is strict: the exact
// prefix, lengths and alphabets, so that one key has one spelling and keys
// compare exactly (case matters, contract §5).
func Parse(key string) (lookupID, secret string, ok bool) {
	if len(key) != Len || key[:len(Prefix)] != Prefix || key[len(Prefix)+lookupLen] != '_' {
		return "", "", false
	}
	lookupID = key[len(Prefix) : len(Prefix)+lookupLen]
	secret = key[len(Prefix)+lookupLen+1:]
	for i := 0; i < len(lookupID); i++ {
		if !isAlnum(lookupID[i]) {
			return "", "", false
		}
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; !isAlnum(c) && c != '-' && c != '_' {
			return "", "", false
		}
	}
	// 43 characters carry 258 bits; the last two must be zero in the one
	// canonical encoding of 32 bytes (RFC 4648 §3.5).
	if base64URLValue(secret[secretLen-1])&3 != 0 {
		return "", "", false
	}
	return lookupID, secret, true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func base64URLValue(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26
	case c >= '0' && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	}
	return 63
}

// Hash returns the stored form of a secret: HMAC-SHA-256 under pepper.
func Hash(pepper []byte, secret string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Verify reports whether secret hashes to hash under pepper, in time that
// does not depend on where they differ.
func Verify(pepper []byte, secret string, hash []byte) bool {
	return hmac.Equal(Hash(pepper, secret), hash)
}
