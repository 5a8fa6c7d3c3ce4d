package totp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
)

// recoveryAlphabet is Crockford's base32 in lower case: 32 symbols, so each
// random byte's low 5 bits pick one without bias, and no i, l, o or u. Users
// who type i, l or o anyway get what they meant (see normaliseRecoveryCode).
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

const (
	recoveryGroups    = 6
	recoveryGroupSize = 4 // 6×4 symbols × 5 bits = 120 bits per code
)

// GenerateRecoveryCodes returns n random single-use recovery codes such as
// "7k3m-q9xd-2hfw-c8rt-ve5n-j0ab". Show them to the user once and store only
// HashRecoveryCode of each.
//
// Each code carries 120 bits of entropy. That is what lets HashRecoveryCode be
// a single fast hash: NIST SP 800-63B §5.1.2.2 allows look-up secrets of at
// least 112 bits to be stored as an unsalted approved hash, and requires a
// salted, slow key derivation function for anything weaker.
func GenerateRecoveryCodes(n int) []string {
	codes := make([]string, n)
	raw := make([]byte, recoveryGroups*recoveryGroupSize)
	for i := range codes {
		rand.Read(raw) // never fails (crypto/rand, Go 1.24+)
		var b strings.Builder
		for j, r := range raw {
			if j > 0 && j%recoveryGroupSize == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[r&31])
		}
		codes[i] = b.String()
	}
	return codes
}

// HashRecoveryCode returns the hex SHA-256 of the normalised code, the form to
// store and to look a presented code up by.
//
// No salt and no slow hash are needed because the input is not a password
// but 120 random bits (see GenerateRecoveryCodes): inverting the hash takes
// about 2^119 guesses on average, which a work factor could not make
// meaningfully harder, and precomputed or multi-target attacks, which a salt
// defeats, are just as hopeless at that size. Being deterministic, the hash
// also lets the store find a code by lookup rather than by trying each of the
// user's hashes in turn.
func HashRecoveryCode(code string) string {
	sum := sha256.Sum256([]byte(normaliseRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}

// normaliseRecoveryCode lower-cases code, drops separators and white space,
// and reads the letters Crockford's alphabet leaves out as the digits they
// look like (o → 0, i and l → 1), so a code copied by hand still matches.
func normaliseRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch r = unicode.ToLower(r); {
		case r == '-' || unicode.IsSpace(r):
			return -1
		case r == 'o':
			return '0'
		case r == 'i' || r == 'l':
			return '1'
		}
		return r
	}, code)
}
