package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.PasskeyStore = (*DB)(nil)

const passkeyColumns = `id, user_id, name, public_key, sign_count, transports, aaguid, backup_eligible, backup_state,
	uv_initialized, attestation_format, created_at, last_used_at`

var errPasskeyNotFound = &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "Passkey not found"}

func scanPasskey(s scanner) (*gatehouse.Passkey, error) {
	var p gatehouse.Passkey
	var count, created int64
	var transports string
	var used sql.NullInt64
	if err := s.Scan(&p.ID, &p.UserID, &p.Name, &p.PublicKey, &count, &transports, &p.AAGUID, &p.BackupEligible,
		&p.BackupState, &p.UVInitialized, &p.AttestationFormat, &created, &used); err != nil {
		return nil, err
	}
	p.SignCount, p.Transports = uint32(count), strings.Fields(transports)
	p.CreatedAt, p.LastUsedAt = fromMicros(created), fromNullMicros(used)
	return &p, nil
}

// CreatePasskey implements gatehouse.PasskeyStore.
func (db *DB) CreatePasskey(ctx context.Context, p *gatehouse.Passkey, max int) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = db.now().UTC().Truncate(time.Microsecond)
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// One writer connection: nothing commits between count and insert.
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM passkeys WHERE user_id = ?`, p.UserID).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return gatehouse.TooManyPasskeys(max)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.UserID, p.Name, p.PublicKey, int64(p.SignCount), strings.Join(p.Transports, " "), nonNil(p.AAGUID),
			p.BackupEligible, p.BackupState, p.UVInitialized, p.AttestationFormat, micros(p.CreatedAt), nullMicros(p.LastUsedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create passkey: %w", db.classify(err))
	}
	return nil
}

// nonNil stores an absent byte string as an empty one, not NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// PasskeyByID implements gatehouse.PasskeyStore.
func (db *DB) PasskeyByID(ctx context.Context, id []byte) (*gatehouse.Passkey, error) {
	p, err := scanPasskey(db.read.QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: passkey: %w", notFound(db.classify(err), "Passkey"))
	}
	return p, nil
}

// PasskeysByUser implements gatehouse.PasskeyStore.
func (db *DB) PasskeysByUser(ctx context.Context, userID int64) ([]*gatehouse.Passkey, error) {
	return queryAll(ctx, db, "passkeys", scanPasskey, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, id`, userID)
}

// CountPasskeys implements gatehouse.PasskeyStore.
func (db *DB) CountPasskeys(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM passkeys WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count passkeys: %w", db.classify(err))
	}
	return n, nil
}

// UsePasskey implements gatehouse.PasskeyStore.
func (db *DB) UsePasskey(ctx context.Context, id []byte, u gatehouse.PasskeyUse) (bool, error) {
	var ok bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE passkeys SET sign_count = ?, backup_state = ?, last_used_at = ?
			WHERE id = ? AND sign_count = ?`, int64(u.NewCount), u.BackupState, micros(u.At), id, int64(u.OldCount))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			ok = true
			return nil
		}
		var one int
		return notFound(tx.QueryRowContext(ctx, `SELECT 1 FROM passkeys WHERE id = ?`, id).Scan(&one), "Passkey")
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: use passkey: %w", db.classify(err))
	}
	return ok, nil
}

// RenamePasskey implements gatehouse.PasskeyStore.
func (db *DB) RenamePasskey(ctx context.Context, userID int64, id []byte, name string) error {
	return db.changePasskey(ctx, "rename", `UPDATE passkeys SET name = ? WHERE id = ? AND user_id = ?`, name, id, userID)
}

// DeletePasskey implements gatehouse.PasskeyStore.
func (db *DB) DeletePasskey(ctx context.Context, userID int64, id []byte) error {
	return db.changePasskey(ctx, "delete", `DELETE FROM passkeys WHERE id = ? AND user_id = ?`, id, userID)
}

func (db *DB) changePasskey(ctx context.Context, op, query string, args ...any) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errPasskeyNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: %s passkey: %w", op, db.classify(err))
	}
	return nil
}
