package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse/gatehouse"
)

// TOTP implements gatehouse.TOTPStore.
func (db *DB) TOTP(ctx context.Context, userID int64) (*gatehouse.TOTP, error) {
	t := gatehouse.TOTP{UserID: userID}
	err := db.read.QueryRowContext(ctx, `SELECT secret, pending, enabled, last_step FROM totp WHERE user_id = ?`, userID).
		Scan(&t.Secret, &t.Pending, &t.Enabled, &t.LastStep)
	if err != nil {
		return nil, fmt.Errorf("sqlite: totp: %w", notFound(db.classify(err), "2FA"))
	}
	return &t, nil
}

// SetPendingTOTP implements gatehouse.TOTPStore.
func (db *DB) SetPendingTOTP(ctx context.Context, userID int64, sealed string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO totp (user_id, pending) VALUES (?, ?)
			ON CONFLICT (user_id) DO UPDATE SET pending = excluded.pending`, userID, sealed)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set pending totp: %w", db.classify(err))
	}
	return nil
}

func (db *DB) setTOTPEnabled(ctx context.Context, tx *sql.Tx, userID int64, on bool) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_enabled = ?, updated_at = ? WHERE id = ?`, on, micros(db.now()), userID); err != nil {
		return err
	}
	return db.recordChanges(ctx, tx, gatehouse.Change{UserID: userID})
}

func replaceCodes(ctx context.Context, tx *sql.Tx, userID int64, hashes []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)`, userID, h); err != nil {
			return err
		}
	}
	return nil
}

// EnableTOTP implements gatehouse.TOTPStore.
func (db *DB) EnableTOTP(ctx context.Context, userID int64, sealedPending string, step int64, recoveryHashes []string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp SET secret = pending, pending = '', enabled = 1, last_step = ?
			WHERE user_id = ? AND pending = ? AND pending <> ''`, step, userID, sealedPending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "2FA setup changed; start again"}
		}
		if err := replaceCodes(ctx, tx, userID, recoveryHashes); err != nil {
			return err
		}
		return db.setTOTPEnabled(ctx, tx, userID, true)
	})
	if err != nil {
		return fmt.Errorf("sqlite: enable totp: %w", db.classify(err))
	}
	return nil
}

// UseTOTPStep implements gatehouse.TOTPStore.
func (db *DB) UseTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp SET last_step = ? WHERE user_id = ? AND enabled = 1 AND last_step < ?`, step, userID, step)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: use totp step: %w", db.classify(err))
	}
	return n == 1, nil
}

// UseRecoveryCode implements gatehouse.TOTPStore.
func (db *DB) UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?`, userID, hash)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: use recovery code: %w", db.classify(err))
	}
	return n == 1, nil
}

// ReplaceRecoveryCodes implements gatehouse.TOTPStore.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string) error {
	if err := db.tx(ctx, func(tx *sql.Tx) error { return replaceCodes(ctx, tx, userID, hashes) }); err != nil {
		return fmt.Errorf("sqlite: replace recovery codes: %w", db.classify(err))
	}
	return nil
}

// removeTwoFactor deletes the user's two-factor state: secrets and
// recovery codes.
func removeTwoFactor(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM totp WHERE user_id = ?`, userID); err != nil {
		return err
	}
	return replaceCodes(ctx, tx, userID, nil)
}

// DisableTOTP implements gatehouse.TOTPStore.
func (db *DB) DisableTOTP(ctx context.Context, userID int64) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := removeTwoFactor(ctx, tx, userID); err != nil {
			return err
		}
		return db.setTOTPEnabled(ctx, tx, userID, false)
	})
	if err != nil {
		return fmt.Errorf("sqlite: disable totp: %w", db.classify(err))
	}
	return nil
}

// ResealTOTP implements gatehouse.TOTPStore.
func (db *DB) ResealTOTP(ctx context.Context, userID int64, old, new string) (bool, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp SET secret = ? WHERE user_id = ? AND secret = ? AND secret <> ''`, new, userID, old)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: reseal totp: %w", db.classify(err))
	}
	return n == 1, nil
}
