// Package token issues and verifies Gatehouse's access tokens: JWTs
// (RFC 7519) signed with HMAC-SHA256 (RFC 7518 §3.2) and profiled after
// RFC 9068, verified under the JWT best current practices of RFC 8725.
//
// Verification is the hottest path of the server — every authenticated
// request runs it — so it is written by hand over the standard library: a
// pooled HMAC state, stdlib strict base64url, and a small strict JSON reader
// that decodes straight into Claims with a single allocation.
package token

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// TypeAccess is the "type" claim of an access token. Verify refuses any
// other type, so that a refresh token can never pass as an access token.
const TypeAccess = "access"

const (
	maxTokenLen = 4096 // bytes; a longer bearer value is refused unread
	maxLeeway   = 60 * time.Second
	minSecret   = 32 // RFC 7518 §3.2: a key at least as long as the hash output
	sigLen      = 43 // base64url length of a 32-byte HMAC-SHA256
)

// Verify's errors. The HTTP layer answers all of them with 401; they differ
// only so that logs and tests can say why.
var (
	ErrMalformed   = errors.New("token: malformed")
	ErrAlgorithm   = errors.New("token: algorithm not allowed")
	ErrUnknownKey  = errors.New("token: unknown key id")
	ErrSignature   = errors.New("token: bad signature")
	ErrExpired     = errors.New("token: expired")
	ErrNotYetValid = errors.New("token: not yet valid")
	ErrIssuer      = errors.New("token: wrong issuer")
	ErrAudience    = errors.New("token: wrong audience")
	ErrWrongType   = errors.New("token: wrong token type")
)

// Claims are the claims of an access token. Times are Unix seconds
// (NumericDate, RFC 7519 §2); zero means absent.
type Claims struct {
	Subject   string // sub: the user id
	Issuer    string // iss
	Audience  string // aud
	ID        string // jti: names this token, for revocation
	SessionID string // sid: the login session, for revoking all its tokens
	Scope     string // scope: space-separated (RFC 8693 §4.2)
	Type      string // type: TypeAccess for access tokens
	IssuedAt  int64  // iat
	NotBefore int64  // nbf
	ExpiresAt int64  // exp: required
}

// Key is an HMAC key with the id that names it in the "kid" header.
// Printing a Key never shows its secret.
type Key struct {
	ID     string // 1–64 characters of [A-Za-z0-9._-]
	Secret []byte // at least 32 bytes
}

// KeysFromSecrets returns the Keys of a current secret and previous ones
// (rotation: only the first signs, all verify), each named by its KeyID;
// a previous secret equal to the current one is left out. It is how
// Gatehouse names its keys, so anything verifying its tokens with the same
// secrets names them alike.
func KeysFromSecrets(current []byte, previous [][]byte) []Key {
	keys := []Key{{ID: KeyID(current), Secret: current}}
	for _, p := range previous {
		if id := KeyID(p); id != keys[0].ID {
			keys = append(keys, Key{ID: id, Secret: p})
		}
	}
	return keys
}

// KeyID names a secret in the JWT header without revealing it: the first 8
// bytes of its SHA-256, base64url, enough to pick among rotated keys.
func KeyID(secret []byte) string {
	sum := sha256.Sum256(secret)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// String returns the key id with the secret redacted.
func (k Key) String() string { return fmt.Sprintf("{ID:%s Secret:[redacted]}", k.ID) }

// GoString returns the key id with the secret redacted.
func (k Key) GoString() string { return fmt.Sprintf("token.Key{ID:%q, Secret:[redacted]}", k.ID) }

// Format makes every fmt verb (%v, %+v, %#v, %x, %d…) print the redacted form.
func (k Key) Format(f fmt.State, verb rune) { formatRedacted(f, verb, k) }

// Config configures a Manager.
type Config struct {
	// Keys[0] signs new tokens; every key verifies, so a key can be rotated
	// in before it signs and kept after it stops signing.
	Keys     []Key
	Issuer   string        // required; the iss of every token
	Audience string        // required; the aud every token must carry
	Leeway   time.Duration // clock skew allowed on exp, nbf and iat; whole seconds, clamped to [0, 60s]
	Now      func() time.Time
}

// Manager issues and verifies access tokens. It is safe for concurrent use.
type Manager struct {
	keys     []key
	issuer   string
	audience string
	leeway   int64 // seconds
	now      func() time.Time
	b64      *base64.Encoding
	pool     sync.Pool // of *scratch
}

type key struct {
	id     string
	secret []byte
	header string // the encoded JOSE header of the tokens this key signs
}

// scratch is the per-call working memory of Issue and Verify, pooled so that
// the hot path neither allocates buffers nor re-derives the HMAC pads.
type scratch struct {
	macs []hash.Hash // one per key, in Manager.keys order
	sum  [sha256.Size]byte
	sig  [sha256.Size]byte
	tok  [maxTokenLen]byte
	dec  [maxTokenLen * 3 / 4]byte
}

// NewManager checks c and returns a Manager. Every key needs a distinct,
// well-formed ID and a secret of at least 32 bytes (RFC 7518 §3.2).
func NewManager(c Config) (*Manager, error) {
	if len(c.Keys) == 0 {
		return nil, errors.New("token: no keys")
	}
	if c.Issuer == "" || c.Audience == "" {
		return nil, errors.New("token: issuer and audience are required")
	}
	m := &Manager{
		issuer:   c.Issuer,
		audience: c.Audience,
		leeway:   int64(min(max(c.Leeway, 0), maxLeeway) / time.Second),
		now:      c.Now,
		b64:      base64.RawURLEncoding.Strict(),
	}
	if m.now == nil {
		m.now = time.Now
	}
	for i, k := range c.Keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("token: key %d: id must be 1-64 characters of [A-Za-z0-9._-]", i)
		}
		if len(k.Secret) < minSecret {
			return nil, fmt.Errorf("token: key %q: secret shorter than %d bytes", k.ID, minSecret)
		}
		for _, prev := range m.keys {
			if prev.id == k.ID {
				return nil, fmt.Errorf("token: key %q: duplicate id", k.ID)
			}
		}
		// RFC 9068 §2.1: typ "at+jwt" marks an access token, so that it
		// cannot be confused with other JWTs (RFC 8725 §3.11). A key's
		// header never changes, so it is encoded once.
		h := `{"alg":"HS256","kid":"` + k.ID + `","typ":"at+jwt"}`
		m.keys = append(m.keys, key{
			id:     k.ID,
			secret: bytes.Clone(k.Secret), // so that the caller cannot change it under us
			header: base64.RawURLEncoding.EncodeToString([]byte(h)),
		})
	}
	m.pool.New = func() any {
		s := &scratch{macs: make([]hash.Hash, len(m.keys))}
		for i, k := range m.keys {
			s.macs[i] = hmac.New(sha256.New, k.secret)
		}
		return s
	}
	return m, nil
}

func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// String describes m without its secrets.
func (m *Manager) String() string {
	ids := make([]string, len(m.keys))
	for i, k := range m.keys {
		ids[i] = k.id
	}
	return fmt.Sprintf("token.Manager{keys:[%s] issuer:%q audience:%q}", strings.Join(ids, " "), m.issuer, m.audience)
}

// Format makes every fmt verb print m's String, never its key material.
func (m *Manager) Format(f fmt.State, verb rune) { formatRedacted(f, verb, m) }

func formatRedacted(f fmt.State, verb rune, v interface {
	String() string
	GoString() string
}) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, v.GoString())
		return
	}
	fmt.Fprint(f, v.String())
}

// GoString describes m without its secrets.
func (m *Manager) GoString() string { return m.String() }

// NewID returns 128 random bits, base64url-encoded (22 characters): a
// token id (jti) or a login session id (sid).
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Issue signs c with the current key (Config.Keys[0]). An empty Issuer,
// Audience or Type is filled with the configured issuer, the configured
// audience and TypeAccess; empty strings and zero times are left out of the
// token. ExpiresAt is required: a token without exp would never expire.
// Verify accepts only TypeAccess, so a token of another Type is for
// another verifier.
func (m *Manager) Issue(c Claims) (string, error) {
	if c.ExpiresAt <= 0 {
		return "", errors.New("token: issue: exp is required")
	}
	if c.Issuer == "" {
		c.Issuer = m.issuer
	}
	if c.Audience == "" {
		c.Audience = m.audience
	}
	if c.Type == "" {
		c.Type = TypeAccess
	}
	s := m.pool.Get().(*scratch)
	defer m.pool.Put(s)

	payload, ok := appendClaims(s.dec[:0], &c)
	if !ok {
		return "", errors.New("token: issue: a claim is not valid UTF-8")
	}
	out := append(s.tok[:0], m.keys[0].header...)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, payload)
	mac := s.macs[0]
	mac.Reset()
	mac.Write(out)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, mac.Sum(s.sum[:0]))
	if len(out) > maxTokenLen {
		return "", fmt.Errorf("token: issue: token longer than %d bytes", maxTokenLen)
	}
	return string(out), nil
}

// appendClaims appends c as a JSON object. It reports false if a string is
// not valid UTF-8, which JSON cannot carry (RFC 8259 §8.1).
func appendClaims(b []byte, c *Claims) ([]byte, bool) {
	ok := true
	str := func(name, v string) {
		if v != "" {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b, ok = appendString(b, v, ok)
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = strconv.AppendInt(b, v, 10)
		}
	}
	b = append(b, `{"iss":`...)
	b, ok = appendString(b, c.Issuer, ok)
	str("sub", c.Subject)
	str("aud", c.Audience)
	num("exp", c.ExpiresAt)
	num("nbf", c.NotBefore)
	num("iat", c.IssuedAt)
	str("jti", c.ID)
	str("sid", c.SessionID)
	str("scope", c.Scope)
	str("type", c.Type)
	return append(b, '}'), ok
}

// appendString appends s as a JSON string; ok becomes false if s is not
// valid UTF-8.
func appendString(b []byte, s string, ok bool) ([]byte, bool) {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				ok = false
			}
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"'), ok
}
