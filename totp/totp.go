// Package totp provides the pure building blocks of two-factor authentication:
// enrolment (secret, otpauth URI, QR code), verification of time-based one-time
// passwords with a clock-skew window and a replay guard (RFC 6238 over the HOTP
// algorithm of RFC 4226), single-use recovery codes, and encryption of secrets
// at rest. It performs no I/O and keeps no state; storage and rate limiting are
// the caller's job.
//
// Parameters are fixed to what every authenticator app supports: HMAC-SHA1,
// 6 digits, 30-second steps from the Unix epoch (RFC 6238 §4, §5.2).
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
	"time"
)

const (
	digits     = 6
	modulus    = 1_000_000 // 10^digits
	periodSecs = 30        // RFC 6238 §5.2 recommends X = 30 seconds.
	skew       = 1         // steps accepted either side of now (RFC 6238 §5.2, §6)

	// secretBytes is what GenerateSecret produces: RFC 4226 §4 R6 recommends
	// a 160-bit shared secret.
	secretBytes = 20
	// minSecretBytes is the floor RFC 4226 §4 R6 requires (128 bits); it is
	// enforced on use so that a truncated or hand-made secret is refused.
	minSecretBytes = 16
)

// b32 is the RFC 4648 §6 alphabet without padding, as authenticator apps expect.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateSecret returns a new random 160-bit secret, base32-encoded
// (RFC 4648, upper case, no padding) as the otpauth URI and oathtool expect.
func GenerateSecret() string {
	key := make([]byte, secretBytes)
	rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	return b32.EncodeToString(key)
}

// decodeSecret accepts the base32 form GenerateSecret produces, tolerating
// lower case and padding, and refuses secrets shorter than 128 bits.
func decodeSecret(secret string) ([]byte, error) {
	key, err := b32.DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		// The error carries only a byte offset, never the secret.
		return nil, fmt.Errorf("totp: decode secret: %w", err)
	}
	if len(key) < minSecretBytes {
		return nil, fmt.Errorf("totp: secret is %d bits, want at least %d", 8*len(key), 8*minSecretBytes)
	}
	return key, nil
}

// StepAt returns the RFC 6238 §4.2 time step T = floor(unix(t) / 30).
func StepAt(t time.Time) int64 {
	u := t.Unix()
	if u < 0 && u%periodSecs != 0 {
		return u/periodSecs - 1 // floor, not truncation, before the epoch
	}
	return u / periodSecs
}

// hotp returns the 31-bit dynamically truncated HMAC of counter (RFC 4226
// §5.3); the caller reduces it modulo 10^digits. mac is keyed with the secret
// and is reset here, so one instance serves several counters.
func hotp(mac hash.Hash, counter uint64) uint32 {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Reset()
	mac.Write(msg[:])
	var buf [sha1.Size]byte
	sum := mac.Sum(buf[:0])
	off := sum[len(sum)-1] & 0x0f
	return binary.BigEndian.Uint32(sum[off:]) & 0x7fff_ffff
}

// Code returns the 6-digit code for secret at time t. Servers only need it in
// tests and tools; Verify is what checks a user's code.
func Code(secret string, t time.Time) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	step := StepAt(t)
	if step < 0 {
		return "", fmt.Errorf("totp: code: time %s is before the Unix epoch", t.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%0*d", digits, hotp(hmac.New(sha1.New, key), uint64(step))%modulus), nil
}

// Verify reports whether code is valid for secret at time now, and if so the
// time step it matched.
//
// A code is exactly 6 ASCII digits. The steps now-1, now and now+1 are checked
// (RFC 6238 §5.2 and §6 allow one step of skew each way): always all three,
// each compared in constant time, so timing reveals nothing about the
// expected codes. Only steps greater than lastStep are eligible:
// this is the replay guard of RFC 6238 §5.2 ("the verifier MUST NOT accept the
// second attempt of the OTP"), which also refuses a code older than one
// already used. Pass 0 as lastStep when no code has been used yet.
//
// On success the caller must store step with a compare-and-set
// (last_step < step) so that two concurrent requests with the same code
// cannot both succeed, and must rate-limit failures (RFC 4226 §7.3).
// An invalid or too short secret verifies nothing.
func Verify(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	if len(code) != digits { // the length is the caller's to know; it leaks nothing
		return 0, false
	}
	// Parse and validate without branching on the characters.
	valid := 1
	var value uint32
	for i := range len(code) {
		c := int(code[i])
		valid &= subtle.ConstantTimeLessOrEq('0', c) & subtle.ConstantTimeLessOrEq(c, '9')
		value = value*10 + uint32(c-'0')
	}
	key, err := decodeSecret(secret)
	if err != nil {
		return 0, false
	}
	mac := hmac.New(sha1.New, key)
	cur := StepAt(now)
	for s := cur - skew; s <= cur+skew; s++ {
		eq := subtle.ConstantTimeEq(int32(hotp(mac, uint64(s))%modulus), int32(value))
		// Later steps overwrite earlier ones: should two steps share a code,
		// recording the later one guards more against replay.
		if eq&valid == 1 && s > lastStep && s >= 0 {
			step, ok = s, true
		}
	}
	return step, ok
}
