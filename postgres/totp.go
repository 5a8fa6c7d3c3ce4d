package postgres

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

// TOTP implements gatehouse.TOTPStore.
func (db *DB) TOTP(ctx context.Context, userID int64) (*gatehouse.TOTP, error) {
	t := gatehouse.TOTP{UserID: userID}
	err := db.pool.QueryRow(ctx, `SELECT secret, pending, enabled, last_step FROM totp WHERE user_id = $1`, userID).
		Scan(&t.Secret, &t.Pending, &t.Enabled, &t.LastStep)
	if err != nil {
		return nil, fmt.Errorf("postgres: totp: %w", notFound(classify(err), "2FA"))
	}
	return &t, nil
}

// SetPendingTOTP implements gatehouse.TOTPStore.
func (db *DB) SetPendingTOTP(ctx context.Context, userID int64, sealed string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO totp (user_id, pending) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending`, userID, sealed)
	if err != nil {
		return fmt.Errorf("postgres: set pending totp: %w", classify(err))
	}
	return nil
}

func (db *DB) setTOTPEnabled(ctx context.Context, tx pgx.Tx, userID int64, on bool) error {
	if _, err := tx.Exec(ctx, `UPDATE users SET totp_enabled = $1, updated_at = $2 WHERE id = $3`, on, db.now(), userID); err != nil {
		return err
	}
	return db.recordChanges(ctx, tx, gatehouse.Change{UserID: userID})
}

func replaceCodes(ctx context.Context, tx pgx.Tx, userID int64, hashes []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	if len(hashes) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, hash) SELECT $1, unnest($2::text[])`, userID, hashes)
	return err
}

// EnableTOTP implements gatehouse.TOTPStore. The UPDATE is a
// compare-and-set on the pending secret: a setup restarted meanwhile
// matches no row.
func (db *DB) EnableTOTP(ctx context.Context, userID int64, sealedPending string, step int64, recoveryHashes []string) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE totp SET secret = pending, pending = '', enabled = true, last_step = $1
			WHERE user_id = $2 AND pending = $3 AND pending <> ''`, step, userID, sealedPending)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "2FA setup changed; start again"}
		}
		if err := replaceCodes(ctx, tx, userID, recoveryHashes); err != nil {
			return err
		}
		return db.setTOTPEnabled(ctx, tx, userID, true)
	})
	if err != nil {
		return fmt.Errorf("postgres: enable totp: %w", classify(err))
	}
	return nil
}

// UseTOTPStep implements gatehouse.TOTPStore. A concurrent UPDATE of the
// row waits for the first to commit and re-checks last_step < step on the
// new row, so of two calls with one step only one matches (RFC 6238 §5.2).
func (db *DB) UseTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE totp SET last_step = $1 WHERE user_id = $2 AND enabled AND last_step < $1`, step, userID)
	if err != nil {
		return false, fmt.Errorf("postgres: use totp step: %w", classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// UseRecoveryCode implements gatehouse.TOTPStore. Of two concurrent
// DELETEs of one row, the second finds it gone.
func (db *DB) UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND hash = $2`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("postgres: use recovery code: %w", classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// ReplaceRecoveryCodes implements gatehouse.TOTPStore.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string) error {
	if err := db.tx(ctx, func(tx pgx.Tx) error { return replaceCodes(ctx, tx, userID, hashes) }); err != nil {
		return fmt.Errorf("postgres: replace recovery codes: %w", classify(err))
	}
	return nil
}

// removeTwoFactor deletes the user's two-factor state: secrets and
// recovery codes.
func removeTwoFactor(ctx context.Context, tx pgx.Tx, userID int64) error {
	if _, err := tx.Exec(ctx, `DELETE FROM totp WHERE user_id = $1`, userID); err != nil {
		return err
	}
	return replaceCodes(ctx, tx, userID, nil)
}

// DisableTOTP implements gatehouse.TOTPStore.
func (db *DB) DisableTOTP(ctx context.Context, userID int64) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if err := removeTwoFactor(ctx, tx, userID); err != nil {
			return err
		}
		return db.setTOTPEnabled(ctx, tx, userID, false)
	})
	if err != nil {
		return fmt.Errorf("postgres: disable totp: %w", classify(err))
	}
	return nil
}

// ResealTOTP implements gatehouse.TOTPStore.
func (db *DB) ResealTOTP(ctx context.Context, userID int64, old, new string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE totp SET secret = $1 WHERE user_id = $2 AND secret = $3 AND secret <> ''`, new, userID, old)
	if err != nil {
		return false, fmt.Errorf("postgres: reseal totp: %w", classify(err))
	}
	return tag.RowsAffected() == 1, nil
}
