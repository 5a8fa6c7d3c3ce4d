// Package password hashes and verifies passwords and decides which ones may
// be set.
//
// New hashes are argon2id (RFC 9106) in the PHC string format, with at least
// OWASP's minimum cost (19 MiB, 2 passes, 1 lane). bcrypt hashes imported from
// other systems verify and are reported for re-hashing, as are argon2id
// hashes with other parameters. Policy applies NIST SP 800-63B §3.1.1.2, and
// Pool bounds how much hashing runs at once so a flood of logins cannot take
// the CPU from requests that only verify a token.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams returns OWASP's minimum argon2id configuration (Password
// Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane, a 16-byte salt and a
// 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on the cost of any hash this package computes. A stored hash is
// data: a tampered or corrupt row must not make one login allocate gigabytes
// or run for minutes, so hashes outside these bounds are refused unverified.
const (
	maxMemory     = 256 * 1024 // KiB, 13 times the default
	maxTime       = 16
	maxThreads    = 16
	minSaltLen    = 8 // RFC 9106 §3.1: at least 8 bytes
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
	maxBcryptCost = 16 // about 5 s; imports rarely exceed 12
)

// bcryptMaxBytes is the most bcrypt reads of a password; it ignores the rest.
const bcryptMaxBytes = 72

var (
	errUnsupported = errors.New("password: unsupported hash scheme")
	errMalformed   = errors.New("password: malformed hash")
	errOutOfBounds = errors.New("password: hash parameters out of bounds")
)

func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime,
		p.Threads < 1 || p.Threads > maxThreads,
		// RFC 9106 §3.1: memory is at least 8 KiB per lane.
		p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory,
		p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen,
		p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return errOutOfBounds
	}
	return nil
}

// Hasher hashes new passwords with one set of argon2id parameters and
// verifies hashes made with any supported scheme. It is safe for concurrent
// use.
type Hasher struct {
	params Params
	// dummySalt and dummyKey stand in for a stored hash in VerifyDummy.
	dummySalt, dummyKey []byte
}

// NewHasher returns a Hasher that hashes with p. It panics if p is outside the
// bounds Verify accepts (at most 256 MiB, 16 passes, 16 lanes; salt 8–64
// bytes, key 16–64 bytes): parameters are fixed by the program, so that is a
// programming error, like a bad regexp.MustCompile pattern.
func NewHasher(p Params) *Hasher {
	if err := p.validate(); err != nil {
		panic(err)
	}
	// The dummy's content is irrelevant, as its result is discarded; only its
	// sizes, and so the work, must match a real hash.
	return &Hasher{params: p, dummySalt: make([]byte, p.SaltLen), dummyKey: make([]byte, p.KeyLen)}
}

// Hash returns the argon2id hash of password as a PHC string,
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>" with unpadded standard
// base64. The password is hashed exactly as given: no trimming, no
// normalisation, no truncation.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: read salt: %w", err)
	}
	return h.hashWithSalt(password, salt), nil
}

func (h *Hasher) hashWithSalt(password string, salt []byte) string {
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches encoded, an argon2id PHC string or
// a bcrypt hash ($2a$, $2b$ or $2y$), comparing in constant time.
//
// needsRehash is true only with ok, when encoded is bcrypt or argon2id with
// parameters other than the Hasher's: the caller should then store a fresh
// Hash of the password, which it holds in clear only now.
//
// bcrypt reads only the first 72 bytes of a password, so a bcrypt hash never
// matches a longer password: accepting it would accept every password that
// shares those 72 bytes. The comparison still runs, on the first 72 bytes, so
// the answer takes the usual time; its result is discarded. A user imported
// with such a password must reset it.
//
// err is non-nil only when encoded is malformed, of an unsupported scheme or
// beyond the cost bounds (see NewHasher); it never contains the password or
// the hash.
func (h *Hasher) Verify(password, encoded string) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, key, perr := parseArgon2id(encoded)
		if perr != nil {
			return false, false, perr
		}
		match := argon2idMatch(password, p, salt, key)
		return match, match && p != h.params, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		// The three tags name one algorithm; $2b$ (OpenBSD) and $2y$ (PHP)
		// only mark implementations free of old bugs with long or 8-bit
		// passwords. x/crypto computes it correctly and keeps the tag.
		if err := checkBcrypt(encoded); err != nil {
			return false, false, err
		}
		pw := []byte(password)
		tooLong := len(pw) > bcryptMaxBytes
		if tooLong {
			pw = pw[:bcryptMaxBytes]
		}
		cerr := bcrypt.CompareHashAndPassword([]byte(encoded), pw)
		switch {
		case errors.Is(cerr, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		case cerr != nil:
			return false, false, errMalformed
		}
		return !tooLong, !tooLong, nil
	}
	return false, false, errUnsupported
}

// VerifyDummy does the work of Verify against a hash with the Hasher's
// current parameters and discards the result. Call it for an unknown user so
// that answering "no such user" costs the same time as a wrong password.
func (h *Hasher) VerifyDummy(password string) {
	argon2idMatch(password, h.params, h.dummySalt, h.dummyKey)
}

func argon2idMatch(password string, p Params, salt, key []byte) bool {
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1
}

// parseArgon2id parses "$argon2id$v=19$m=M,t=T,p=P$salt$key" strictly: the
// only version x/crypto implements, parameters in this order and nothing
// else, unpadded standard base64 with no stray bits, and costs within bounds.
func parseArgon2id(encoded string) (p Params, salt, key []byte, err error) {
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return p, nil, nil, errMalformed
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errUnsupported
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, errMalformed
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		s, found := strings.CutPrefix(kv[i], name)
		if !found {
			return p, nil, nil, errMalformed
		}
		// ParseUint refuses signs, spaces and values beyond 32 bits.
		if vals[i], err = strconv.ParseUint(s, 10, 32); err != nil {
			return p, nil, nil, errMalformed
		}
	}
	b64 := base64.RawStdEncoding.Strict()
	// Refuse oversized fields before decoding them.
	if len(f[4]) > b64.EncodedLen(maxSaltLen) || len(f[5]) > b64.EncodedLen(maxKeyLen) {
		return p, nil, nil, errOutOfBounds
	}
	if salt, err = b64.DecodeString(f[4]); err != nil {
		return p, nil, nil, errMalformed
	}
	if key, err = b64.DecodeString(f[5]); err != nil {
		return p, nil, nil, errMalformed
	}
	if vals[2] > maxThreads { // before the uint8 conversion below can wrap
		return p, nil, nil, errOutOfBounds
	}
	p = Params{
		Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2]),
		SaltLen: uint32(len(salt)), KeyLen: uint32(len(key)),
	}
	if err := p.validate(); err != nil {
		return p, nil, nil, err
	}
	return p, salt, key, nil
}

// checkBcrypt checks the layout "$2b$CC$" + 53 characters of salt and hash,
// and refuses a cost beyond maxBcryptCost, which x/crypto would run (it
// allows up to 31: days of work).
func checkBcrypt(encoded string) error {
	if len(encoded) != 60 || encoded[3] != '$' || encoded[6] != '$' || !isDigit(encoded[4]) || !isDigit(encoded[5]) {
		return errMalformed
	}
	cost := int(encoded[4]-'0')*10 + int(encoded[5]-'0')
	if cost < bcrypt.MinCost {
		return errMalformed
	}
	if cost > maxBcryptCost {
		return errOutOfBounds
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
