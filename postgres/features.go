package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

const apiKeyColumns = `id, user_id, name, lookup_id, secret_hash, scope, created_at, expires_at, last_used_at, active`

func scanAPIKey(row pgx.CollectableRow) (*gatehouse.APIKey, error) {
	var k gatehouse.APIKey
	var expires, used *time.Time
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.LookupID, &k.SecretHash, &k.Scope, &k.CreatedAt, &expires, &used, &k.Active); err != nil {
		return nil, err
	}
	k.ExpiresAt, k.LastUsedAt = timeOrZero(expires), timeOrZero(used)
	return &k, nil
}

// CreateAPIKey implements gatehouse.APIKeyStore.
func (db *DB) CreateAPIKey(ctx context.Context, k *gatehouse.APIKey, maxLive int) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if maxLive > 0 {
			// The owner's row, locked until commit, puts concurrent
			// creations for one user in turn, so each counts the others.
			var live int
			if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, k.UserID); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE user_id = $1 AND active
				AND (expires_at IS NULL OR expires_at > $2)`, k.UserID, k.CreatedAt).Scan(&live); err != nil {
				return err
			}
			if live >= maxLive {
				return gatehouse.TooManyAPIKeys(maxLive)
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO api_keys (user_id, name, lookup_id, secret_hash, scope, created_at, expires_at, active)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, k.UserID, k.Name, k.LookupID, k.SecretHash, k.Scope,
			k.CreatedAt, nullTime(k.ExpiresAt), k.Active).Scan(&k.ID)
	})
	if err != nil {
		return fmt.Errorf("postgres: create api key: %w", classify(err))
	}
	return nil
}

// APIKeyByLookup implements gatehouse.APIKeyStore.
func (db *DB) APIKeyByLookup(ctx context.Context, lookupID string) (*gatehouse.APIKey, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE lookup_id = $1`, lookupID)
	k, err := pgx.CollectExactlyOneRow(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("postgres: api key: %w", notFound(classify(err), "API key"))
	}
	return k, nil
}

// APIKeysByUser implements gatehouse.APIKeyStore.
func (db *DB) APIKeysByUser(ctx context.Context, userID int64) ([]*gatehouse.APIKey, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = $1 ORDER BY id DESC`, userID)
	keys, err := pgx.CollectRows(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("postgres: api keys: %w", classify(err))
	}
	return keys, nil
}

// DeactivateAPIKey implements gatehouse.APIKeyStore.
func (db *DB) DeactivateAPIKey(ctx context.Context, id int64) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET active = false WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "API key not found"}
		}
		return recordChanges(ctx, tx, gatehouse.Change{APIKeyID: id})
	})
	if err != nil {
		return fmt.Errorf("postgres: deactivate api key: %w", classify(err))
	}
	return nil
}

// TouchAPIKeys implements gatehouse.APIKeyStore, in one statement.
// greatest ignores NULL, and keeps a later time written by another
// instance. Ids go in sorted so that two instances flushing overlapping
// batches tend to lock rows in the same order.
func (db *DB) TouchAPIKeys(ctx context.Context, used map[int64]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(used))
	times := make([]time.Time, len(ids))
	for i, id := range ids {
		times[i] = used[id]
	}
	_, err := db.pool.Exec(ctx, `UPDATE api_keys k SET last_used_at = greatest(k.last_used_at, u.t)
		FROM unnest($1::bigint[], $2::timestamptz[]) AS u(id, t) WHERE k.id = u.id`, ids, times)
	if err != nil {
		return fmt.Errorf("postgres: touch api keys: %w", classify(err))
	}
	return nil
}

// CreateItem implements gatehouse.ItemStore.
func (db *DB) CreateItem(ctx context.Context, it *gatehouse.Item) error {
	it.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	err := db.pool.QueryRow(ctx, `INSERT INTO items (owner_id, name, description, price, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		it.OwnerID, it.Name, it.Description, it.Price, it.CreatedAt).Scan(&it.ID)
	if err != nil {
		return fmt.Errorf("postgres: create item: %w", classify(err))
	}
	return nil
}

// ItemsByOwner implements gatehouse.ItemStore.
func (db *DB) ItemsByOwner(ctx context.Context, ownerID int64, limit int) ([]*gatehouse.Item, error) {
	rows, _ := db.pool.Query(ctx, `SELECT id, owner_id, name, description, price, created_at FROM items WHERE owner_id = $1 ORDER BY id LIMIT $2`, ownerID, limit)
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*gatehouse.Item, error) {
		var it gatehouse.Item
		err := row.Scan(&it.ID, &it.OwnerID, &it.Name, &it.Description, &it.Price, &it.CreatedAt)
		return &it, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: items: %w", classify(err))
	}
	return items, nil
}

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

func setTOTPEnabled(ctx context.Context, tx pgx.Tx, userID int64, on bool) error {
	if _, err := tx.Exec(ctx, `UPDATE users SET totp_enabled = $1, updated_at = $2 WHERE id = $3`, on, time.Now(), userID); err != nil {
		return err
	}
	return recordChanges(ctx, tx, gatehouse.Change{UserID: userID})
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
		return setTOTPEnabled(ctx, tx, userID, true)
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

// DisableTOTP implements gatehouse.TOTPStore.
func (db *DB) DisableTOTP(ctx context.Context, userID int64) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM totp WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if err := replaceCodes(ctx, tx, userID, nil); err != nil {
			return err
		}
		return setTOTPEnabled(ctx, tx, userID, false)
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

// UseNonce implements gatehouse.NonceStore. A concurrent INSERT of the same
// id waits for the first to commit, then does nothing.
func (db *DB) UseNonce(ctx context.Context, id string, expires time.Time) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO nonces (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, expires)
	if err != nil {
		return false, fmt.Errorf("postgres: use nonce: %w", classify(err))
	}
	return tag.RowsAffected() == 1, nil
}

// NonceUsed implements gatehouse.NonceStore.
func (db *DB) NonceUsed(ctx context.Context, id string) (bool, error) {
	var used bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM nonces WHERE id = $1)`, id).Scan(&used); err != nil {
		return false, fmt.Errorf("postgres: nonce used: %w", classify(err))
	}
	return used, nil
}

// AddAuditEvents implements gatehouse.AuditStore.
func (db *DB) AddAuditEvents(ctx context.Context, events ...*gatehouse.AuditEvent) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		for _, e := range events {
			if err := tx.QueryRow(ctx, `INSERT INTO audit_events (time, type, outcome, user_id, username, client_ip, user_agent, request_id, path, detail, count)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`, e.Time, e.Type, e.Outcome, e.UserID, e.Username,
				e.ClientIP, e.UserAgent, e.RequestID, e.Path, e.Detail, max(e.Count, 1)).Scan(&e.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: add audit events: %w", classify(err))
	}
	return nil
}

// AuditEvents implements gatehouse.AuditStore.
func (db *DB) AuditEvents(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEvent, error) {
	var where []string
	var args []any
	cond := func(expr string, v any) { // expr holds one "?" for v's placeholder
		args = append(args, v)
		where = append(where, strings.Replace(expr, "?", "$"+strconv.Itoa(len(args)), 1))
	}
	if f.UserID != 0 {
		cond("user_id = ?", f.UserID)
	}
	if f.Type != "" {
		cond("type = ?", f.Type)
	}
	if !f.Since.IsZero() {
		cond("time >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		cond("time < ?", f.Until)
	}
	if f.Before != 0 {
		cond("id < ?", f.Before)
	}
	q := `SELECT id, time, type, outcome, user_id, username, client_ip, user_agent, request_id, path, detail, count FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	args = append(args, f.Limit)
	q += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))
	rows, _ := db.pool.Query(ctx, q, args...)
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*gatehouse.AuditEvent, error) {
		var e gatehouse.AuditEvent
		err := row.Scan(&e.ID, &e.Time, &e.Type, &e.Outcome, &e.UserID, &e.Username, &e.ClientIP, &e.UserAgent, &e.RequestID, &e.Path, &e.Detail, &e.Count)
		return &e, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: audit events: %w", classify(err))
	}
	return events, nil
}

// PurgeAudit implements gatehouse.AuditStore.
func (db *DB) PurgeAudit(ctx context.Context, t time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM audit_events WHERE time < $1`, t)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge audit: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}
