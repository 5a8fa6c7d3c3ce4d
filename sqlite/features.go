package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.APIKeyStore = (*DB)(nil)

const apiKeyColumns = `id, user_id, name, lookup_id, secret_hash, scope, created_at, expires_at, last_used_at, active`

func scanAPIKey(s scanner) (*gatehouse.APIKey, error) {
	var k gatehouse.APIKey
	var created int64
	var expires, used sql.NullInt64
	if err := s.Scan(&k.ID, &k.UserID, &k.Name, &k.LookupID, &k.SecretHash, &k.Scope, &created, &expires, &used, &k.Active); err != nil {
		return nil, err
	}
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt = fromMicros(created), fromNullMicros(expires), fromNullMicros(used)
	return &k, nil
}

// CreateAPIKey implements gatehouse.APIKeyStore.
func (db *DB) CreateAPIKey(ctx context.Context, k *gatehouse.APIKey, maxLive int) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// One writer connection: nothing commits between count and insert.
		if maxLive > 0 {
			var live int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_keys WHERE user_id = ? AND active
				AND (expires_at IS NULL OR expires_at > ?)`, k.UserID, micros(k.CreatedAt)).Scan(&live); err != nil {
				return err
			}
			if live >= maxLive {
				return gatehouse.TooManyAPIKeys(maxLive)
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO api_keys (user_id, name, lookup_id, secret_hash, scope, created_at, expires_at, active)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, k.UserID, k.Name, k.LookupID, k.SecretHash, k.Scope,
			micros(k.CreatedAt), nullMicros(k.ExpiresAt), k.Active).Scan(&k.ID)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create api key: %w", classify(err))
	}
	return nil
}

// APIKeyByLookup implements gatehouse.APIKeyStore.
func (db *DB) APIKeyByLookup(ctx context.Context, lookupID string) (*gatehouse.APIKey, error) {
	k, err := scanAPIKey(db.read.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE lookup_id = ?`, lookupID))
	if err != nil {
		return nil, fmt.Errorf("sqlite: api key: %w", notFound(err, "API key"))
	}
	return k, nil
}

// APIKeysByUser implements gatehouse.APIKeyStore.
func (db *DB) APIKeysByUser(ctx context.Context, userID int64) ([]*gatehouse.APIKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = ? ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: api keys: %w", err)
	}
	defer rows.Close()
	var out []*gatehouse.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: api keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeactivateAPIKey implements gatehouse.APIKeyStore.
func (db *DB) DeactivateAPIKey(ctx context.Context, id int64) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET active = 0 WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "API key not found"}
		}
		return recordChanges(ctx, tx, gatehouse.Change{APIKeyID: id})
	})
	if err != nil {
		return fmt.Errorf("sqlite: deactivate api key: %w", classify(err))
	}
	return nil
}

// TouchAPIKeys implements gatehouse.APIKeyStore.
func (db *DB) TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for id, t := range used {
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?`, micros(t), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: touch api keys: %w", classify(err))
	}
	return nil
}

// CreateItem implements gatehouse.ItemStore.
func (db *DB) CreateItem(ctx context.Context, it *gatehouse.Item) error {
	it.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO items (owner_id, name, description, price, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
			it.OwnerID, it.Name, it.Description, it.Price, micros(it.CreatedAt)).Scan(&it.ID)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create item: %w", classify(err))
	}
	return nil
}

// ItemsByOwner implements gatehouse.ItemStore.
func (db *DB) ItemsByOwner(ctx context.Context, ownerID int64, limit int) ([]*gatehouse.Item, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, owner_id, name, description, price, created_at FROM items WHERE owner_id = ? ORDER BY id LIMIT ?`, ownerID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: items: %w", err)
	}
	defer rows.Close()
	var out []*gatehouse.Item
	for rows.Next() {
		var it gatehouse.Item
		var price sql.NullFloat64
		var created int64
		if err := rows.Scan(&it.ID, &it.OwnerID, &it.Name, &it.Description, &price, &created); err != nil {
			return nil, fmt.Errorf("sqlite: items: %w", err)
		}
		if price.Valid {
			it.Price = &price.Float64
		}
		it.CreatedAt = fromMicros(created)
		out = append(out, &it)
	}
	return out, rows.Err()
}

// TOTP implements gatehouse.TOTPStore.
func (db *DB) TOTP(ctx context.Context, userID int64) (*gatehouse.TOTP, error) {
	t := gatehouse.TOTP{UserID: userID}
	err := db.read.QueryRowContext(ctx, `SELECT secret, pending, enabled, last_step FROM totp WHERE user_id = ?`, userID).
		Scan(&t.Secret, &t.Pending, &t.Enabled, &t.LastStep)
	if err != nil {
		return nil, fmt.Errorf("sqlite: totp: %w", notFound(err, "2FA"))
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
		return fmt.Errorf("sqlite: set pending totp: %w", classify(err))
	}
	return nil
}

func setTOTPEnabled(ctx context.Context, tx *sql.Tx, userID int64, on bool) error {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_enabled = ?, updated_at = ? WHERE id = ?`, on, micros(time.Now()), userID); err != nil {
		return err
	}
	return recordChanges(ctx, tx, gatehouse.Change{UserID: userID})
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
		return setTOTPEnabled(ctx, tx, userID, true)
	})
	if err != nil {
		return fmt.Errorf("sqlite: enable totp: %w", classify(err))
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
		return false, fmt.Errorf("sqlite: use totp step: %w", classify(err))
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
		return false, fmt.Errorf("sqlite: use recovery code: %w", classify(err))
	}
	return n == 1, nil
}

// ReplaceRecoveryCodes implements gatehouse.TOTPStore.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string) error {
	if err := db.tx(ctx, func(tx *sql.Tx) error { return replaceCodes(ctx, tx, userID, hashes) }); err != nil {
		return fmt.Errorf("sqlite: replace recovery codes: %w", classify(err))
	}
	return nil
}

// DisableTOTP implements gatehouse.TOTPStore.
func (db *DB) DisableTOTP(ctx context.Context, userID int64) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM totp WHERE user_id = ?`, userID); err != nil {
			return err
		}
		if err := replaceCodes(ctx, tx, userID, nil); err != nil {
			return err
		}
		return setTOTPEnabled(ctx, tx, userID, false)
	})
	if err != nil {
		return fmt.Errorf("sqlite: disable totp: %w", classify(err))
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
		return false, fmt.Errorf("sqlite: reseal totp: %w", classify(err))
	}
	return n == 1, nil
}

// UseNonce implements gatehouse.NonceStore.
func (db *DB) UseNonce(ctx context.Context, id string, expires time.Time) (bool, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO nonces (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, micros(expires))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: use nonce: %w", classify(err))
	}
	return n == 1, nil
}

// NonceUsed implements gatehouse.NonceStore.
func (db *DB) NonceUsed(ctx context.Context, id string) (bool, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM nonces WHERE id = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("sqlite: nonce used: %w", classify(err))
	}
	return n > 0, nil
}

// AddAuditEvents implements gatehouse.AuditStore.
func (db *DB) AddAuditEvents(ctx context.Context, events ...*gatehouse.AuditEvent) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			if err := tx.QueryRowContext(ctx, `INSERT INTO audit_events (time, type, outcome, user_id, username, client_ip, user_agent, request_id, path, detail, count)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, micros(e.Time), e.Type, e.Outcome, e.UserID, e.Username,
				e.ClientIP, e.UserAgent, e.RequestID, e.Path, e.Detail, max(e.Count, 1)).Scan(&e.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: add audit events: %w", classify(err))
	}
	return nil
}

// AuditEvents implements gatehouse.AuditStore.
func (db *DB) AuditEvents(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEvent, error) {
	var where []string
	var args []any
	if f.UserID != 0 {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "time >= ?"), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "time < ?"), append(args, micros(f.Until))
	}
	if f.Before != 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	q := `SELECT id, time, type, outcome, user_id, username, client_ip, user_agent, request_id, path, detail, count FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q += " ORDER BY id DESC LIMIT ?"
	rows, err := db.read.QueryContext(ctx, q, append(args, f.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit events: %w", err)
	}
	defer rows.Close()
	var out []*gatehouse.AuditEvent
	for rows.Next() {
		var e gatehouse.AuditEvent
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Type, &e.Outcome, &e.UserID, &e.Username, &e.ClientIP, &e.UserAgent, &e.RequestID, &e.Path, &e.Detail, &e.Count); err != nil {
			return nil, fmt.Errorf("sqlite: audit events: %w", err)
		}
		e.Time = fromMicros(t)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// PurgeAudit implements gatehouse.AuditStore.
func (db *DB) PurgeAudit(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE time < ?`, micros(t))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge audit: %w", classify(err))
	}
	return n, nil
}
