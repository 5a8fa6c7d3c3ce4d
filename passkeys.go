package gatehouse

import (
	"context"
	"time"
)

// Passkeys (contract §14): WebAuthn credentials a user registered, kept as
// public keys. The private key never leaves the user's authenticator.

// DefaultMaxPasskeys is how many passkeys a user may hold unless configured
// otherwise.
const DefaultMaxPasskeys = 20

// Passkey is one registered WebAuthn credential (a credential record of
// WebAuthn Level 2 §4, "credential record").
type Passkey struct {
	ID        []byte // the credential id, as the authenticator chose it (≤ 1023 bytes)
	UserID    int64
	Name      string // the user's label for it
	PublicKey []byte // COSE_Key (RFC 9052), as the authenticator sent it
	// SignCount is the last signature counter seen; an assertion whose
	// counter does not go past it (unless both are 0) is refused.
	SignCount  uint32
	Transports []string // hints for the browser: "internal", "usb", "hybrid"…
	AAGUID     []byte   // the authenticator model (16 bytes; zero for attestation "none" on many)
	// BackupEligible (BE) never changes for a credential; BackupState (BS)
	// may: a synced passkey.
	BackupEligible bool
	BackupState    bool
	// UVInitialized records that the authenticator verified the user when
	// the credential was created (or since): WebAuthn's uvInitialized.
	UVInitialized     bool
	AttestationFormat string // "none" unless attestation was asked for
	CreatedAt         time.Time
	LastUsedAt        time.Time // zero: never used to sign in
}

// PasskeyUse is what a verified assertion changes on its credential.
type PasskeyUse struct {
	OldCount    uint32 // the counter the verification read
	NewCount    uint32
	BackupState bool
	At          time.Time
}

// PasskeyStore keeps passkeys.
type PasskeyStore interface {
	// CreatePasskey stores p, setting CreatedAt from the store's clock
	// when zero. ECONFLICT when a passkey with that credential id exists
	// (of any user), and TooManyPasskeys (also ECONFLICT) when max > 0 and
	// the user already holds max. Count and insert are one step:
	// concurrent registrations cannot pass the cap together.
	CreatePasskey(ctx context.Context, p *Passkey, max int) error
	// PasskeyByID returns the passkey with that credential id, or
	// ENOTFOUND.
	PasskeyByID(ctx context.Context, id []byte) (*Passkey, error)
	// PasskeysByUser returns a user's passkeys, oldest first.
	PasskeysByUser(ctx context.Context, userID int64) ([]*Passkey, error)
	// CountPasskeys returns how many passkeys the user holds.
	CountPasskeys(ctx context.Context, userID int64) (int, error)
	// UsePasskey records a verified assertion of the passkey: its counter
	// becomes u.NewCount, its backup state u.BackupState and its last use
	// u.At — only if its counter is still u.OldCount, and it reports
	// whether it was. Of two concurrent uses that read one counter and
	// advance it, exactly one gets true (an authenticator without a
	// counter always sends 0: the single-use challenge is what stops a
	// replay then). ENOTFOUND when the passkey is gone.
	UsePasskey(ctx context.Context, id []byte, u PasskeyUse) (bool, error)
	// RenamePasskey sets the name of the user's passkey. ENOTFOUND when the
	// user holds no passkey with that id.
	RenamePasskey(ctx context.Context, userID int64, id []byte, name string) error
	// DeletePasskey deletes the user's passkey. ENOTFOUND when the user
	// holds no passkey with that id (another user's included).
	DeletePasskey(ctx context.Context, userID int64, id []byte) error
}

// TooManyPasskeys is the error of a registration refused because its user
// already holds max passkeys.
func TooManyPasskeys(max int) *Error {
	return Errorf(ECONFLICT, "Too many passkeys: at most %d; delete one first", max)
}
