package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

var _ gatehouse.PasskeyStore = (*DB)(nil)

const passkeyColumns = `id, user_id, name, public_key, sign_count, transports, aaguid, backup_eligible, backup_state,
	uv_initialized, attestation_format, created_at, last_used_at`

var errPasskeyNotFound = &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "Passkey not found"}

func scanPasskey(row pgx.CollectableRow) (*gatehouse.Passkey, error) {
	var p gatehouse.Passkey
	var count int64
	var transports string
	var used *time.Time
	if err := row.Scan(&p.ID, &p.UserID, &p.Name, &p.PublicKey, &count, &transports, &p.AAGUID, &p.BackupEligible,
		&p.BackupState, &p.UVInitialized, &p.AttestationFormat, &p.CreatedAt, &used); err != nil {
		return nil, err
	}
	p.SignCount, p.Transports, p.LastUsedAt = uint32(count), strings.Fields(transports), timeOrZero(used)
	return &p, nil
}

// CreatePasskey implements gatehouse.PasskeyStore.
func (db *DB) CreatePasskey(ctx context.Context, p *gatehouse.Passkey, max int) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = db.now().UTC().Truncate(time.Microsecond)
	}
	aaguid := p.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if max > 0 {
			// The owner's row, locked until commit, puts concurrent
			// registrations for one user in turn, so each counts the others.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, p.UserID); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM passkeys WHERE user_id = $1`, p.UserID).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return gatehouse.TooManyPasskeys(max)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO passkeys (`+passkeyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			p.ID, p.UserID, p.Name, p.PublicKey, int64(p.SignCount), strings.Join(p.Transports, " "), aaguid,
			p.BackupEligible, p.BackupState, p.UVInitialized, p.AttestationFormat, p.CreatedAt, nullTime(p.LastUsedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create passkey: %w", classify(err))
	}
	return nil
}

// PasskeyByID implements gatehouse.PasskeyStore.
func (db *DB) PasskeyByID(ctx context.Context, id []byte) (*gatehouse.Passkey, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE id = $1`, id)
	p, err := pgx.CollectExactlyOneRow(rows, scanPasskey)
	if err != nil {
		return nil, fmt.Errorf("postgres: passkey: %w", notFound(classify(err), "Passkey"))
	}
	return p, nil
}

// PasskeysByUser implements gatehouse.PasskeyStore.
func (db *DB) PasskeysByUser(ctx context.Context, userID int64) ([]*gatehouse.Passkey, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	list, err := pgx.CollectRows(rows, scanPasskey)
	if err != nil {
		return nil, fmt.Errorf("postgres: passkeys: %w", classify(err))
	}
	return list, nil
}

// CountPasskeys implements gatehouse.PasskeyStore.
func (db *DB) CountPasskeys(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM passkeys WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count passkeys: %w", classify(err))
	}
	return n, nil
}

// UsePasskey implements gatehouse.PasskeyStore. The update's WHERE is
// evaluated again on the row a concurrent update has committed, so of two
// that read one counter only the first matches.
func (db *DB) UsePasskey(ctx context.Context, id []byte, u gatehouse.PasskeyUse) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE passkeys SET sign_count = $1, backup_state = $2, last_used_at = $3
		WHERE id = $4 AND sign_count = $5`, int64(u.NewCount), u.BackupState, u.At, id, int64(u.OldCount))
	if err != nil {
		return false, fmt.Errorf("postgres: use passkey: %w", classify(err))
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	var one int
	if err := db.pool.QueryRow(ctx, `SELECT 1 FROM passkeys WHERE id = $1`, id).Scan(&one); err != nil {
		return false, fmt.Errorf("postgres: use passkey: %w", notFound(classify(err), "Passkey"))
	}
	return false, nil
}

// RenamePasskey implements gatehouse.PasskeyStore.
func (db *DB) RenamePasskey(ctx context.Context, userID int64, id []byte, name string) error {
	return db.changePasskey(ctx, "rename", `UPDATE passkeys SET name = $1 WHERE id = $2 AND user_id = $3`, name, id, userID)
}

// DeletePasskey implements gatehouse.PasskeyStore.
func (db *DB) DeletePasskey(ctx context.Context, userID int64, id []byte) error {
	return db.changePasskey(ctx, "delete", `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
}

func (db *DB) changePasskey(ctx context.Context, op, query string, args ...any) error {
	tag, err := db.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s passkey: %w", op, classify(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s passkey: %w", op, errPasskeyNotFound)
	}
	return nil
}
