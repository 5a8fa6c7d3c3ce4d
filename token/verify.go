package token

import (
	"crypto/hmac"
	"strings"
)

// Verify checks tok and returns its claims. It refuses, with one of the
// package's errors:
//
//   - a token over 4 KiB, not of three parts, or not in canonical unpadded
//     base64url (RFC 7515 §2: no padding, no line breaks, no '+' or '/', no
//     stray trailing bits) — ErrMalformed;
//   - a header whose alg is not exactly "HS256" (RFC 8725 §3.1: an
//     allow-list, so never "none" and no algorithm confusion) — ErrAlgorithm;
//     whose kid names no configured key — ErrUnknownKey (no kid means the
//     current key); whose typ is not at+jwt or JWT — ErrWrongType; or that
//     carries "crit", which names extensions we do not implement (RFC 7515
//     §4.1.11) — ErrMalformed;
//   - a signature that does not match — ErrSignature. Nothing in the
//     payload is read before this check passes;
//   - a claims set that is not strict JSON (duplicate or escaped claim
//     names, wrong types, trailing data) — ErrMalformed;
//   - a type other than TypeAccess — ErrWrongType; an iss other than the
//     configured one — ErrIssuer; an aud (string or array) without the
//     configured one — ErrAudience;
//   - exp missing or past, nbf in the future, or iat in the future, each
//     beyond the leeway — ErrExpired or ErrNotYetValid.
func (m *Manager) Verify(tok string) (Claims, error) {
	if len(tok) > maxTokenLen {
		return Claims{}, ErrMalformed
	}
	h, rest, ok1 := strings.Cut(tok, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	// The stdlib decoder skips CR and LF even in strict mode; a token that
	// holds them is not canonical (and would let a signature be reshaped).
	if !ok1 || !ok2 || len(sig) != sigLen || strings.IndexByte(tok, '\n') >= 0 || strings.IndexByte(tok, '\r') >= 0 {
		return Claims{}, ErrMalformed // also covers a fourth part: it lengthens sig
	}

	s := m.pool.Get().(*scratch)
	defer m.pool.Put(s)
	n := copy(s.tok[:], tok)
	signed := s.tok[:len(h)+1+len(p)]

	k, err := m.header(s, h)
	if err != nil {
		return Claims{}, err
	}
	if _, err := m.b64.Decode(s.sig[:], s.tok[len(signed)+1:n]); err != nil {
		return Claims{}, ErrMalformed
	}
	mac := s.macs[k]
	mac.Reset()
	mac.Write(signed)
	if !hmac.Equal(mac.Sum(s.sum[:0]), s.sig[:]) {
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
	if err := m.check(&c, seen); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// check applies the claim rules of RFC 7519 §4.1 and RFC 9068 §4 to claims
// whose signature has been verified.
func (m *Manager) check(c *Claims, seen claimSet) error {
	now := m.now().Unix()
	switch {
	case c.Type != TypeAccess:
		return ErrWrongType
	case c.Issuer != m.issuer:
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

// header returns the index of the key that must have signed a token with
// header h. A header we wrote ourselves needs no decoding.
func (m *Manager) header(s *scratch, h string) (int, error) {
	for i, k := range m.keys {
		if h == k.header {
			return i, nil
		}
	}
	n, err := m.b64.Decode(s.dec[:], s.tok[:len(h)])
	if err != nil {
		return 0, ErrMalformed
	}
	return m.parseHeader(s.dec[:n])
}

// parseHeader reads the JOSE header (RFC 7515 §4) and returns the index of
// the key that must have signed the token.
func (m *Manager) parseHeader(b []byte) (int, error) {
	l := lexer{b: b}
	if !l.open() {
		return 0, ErrMalformed
	}
	k := 0 // no kid: the current key
	var alg, kid, typ bool
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
			if alg || esc || string(v) != "HS256" {
				return 0, ErrAlgorithm
			}
			alg = true
		case "kid":
			v, esc := l.str()
			if kid || esc || l.bad {
				return 0, ErrMalformed
			}
			if k = m.keyIndex(v); k < 0 {
				return 0, ErrUnknownKey
			}
			kid = true
		case "typ":
			// RFC 9068 §4: "at+jwt" (or its full media type); "JWT" from
			// other libraries. Media types compare case-insensitively
			// (RFC 7515 §4.1.9).
			v, esc := l.str()
			if typ || esc || !strings.EqualFold(string(v), "at+jwt") &&
				!strings.EqualFold(string(v), "application/at+jwt") && !strings.EqualFold(string(v), "JWT") {
				return 0, ErrWrongType
			}
			typ = true
		case "crit":
			return 0, ErrMalformed
		default:
			l.skip(0)
		}
		if l.bad {
			return 0, ErrMalformed
		}
	}
	if !l.end() {
		return 0, ErrMalformed
	}
	if !alg {
		return 0, ErrAlgorithm
	}
	if !typ {
		return 0, ErrWrongType
	}
	return k, nil
}

func (m *Manager) keyIndex(id []byte) int {
	for i, k := range m.keys {
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
