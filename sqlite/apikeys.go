package sqlite

import (
	"context"
	"database/sql"
	"fmt"
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
		k.CreatedAt = db.now().UTC().Truncate(time.Microsecond)
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
		return fmt.Errorf("sqlite: create api key: %w", db.classify(err))
	}
	return nil
}

// APIKeyByLookup implements gatehouse.APIKeyStore.
func (db *DB) APIKeyByLookup(ctx context.Context, lookupID string) (*gatehouse.APIKey, error) {
	k, err := scanAPIKey(db.read.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE lookup_id = ?`, lookupID))
	if err != nil {
		return nil, fmt.Errorf("sqlite: api key: %w", notFound(db.classify(err), "API key"))
	}
	return k, nil
}

// APIKeysByUser implements gatehouse.APIKeyStore.
func (db *DB) APIKeysByUser(ctx context.Context, userID int64) ([]*gatehouse.APIKey, error) {
	return queryAll(ctx, db, "api keys", scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = ? ORDER BY id DESC`, userID)
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
		return db.recordChanges(ctx, tx, gatehouse.Change{APIKeyID: id})
	})
	if err != nil {
		return fmt.Errorf("sqlite: deactivate api key: %w", db.classify(err))
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
		return fmt.Errorf("sqlite: touch api keys: %w", db.classify(err))
	}
	return nil
}
