// Package token issues and verifies Gatehouse's access tokens: JWTs
// (RFC 7519) signed with HMAC-SHA256 (RFC 7518 §3.2), RSASSA-PKCS1-v1_5
// (RS256, §3.3), ECDSA P-256 (ES256, §3.4) or Ed25519 (EdDSA, RFC 8037),
// profiled after RFC 9068 and verified under the JWT best current practices
// of RFC 8725. It also signs other JSON payloads (ID tokens) with the
// current asymmetric key.
//
// Verification is the hottest path of the server — every authenticated
// request runs it — so it is written by hand over the standard library: a
// pooled HMAC state, stdlib strict base64url, and a small strict JSON reader
// that decodes straight into Claims with a single allocation. A token's
// algorithm is bound to the key its kid names, never taken from the token.
// Asymmetric signatures cost tens of microseconds to check, so tokens that
// verified under an asymmetric key are remembered in a bounded cache keyed
// by a SHA-256 of the whole token; their time claims are checked again at
// every use.
//
// The key set can be replaced at run time (SetKeys), without locks on the
// hot path: key rotation needs no restart.
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	maxJSONLen  = 16 << 10
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
	Subject  string // sub: the user id
	Issuer   string // iss
	Audience string // aud: Issue writes it (default: the configured audience); Verify returns the configured audience, which the token's aud (a string or an array, RFC 7519 §4.1.3) must hold
	// ExtraAudiences are written after Audience, aud then being an array
	// (Issue only: Verify checks for its own audience and leaves this nil).
	ExtraAudiences []string
	ID             string // jti: names this token, for revocation
	SessionID      string // sid: the login session, for revoking all its tokens
	Scope          string // scope: space-separated (RFC 8693 §4.2)
	ClientID       string // client_id: the OAuth client the token was issued to (RFC 9068 §2.2)
	Type           string // type: TypeAccess for access tokens
	IssuedAt       int64  // iat
	NotBefore      int64  // nbf
	ExpiresAt      int64  // exp: required
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

// Config configures a Manager.
type Config struct {
	// Keys[0] signs new access tokens; every key verifies, so a key can be
	// published before it signs and kept after it stops signing. SignJSON
	// signs with the first key of each asymmetric algorithm that holds a
	// Signer. A Manager whose Keys[0] cannot sign (a Public key) only
	// verifies, and then requires every token to name its key (kid).
	Keys     []Key
	Issuer   string        // required; the iss of every token
	Audience string        // required; the aud every token must carry
	Leeway   time.Duration // clock skew allowed on exp, nbf and iat; whole seconds, clamped to [0, 60s]
	Now      func() time.Time
	// CacheEntries bounds the cache of tokens verified under an asymmetric
	// key: 0 means DefaultCacheEntries, a negative value turns it off.
	// CacheBytes bounds its memory (0: DefaultCacheBytes); an entry is
	// counted as CacheEntryOverhead plus twice its payload's length.
	CacheEntries int
	CacheBytes   int64
}

// Manager issues and verifies access tokens. It is safe for concurrent use.
type Manager struct {
	set      atomic.Pointer[keySet]
	setMu    sync.Mutex // serialises SetKeys
	issuer   string
	audience string
	leeway   int64 // seconds
	now      func() time.Time
	b64      *base64.Encoding
	cache    *cache // nil: off
}

// keySet is one generation of keys. It is never changed once published:
// SetKeys builds a new one and swaps the pointer.
type keySet struct {
	keys    []*key
	sign    *key               // signs access tokens; nil: verify only
	signers [algEdDSA + 1]*key // per algorithm, the first asymmetric key that can sign
	pool    sync.Pool          // of *scratch for this set
}

// scratch is the per-call working memory of Issue and Verify, pooled so that
// the hot path neither allocates buffers nor re-derives the HMAC pads.
type scratch struct {
	macs []hash.Hash // one per HS256 key, in keySet.keys order (nil for others)
	sum  [sha256.Size]byte
	sig  [maxSigLen]byte
	tok  [maxTokenLen]byte
	dec  [maxTokenLen * 3 / 4]byte
}

// NewManager checks c and returns a Manager. Every key needs a distinct,
// well-formed ID and acceptable material (see Key).
func NewManager(c Config) (*Manager, error) {
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
	if c.CacheEntries >= 0 {
		m.cache = newCache(c.CacheEntries, c.CacheBytes)
	}
	if err := m.SetKeys(c.Keys); err != nil {
		return nil, err
	}
	return m, nil
}

// SetKeys replaces the key set, with the rules of Config.Keys: keys[0]
// signs access tokens from now on, and tokens of a key left out stop
// verifying at once (their cached verifications are dropped). Calls in
// flight finish with the set they started with. On an error the set in
// force is kept.
func (m *Manager) SetKeys(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("token: no keys")
	}
	m.setMu.Lock()
	defer m.setMu.Unlock()
	old := m.set.Load()
	set := &keySet{}
	for i, k := range keys {
		kk, err := newKey(k)
		if err != nil {
			return fmt.Errorf("token: key %d (%q): %w", i, k.ID, err)
		}
		for _, prev := range set.keys {
			if prev.id == kk.id {
				return fmt.Errorf("token: key %q: duplicate id", k.ID)
			}
		}
		if old != nil {
			// The same key again keeps its cached verifications.
			for _, o := range old.keys {
				if o.sameVerifier(kk) {
					kk.life = o.life
				}
			}
		}
		if kk.signer != nil && set.signers[kk.alg] == nil {
			set.signers[kk.alg] = kk
		}
		set.keys = append(set.keys, kk)
	}
	if set.keys[0].canSign() {
		set.sign = set.keys[0]
	}
	set.pool.New = func() any {
		s := &scratch{macs: make([]hash.Hash, len(set.keys))}
		for i, k := range set.keys {
			if k.alg == algHS256 {
				s.macs[i] = hmac.New(sha256.New, k.secret)
			}
		}
		return s
	}
	m.set.Store(set)
	if old != nil {
		removed := false
		for _, o := range old.keys {
			if !slicesContainsLife(set.keys, o.life) {
				o.life.removed.Store(true)
				removed = true
			}
		}
		if removed && m.cache != nil {
			m.cache.sweep()
		}
	}
	return nil
}

func slicesContainsLife(keys []*key, l *keyLife) bool {
	for _, k := range keys {
		if k.life == l {
			return true
		}
	}
	return false
}

// KeyIDs returns the ids of the keys in force, the access-token signing key
// first.
func (m *Manager) KeyIDs() []string {
	set := m.set.Load()
	ids := make([]string, len(set.keys))
	for i, k := range set.keys {
		ids[i] = k.id
	}
	return ids
}

// SigningAlgorithm returns the algorithm of access tokens Issue signs, ""
// when the Manager only verifies.
func (m *Manager) SigningAlgorithm() string {
	if k := m.set.Load().sign; k != nil {
		return k.alg.String()
	}
	return ""
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
	return fmt.Sprintf("token.Manager{keys:[%s] issuer:%q audience:%q}", strings.Join(m.KeyIDs(), " "), m.issuer, m.audience)
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
	set := m.set.Load()
	k := set.sign
	if k == nil {
		return "", errors.New("token: issue: this Manager only verifies")
	}
	s := set.pool.Get().(*scratch)
	defer set.pool.Put(s)

	payload, ok := appendClaims(s.dec[:0], &c)
	if !ok {
		return "", errors.New("token: issue: a claim is not valid UTF-8")
	}
	out := append(s.tok[:0], k.header...)
	out = append(out, '.')
	if len(out)+base64.RawURLEncoding.EncodedLen(len(payload))+1+k.sig64 > maxTokenLen {
		return "", fmt.Errorf("token: issue: token longer than %d bytes", maxTokenLen)
	}
	out = base64.RawURLEncoding.AppendEncode(out, payload)
	var sig []byte
	if k.alg == algHS256 {
		mac := s.macs[0]
		mac.Reset()
		mac.Write(out)
		sig = mac.Sum(s.sum[:0])
	} else {
		var err error
		if sig, err = k.signAsym(out); err != nil {
			return "", fmt.Errorf("token: issue: sign: %w", err)
		}
	}
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	return string(out), nil
}

// SignJSON signs payload, a JSON object, as a compact JWS with the current
// key of the asymmetric algorithm alg ("" for the first asymmetric signing
// key of the set) and the header {"alg","kid","typ"}: for ID tokens (OpenID
// Connect Core §2), which are always signed asymmetrically. typ "" means
// "JWT". A payload whose "type" is "access", or typ "at+jwt", is refused:
// nothing signed here may pass as an access token.
func (m *Manager) SignJSON(alg, typ string, payload []byte) (string, error) {
	set := m.set.Load()
	var k *key
	if alg == "" {
		for _, s := range set.signers {
			if s != nil && (k == nil || indexOf(set.keys, s) < indexOf(set.keys, k)) {
				k = s
			}
		}
	} else if a := algByName([]byte(alg)); a != algNone && a != algHS256 {
		k = set.signers[a]
	}
	if k == nil {
		return "", fmt.Errorf("token: sign: no asymmetric signing key for %q", alg)
	}
	if typ == "" {
		typ = "JWT"
	}
	if !validTyp(typ) || strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt") {
		return "", fmt.Errorf("token: sign: typ %q not allowed", typ)
	}
	if len(payload) > maxJSONLen {
		return "", fmt.Errorf("token: sign: payload longer than %d bytes", maxJSONLen)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil || obj == nil {
		return "", errors.New("token: sign: payload is not a JSON object")
	}
	if t, ok := obj["type"]; ok && string(t) == `"access"` {
		return "", errors.New("token: sign: a payload of type access is for Issue")
	}
	out := []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + k.alg.String() + `","kid":"` + k.id + `","typ":` + strconv.Quote(typ) + `}`)))
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, payload)
	sig, err := k.signAsym(out)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	out = append(out, '.')
	return string(base64.RawURLEncoding.AppendEncode(out, sig)), nil
}

// validTyp accepts a media type name such as "JWT" or "logout+jwt": 1–64
// characters that need no escaping in JSON.
func validTyp(typ string) bool {
	return validKeyID(strings.NewReplacer("+", "", "/", "").Replace(typ))
}

func indexOf(keys []*key, k *key) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return len(keys)
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
	if len(c.ExtraAudiences) == 0 {
		str("aud", c.Audience)
	} else {
		b = append(b, `,"aud":[`...)
		b, ok = appendString(b, c.Audience, ok)
		for _, a := range c.ExtraAudiences {
			b = append(b, ',')
			b, ok = appendString(b, a, ok)
		}
		b = append(b, ']')
	}
	num("exp", c.ExpiresAt)
	num("nbf", c.NotBefore)
	num("iat", c.IssuedAt)
	str("jti", c.ID)
	str("sid", c.SessionID)
	str("scope", c.Scope)
	str("client_id", c.ClientID)
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
