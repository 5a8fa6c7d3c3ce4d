package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"
)

// The signing algorithms (RFC 7518 §3.1, RFC 8037 §3.1). A key's algorithm
// follows from its type alone; a token's header must name exactly it.
const (
	HS256 = "HS256" // HMAC-SHA256: a shared secret of at least 32 bytes
	RS256 = "RS256" // RSASSA-PKCS1-v1_5 with SHA-256: RSA keys of 2048 to 4096 bits
	ES256 = "ES256" // ECDSA on P-256 with SHA-256, signatures as raw R||S (RFC 7518 §3.4)
	EdDSA = "EdDSA" // Ed25519 (RFC 8037)
)

// RSA modulus sizes accepted. Gatehouse generates 2048-bit keys; larger ones
// verify (another issuer's, or a future default), smaller ones are refused
// (RFC 7518 §3.3: 2048 bits or larger).
const (
	minRSABits = 2048
	maxRSABits = 4096
	maxSigLen  = maxRSABits / 8 // bytes: the longest signature of any key
)

// alg is an algorithm as a small number, so that the hot path compares
// bytes, not strings.
type alg uint8

const (
	algNone alg = iota
	algHS256
	algRS256
	algES256
	algEdDSA
)

var algNames = [...]string{algNone: "", algHS256: HS256, algRS256: RS256, algES256: ES256, algEdDSA: EdDSA}

func (a alg) String() string { return algNames[a] }

// algByName returns the algorithm named exactly name, or algNone.
func algByName(name []byte) alg {
	switch string(name) {
	case HS256:
		return algHS256
	case RS256:
		return algRS256
	case ES256:
		return algES256
	case EdDSA:
		return algEdDSA
	}
	return algNone
}

// Key is a key with the id that names it in the "kid" header. Exactly one
// of Secret, Signer and Public is set, and it decides the algorithm:
//
//   - Secret: HS256, a shared secret of at least 32 bytes (RFC 7518 §3.2);
//   - Signer: a private key (*rsa.PrivateKey, *ecdsa.PrivateKey,
//     ed25519.PrivateKey or any crypto.Signer over one of their public
//     keys) — RS256, ES256 or EdDSA by its public key's type;
//   - Public: a verify-only public key (*rsa.PublicKey, *ecdsa.PublicKey,
//     ed25519.PublicKey) — RS256, ES256 or EdDSA.
//
// RSA keys must have 2048 to 4096 bits and ECDSA keys be on P-256; no other
// key is accepted. Printing a Key never shows its secret.
type Key struct {
	ID     string           // 1–64 characters of [A-Za-z0-9._-]
	Secret []byte           // HS256
	Signer crypto.Signer    // RS256, ES256 or EdDSA, with its private part
	Public crypto.PublicKey // RS256, ES256 or EdDSA, verify only

	// FormerIssuer, for an HS256 key only, is an iss its tokens may carry
	// instead of the Manager's until FormerIssuerUntil: the issuer name a
	// deployment used before it was upgraded, so that the tokens it issued
	// then keep verifying until they expire (contract §10). Tokens of other
	// keys, and tokens verified after FormerIssuerUntil, must carry the
	// Manager's issuer.
	FormerIssuer      string
	FormerIssuerUntil time.Time
}

// Algorithm returns the algorithm the key signs and verifies with (HS256,
// RS256, ES256 or EdDSA), or "" when the key is not one Gatehouse accepts.
func (k Key) Algorithm() string {
	a, _, _ := k.material()
	return a.String()
}

// PublicKey returns the key's public part (Public, or Signer's), nil for an
// HS256 key.
func (k Key) PublicKey() crypto.PublicKey {
	if k.Signer != nil {
		return k.Signer.Public()
	}
	return k.Public
}

// material checks the key and returns its algorithm and its public key
// (nil for HS256).
func (k Key) material() (alg, crypto.PublicKey, error) {
	set := 0
	for _, b := range []bool{k.Secret != nil, k.Signer != nil, k.Public != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return algNone, nil, errors.New("exactly one of Secret, Signer and Public must be set")
	}
	if k.Secret != nil {
		if len(k.Secret) < minSecret {
			return algNone, nil, fmt.Errorf("secret shorter than %d bytes", minSecret)
		}
		return algHS256, nil, nil
	}
	pub := k.PublicKey()
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if n := p.N.BitLen(); n < minRSABits || n > maxRSABits {
			return algNone, nil, fmt.Errorf("RSA key of %d bits; want %d to %d", n, minRSABits, maxRSABits)
		}
		return algRS256, p, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return algNone, nil, errors.New("ECDSA key not on P-256")
		}
		return algES256, p, nil
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return algNone, nil, errors.New("malformed Ed25519 key")
		}
		return algEdDSA, p, nil
	}
	return algNone, nil, fmt.Errorf("unsupported key type %T", pub)
}

// String returns the key id and algorithm; key material is redacted.
func (k Key) String() string {
	return fmt.Sprintf("{ID:%s Alg:%s [redacted]}", k.ID, k.Algorithm())
}

// GoString returns the key id and algorithm; key material is redacted.
func (k Key) GoString() string {
	return fmt.Sprintf("token.Key{ID:%q, Alg:%q, [redacted]}", k.ID, k.Algorithm())
}

// Format makes every fmt verb (%v, %+v, %#v, %x, %d…) print the redacted form.
func (k Key) Format(f fmt.State, verb rune) { formatRedacted(f, verb, k) }

// key is a Key checked and prepared for use.
type key struct {
	id     string
	alg    alg
	header string // the encoded JOSE header of the access tokens this key signs
	secret []byte // HS256
	signer crypto.Signer
	pub    crypto.PublicKey
	sigLen int // raw signature length
	sig64  int // its unpadded base64url length: the only one accepted
	// life outlives the key object while a key with the same id and the
	// same verifying material stays in the set; it is marked removed when
	// the key leaves the set, which voids the cache entries of its tokens.
	life *keyLife
	// formerIss is an iss accepted instead of the Manager's, until
	// formerUntil (Unix seconds): see Key.FormerIssuer.
	formerIss   string
	formerUntil int64
}

type keyLife struct{ removed atomic.Bool }

func newKey(k Key) (*key, error) {
	if !validKeyID(k.ID) {
		return nil, errors.New("id must be 1-64 characters of [A-Za-z0-9._-]")
	}
	a, pub, err := k.material()
	if err != nil {
		return nil, err
	}
	kk := &key{id: k.ID, alg: a, pub: pub, signer: k.Signer, life: &keyLife{}}
	if k.FormerIssuer != "" {
		if a != algHS256 || k.FormerIssuerUntil.IsZero() {
			return nil, errors.New("a former issuer needs an HS256 key and an end time")
		}
		kk.formerIss, kk.formerUntil = k.FormerIssuer, k.FormerIssuerUntil.Unix()
	}
	switch a {
	case algHS256:
		kk.secret = bytes.Clone(k.Secret) // so that the caller cannot change it under us
		kk.sigLen = sha256.Size
	case algRS256:
		kk.sigLen = (pub.(*rsa.PublicKey).N.BitLen() + 7) / 8
	case algES256, algEdDSA:
		kk.sigLen = 64
	}
	kk.sig64 = base64.RawURLEncoding.EncodedLen(kk.sigLen)
	// RFC 9068 §2.1: typ "at+jwt" marks an access token, so that it cannot
	// be confused with other JWTs (RFC 8725 §3.11). A key's header never
	// changes, so it is encoded once.
	kk.header = encodeHeader(a, k.ID, "at+jwt")
	return kk, nil
}

func encodeHeader(a alg, kid, typ string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + a.String() + `","kid":"` + kid + `","typ":"` + typ + `"}`))
}

// canSign reports whether the key holds what signing needs.
func (k *key) canSign() bool { return k.secret != nil || k.signer != nil }

// sameVerifier reports whether k and o verify exactly the same signatures.
func (k *key) sameVerifier(o *key) bool {
	if k.id != o.id || k.alg != o.alg {
		return false
	}
	if k.alg == algHS256 {
		return hmac.Equal(k.secret, o.secret)
	}
	eq, ok := k.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(o.pub)
}

// signAsym signs msg with an asymmetric key and returns the signature in
// its JWS form.
func (k *key) signAsym(msg []byte) ([]byte, error) {
	switch k.alg {
	case algRS256:
		d := sha256.Sum256(msg)
		return k.signer.Sign(rand.Reader, d[:], crypto.SHA256) // PKCS #1 v1.5 for a crypto.Hash
	case algES256:
		d := sha256.Sum256(msg)
		der, err := k.signer.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		// RFC 7518 §3.4: R and S as two 32-byte big-endian integers, not
		// the ASN.1 DER that crypto.Signer returns.
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
			return nil, errors.New("ECDSA signer returned a malformed signature")
		}
		sig := make([]byte, 64)
		rs.R.FillBytes(sig[:32])
		rs.S.FillBytes(sig[32:])
		return sig, nil
	case algEdDSA:
		return k.signer.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	return nil, errors.New("not an asymmetric key")
}

// verifyAsym checks sig, of length k.sigLen, over signed.
func (k *key) verifyAsym(signed, sig []byte) bool {
	switch k.alg {
	case algRS256:
		d := sha256.Sum256(signed)
		return rsa.VerifyPKCS1v15(k.pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig) == nil
	case algES256:
		d := sha256.Sum256(signed)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.pub.(*ecdsa.PublicKey), d[:], r, s)
	case algEdDSA:
		return ed25519.Verify(k.pub.(ed25519.PublicKey), signed, sig)
	}
	return false
}
