package gatehouse

import (
	"context"
	"time"
)

// Signing key states (contract §10). A key is created next: published in
// the key set, signing nothing, so that clients that cache the set learn of
// it before it signs. Rotation makes it current, the one key of its
// algorithm that signs, and makes the previous current key retired: it
// signs nothing more but stays published, and verifies, until every token
// it signed has expired (RetireUntil); then it is purged.
const (
	KeyNext    = "next"
	KeyCurrent = "current"
	KeyRetired = "retired"
)

// SigningKey is an asymmetric signing key as stored. Its private part is
// sealed (encrypted) by the caller before it reaches the store, with the
// key's ID as additional data, so that a copy of the database alone yields
// no usable key.
type SigningKey struct {
	ID          string // kid: the RFC 7638 thumbprint of the public key (SHA-256, base64url)
	Algorithm   string // RS256, ES256 or EdDSA
	State       string // KeyNext, KeyCurrent or KeyRetired
	Public      []byte // the public key, PKIX DER
	Sealed      string // the private key, PKCS #8 DER, sealed
	CreatedAt   time.Time
	ActivatedAt time.Time // when it became current; zero while next
	RetiredAt   time.Time // when it was retired; zero until then
	RetireUntil time.Time // retired: published and verifying until then, purged after
}

// KeyRotation is one rotation of the keys of an algorithm: the next key
// becomes current and the current key retired, both as they were read,
// and NewNext is stored as the next key.
type KeyRotation struct {
	Current     string     // the kid expected to be current
	Next        string     // the kid expected to be next: the key promoted
	NewNext     SigningKey // the new next key, of the same algorithm (its State is set to KeyNext)
	Now         time.Time  // the promoted key's ActivatedAt, the retired key's RetiredAt
	RetireUntil time.Time  // the retired key's RetireUntil
}

// SigningKeyStore keeps the asymmetric signing keys. Every instance reads
// them (SigningKeys) periodically: that is how a rotation made by one
// instance, or by the CLI, reaches the others.
type SigningKeyStore interface {
	// SigningKeys returns every stored key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// InitSigningKeys stores current and next, two keys of one algorithm
	// (their States are set), unless a current key of that algorithm
	// exists, and reports whether it stored them. Of racing calls exactly
	// one stores; the others get false and read the winner's keys.
	// EINVALID when the two keys' algorithms differ.
	InitSigningKeys(ctx context.Context, current, next SigningKey) (bool, error)
	// RotateSigningKeys applies r if, at that moment, r.Current is the
	// current key and r.Next the next key of one algorithm, all at once
	// (a compare-and-set), and reports whether it did. Of racing calls
	// naming the same current key exactly one rotates; the others get
	// false and change nothing. EINVALID when r.NewNext is of another
	// algorithm.
	RotateSigningKeys(ctx context.Context, r KeyRotation) (bool, error)
	// PurgeSigningKeys deletes the retired keys whose RetireUntil is
	// before now and returns how many it deleted.
	PurgeSigningKeys(ctx context.Context, now time.Time) (int64, error)
	// ResealSigningKey replaces the sealed private part of key kid with
	// sealed (the same key under the current encryption key) if it is
	// still old, and reports whether it did: a concurrent change wins.
	// ENOTFOUND when there is no such key.
	ResealSigningKey(ctx context.Context, kid, old, sealed string) (bool, error)
}
