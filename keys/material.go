// Package keys manages Gatehouse's asymmetric signing keys (contract §10):
// generation (RS256 2048-bit, ES256 P-256, EdDSA Ed25519), their ids (the
// RFC 7638 thumbprint), sealing of the private parts, the JSON Web Key Set
// served at /.well-known/jwks.json, and rotation through the states next →
// current → retired, coordinated between instances by a compare-and-set in
// the store.
//
// A key is published from its creation, as next; it signs only once it has
// been published for longer than any client may cache the key set, and it
// stays published, and verifying, until every token it signed has expired.
// So no client ever meets a token of a key it could not have fetched, and
// no valid token is refused when keys change.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/token"
)

// Sealer encrypts private keys for storage; totp.Sealer is one. The key id
// is the additional data, so a sealed key copied to another row does not
// open there.
type Sealer interface {
	Seal(plaintext, aad []byte) string
	Open(sealed string, aad []byte) ([]byte, error)
}

// ErrUnseal is in the error of a key whose private part does not open: the
// encryption key is not the one it was sealed under (nor a previous one).
var ErrUnseal = errors.New("keys: a private key does not open under the encryption keys held")

// rsaBits is the size of generated RSA keys: RFC 7518 §3.3's minimum and
// NIST's through 2030, and the cheapest to verify.
const rsaBits = 2048

// Generate returns a new private key for alg: RS256, ES256 or EdDSA.
func Generate(alg string) (crypto.Signer, error) {
	switch alg {
	case token.RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case token.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case token.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("keys: no asymmetric algorithm %q (want RS256, ES256 or EdDSA)", alg)
}

// Thumbprint returns the RFC 7638 thumbprint of a public key: SHA-256 over
// its required JWK members, base64url. It is the key's id (kid).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// algorithmOf returns the algorithm a public key signs with (as token
// decides it), or an error for a key Gatehouse does not use.
func algorithmOf(pub crypto.PublicKey) (string, error) {
	alg := token.Key{ID: "x", Public: pub}.Algorithm()
	if alg == "" {
		return "", fmt.Errorf("keys: unsupported public key %T", pub)
	}
	return alg, nil
}

// sealPrivate returns the private key as PKCS #8 DER, sealed with the kid
// as additional data.
func sealPrivate(s Sealer, kid string, k crypto.Signer) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("keys: encode private key: %w", err)
	}
	sealed := s.Seal(der, []byte(kid))
	clear(der)
	return sealed, nil
}

// openPrivate unseals the private key of kid and checks that it is the
// key whose public part has that thumbprint, of algorithm alg.
func openPrivate(s Sealer, kid, alg, sealed string) (crypto.Signer, error) {
	der, err := s.Open(sealed, []byte(kid))
	if err != nil {
		// The cause names no secret; the usual one is a changed
		// encryption key.
		return nil, fmt.Errorf("%w: the key of %s (is the encryption key the one it was sealed with?): %w", ErrUnseal, kid, err)
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: private key of %s: %w", kid, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: private key of %s: not a signing key", kid)
	}
	if got, err := Thumbprint(signer.Public()); err != nil || got != kid {
		return nil, errors.Join(fmt.Errorf("keys: private key of %s does not match its id", kid), err)
	}
	if got, err := algorithmOf(signer.Public()); err != nil || got != alg {
		return nil, errors.Join(fmt.Errorf("keys: private key of %s is not a %s key", kid, alg), err)
	}
	return signer, nil
}

// parsePublic reads a stored public key and checks it against its id and
// algorithm.
func parsePublic(kid, alg string, der []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: public key of %s: %w", kid, err)
	}
	if got, err := Thumbprint(pub); err != nil || got != kid {
		return nil, errors.Join(fmt.Errorf("keys: public key of %s does not match its id", kid), err)
	}
	if got, err := algorithmOf(pub); err != nil || got != alg {
		return nil, errors.Join(fmt.Errorf("keys: public key of %s is not a %s key", kid, alg), err)
	}
	return pub, nil
}
