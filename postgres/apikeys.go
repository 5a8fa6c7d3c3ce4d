package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
		k.CreatedAt = db.now().UTC().Truncate(time.Microsecond)
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
		return db.recordChanges(ctx, tx, gatehouse.Change{APIKeyID: id})
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
