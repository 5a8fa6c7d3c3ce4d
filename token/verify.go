package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
)

// Verify checks tok and returns its claims. It refuses, with one of the
// package's errors:
//
//   - a token over 4 KiB, not of three parts, or not in canonical unpadded
//     base64url (RFC 7515 §2: no padding, no line breaks, no '+' or '/', no
//     stray trailing bits), or whose signature does not have the length of
//     its key's — ErrMalformed;
//   - a header whose alg is not exactly the algorithm of the key its kid
//     names (RFC 8725 §3.1: the algorithm follows from the key, never from
//     the token, so never "none" and no confusion of an RSA public key with
//     an HMAC secret) — ErrAlgorithm; whose kid names no key in force —
//     ErrUnknownKey (no kid means the access-token signing key; a
//     verify-only Manager requires one); whose typ is not at+jwt or JWT —
//     ErrWrongType; or that carries any parameter but alg, kid and typ
//     (jku, jwk, x5u, x5c and crit among them: a token must not choose its
//     own key, RFC 8725 §3.10, nor demand extensions, RFC 7515 §4.1.11) —
//     ErrMalformed;
//   - a signature that does not match — ErrSignature. Nothing in the
//     payload is read before this check passes;
//   - a claims set that is not strict JSON (duplicate or escaped claim
//     names, wrong types, trailing data) — ErrMalformed;
//   - a type other than TypeAccess — ErrWrongType; an iss other than the
//     configured one — ErrIssuer; an aud (string or array) without the
//     configured one — ErrAudience;
//   - exp missing or past, nbf in the future, or iat in the future, each
//     beyond the leeway — ErrExpired or ErrNotYetValid.
//
// A token that passed every check under an asymmetric key is remembered
// (see Config.CacheEntries): presented again, only its time claims and
// whether its key is still in force are checked.
func (m *Manager) Verify(tok string) (Claims, error) {
	if len(tok) > maxTokenLen {
		return Claims{}, ErrMalformed
	}
	h, rest, ok1 := strings.Cut(tok, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	// The stdlib decoder skips CR and LF even in strict mode; a token that
	// holds them is not canonical (and would let a signature be reshaped).
	if !ok1 || !ok2 || sig == "" || strings.IndexByte(tok, '\n') >= 0 || strings.IndexByte(tok, '\r') >= 0 {
		return Claims{}, ErrMalformed // a fourth part lengthens sig, which then has no key's length
	}

	set := m.set.Load()
	s := set.pool.Get().(*scratch)
	defer set.pool.Put(s)
	n := copy(s.tok[:], tok)
	signed := s.tok[:len(h)+1+len(p)]

	ki, err := m.header(set, s, h)
	if err != nil {
		return Claims{}, err
	}
	k := set.keys[ki]
	if len(sig) != k.sig64 {
		return Claims{}, ErrMalformed
	}
	var sum [sha256.Size]byte
	cached := k.alg != algHS256 && m.cache != nil
	if cached {
		sum = sha256.Sum256(s.tok[:n])
		if e := m.cache.get(&sum); e != nil && !e.life.removed.Load() {
			c := e.claims
			if err := m.check(&c, e.seen, k); err != nil {
				return Claims{}, err
			}
			return c, nil
		}
	}
	sb := s.sig[:k.sigLen]
	if sn, err := m.b64.Decode(sb, s.tok[len(signed)+1:n]); err != nil || sn != k.sigLen {
		return Claims{}, ErrMalformed
	}
	if k.alg == algHS256 {
		mac := s.macs[ki]
		mac.Reset()
		mac.Write(signed)
		if !hmac.Equal(mac.Sum(s.sum[:0]), sb) {
			return Claims{}, ErrSignature
		}
	} else if !k.verifyAsym(signed, sb) {
		return Claims{}, ErrSignature
	}

	pn, err := m.b64.Decode(s.dec[:], s.tok[len(h)+1:len(signed)])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	c, seen, err := m.parseClaims(s.dec[:pn])
	if err != nil {
		return Claims{}, err
	}
	if err := m.check(&c, seen, k); err != nil {
		return Claims{}, err
	}
	if cached {
		m.cache.put(&sum, &entry{claims: c, seen: seen, life: k.life}, pn)
	}
	return c, nil
}

// check applies the claim rules of RFC 7519 §4.1 and RFC 9068 §4 to claims
// whose signature k has verified.
func (m *Manager) check(c *Claims, seen claimSet, k *key) error {
	now := m.now().Unix()
	switch {
	case c.Type != TypeAccess:
		return ErrWrongType
	case c.Issuer != m.issuer && (k.formerIss == "" || c.Issuer != k.formerIss || now >= k.formerUntil):
		return ErrIssuer
	case c.Audience != m.audience:
		return ErrAudience
	// §4.1.4: the current time must be before exp.
	case seen&seenExp == 0 || now >= c.ExpiresAt+m.leeway:
		return ErrExpired
	// §4.1.5: the current time must be at or after nbf.
	case seen&seenNbf != 0 && now+m.leeway < c.NotBefore:
		return ErrNotYetValid
	// A token issued in the future comes from a broken clock or a forger.
	case seen&seenIat != 0 && now+m.leeway < c.IssuedAt:
		return ErrNotYetValid
	}
	return nil
}

// header returns the index in set of the key that must have signed a token
// with header h. A header we wrote ourselves needs no decoding.
func (m *Manager) header(set *keySet, s *scratch, h string) (int, error) {
	for i, k := range set.keys {
		if h == k.header {
			return i, nil
		}
	}
	n, err := m.b64.Decode(s.dec[:], s.tok[:len(h)])
	if err != nil {
		return 0, ErrMalformed
	}
	return parseHeader(set, s.dec[:n], false)
}

// parseHeader reads the JOSE header (RFC 7515 §4) and returns the index of
// the key that must have signed the token. Only alg, kid and typ may
// appear. typ must be that of an access token unless anyTyp.
func parseHeader(set *keySet, b []byte, anyTyp bool) (int, error) {
	l := lexer{b: b}
	if !l.open() {
		return 0, ErrMalformed
	}
	k := -1 // no kid: the signing key
	a := algNone
	var kid, typ bool
	for {
		name, ok := l.member()
		if !ok {
			break
		}
		// Header values are compared as raw bytes; an escaped value is
		// refused rather than decoded (we never write one).
		switch string(name) {
		case "alg":
			v, esc := l.str()
			if a != algNone || esc {
				return 0, ErrAlgorithm
			}
			if a = algByName(v); a == algNone {
				return 0, ErrAlgorithm
			}
		case "kid":
			v, esc := l.str()
			if kid || esc || l.bad {
				return 0, ErrMalformed
			}
			if k = set.keyIndex(v); k < 0 {
				return 0, ErrUnknownKey
			}
			kid = true
		case "typ":
			// RFC 9068 §4: "at+jwt" (or its full media type); "JWT" from
			// other libraries. Media types compare case-insensitively
			// (RFC 7515 §4.1.9).
			v, esc := l.str()
			if typ || esc || !anyTyp && !strings.EqualFold(string(v), "at+jwt") &&
				!strings.EqualFold(string(v), "application/at+jwt") && !strings.EqualFold(string(v), "JWT") {
				return 0, ErrWrongType
			}
			typ = true
		default:
			// An allow-list: jku, jwk, x5u and x5c would let the token
			// name its own key, crit demands extensions we lack, and
			// anything else is unknown to us.
			return 0, ErrMalformed
		}
		if l.bad {
			return 0, ErrMalformed
		}
	}
	if !l.end() {
		return 0, ErrMalformed
	}
	if a == algNone {
		return 0, ErrAlgorithm
	}
	if !typ && !anyTyp {
		return 0, ErrWrongType
	}
	if k < 0 {
		if set.sign == nil {
			return 0, ErrUnknownKey
		}
		k = 0
	}
	// The algorithm is the key's; the header may only agree with it.
	if set.keys[k].alg != a {
		return 0, ErrAlgorithm
	}
	return k, nil
}

func (set *keySet) keyIndex(id []byte) int {
	for i, k := range set.keys {
		if string(id) == k.id {
			return i
		}
	}
	return -1
}

// claimSet records which claims a token carried.
type claimSet uint16

const (
	seenIss claimSet = 1 << iota
	seenSub
	seenAud
	seenExp
	seenNbf
	seenIat
	seenJti
	seenSid
	seenScope
	seenType
	seenClientID
)

func claimBit(name []byte) claimSet {
	switch string(name) {
	case "iss":
		return seenIss
	case "sub":
		return seenSub
	case "aud":
		return seenAud
	case "exp":
		return seenExp
	case "nbf":
		return seenNbf
	case "iat":
		return seenIat
	case "jti":
		return seenJti
	case "sid":
		return seenSid
	case "scope":
		return seenScope
	case "type":
		return seenType
	case "client_id":
		return seenClientID
	}
	return 0
}

// parseClaims reads the JWT claims set (RFC 7519 §4). Its strings are
// substrings of one copy of b, so that a token costs one allocation.
func (m *Manager) parseClaims(b []byte) (Claims, claimSet, error) {
	var c Claims
	var seen claimSet
	src := string(b)
	l := lexer{b: b}
	if !l.open() {
		return c, 0, ErrMalformed
	}
	for {
		name, ok := l.member()
		if !ok {
			break
		}
		bit := claimBit(name)
		// A repeated claim is refused: parsers disagree on which copy wins.
		if seen&bit != 0 {
			return c, 0, ErrMalformed
		}
		seen |= bit
		switch bit {
		case seenIss:
			c.Issuer = l.text(src)
		case seenSub:
			c.Subject = l.text(src)
		case seenAud:
			c.Audience = m.audienceIn(&l, src)
		case seenExp:
			c.ExpiresAt = l.date()
		case seenNbf:
			c.NotBefore = l.date()
		case seenIat:
			c.IssuedAt = l.date()
		case seenJti:
			c.ID = l.text(src)
		case seenSid:
			c.SessionID = l.text(src)
		case seenScope:
			c.Scope = l.text(src)
		case seenType:
			c.Type = l.text(src)
		case seenClientID:
			c.ClientID = l.text(src)
		default:
			l.skip(0)
		}
		if l.bad {
			return c, 0, ErrMalformed
		}
	}
	if !l.end() {
		return c, 0, ErrMalformed
	}
	return c, seen, nil
}

// audienceIn reads an aud claim, a string or an array of strings (RFC 7519
// §4.1.3), and returns the configured audience if aud holds it, else the
// empty string.
func (m *Manager) audienceIn(l *lexer, src string) string {
	if l.peek() != '[' {
		if l.text(src) == m.audience {
			return m.audience
		}
		return ""
	}
	found := false
	l.i++
	l.ws()
	if l.peek() == ']' {
		l.i++
		return ""
	}
	for !l.bad {
		if l.text(src) == m.audience {
			found = true
		}
		l.ws()
		switch l.peek() {
		case ',':
			l.i++
			l.ws()
		case ']':
			l.i++
			if found {
				return m.audience
			}
			return ""
		default:
			l.bad = true
		}
	}
	return ""
}

// VerifyJSON checks a compact JWS signed by an asymmetric key in force (as
// SignJSON makes them: an ID token presented back as id_token_hint) and
// returns its payload, not read: the caller checks its claims. The header
// rules are Verify's but for typ, which may be anything; the payload must be
// canonical base64url.
func (m *Manager) VerifyJSON(tok string) ([]byte, error) {
	if len(tok) > maxJSONLen {
		return nil, ErrMalformed
	}
	h, rest, ok1 := strings.Cut(tok, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.ContainsAny(tok, "\r\n") {
		return nil, ErrMalformed
	}
	hb, err := m.b64.DecodeString(h)
	if err != nil {
		return nil, ErrMalformed
	}
	set := m.set.Load()
	ki, err := parseHeader(set, hb, true)
	if err != nil {
		return nil, err
	}
	k := set.keys[ki]
	if k.alg == algHS256 {
		return nil, ErrAlgorithm
	}
	sb, err := m.b64.DecodeString(sig)
	if err != nil || len(sb) != k.sigLen {
		return nil, ErrMalformed
	}
	if !k.verifyAsym([]byte(tok[:len(h)+1+len(p)]), sb) {
		return nil, ErrSignature
	}
	payload, err := m.b64.DecodeString(p)
	if err != nil {
		return nil, ErrMalformed
	}
	return payload, nil
}
