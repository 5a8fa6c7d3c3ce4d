package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

var _ gatehouse.SigningKeyStore = (*DB)(nil)

// errNotRotated rolls back a rotation whose compare-and-set failed midway.
var errNotRotated = errors.New("postgres: not rotated")

// SigningKeys implements gatehouse.SigningKeyStore.
func (db *DB) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	rows, _ := db.pool.Query(ctx, `SELECT kid, alg, state, public_key, private_key, created_at, activated_at, retired_at, retire_until
		FROM signing_keys ORDER BY created_at, kid`)
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (gatehouse.SigningKey, error) {
		var k gatehouse.SigningKey
		var activated, retired, until *time.Time
		err := row.Scan(&k.ID, &k.Algorithm, &k.State, &k.Public, &k.Sealed, &k.CreatedAt, &activated, &retired, &until)
		k.ActivatedAt, k.RetiredAt, k.RetireUntil = timeOrZero(activated), timeOrZero(retired), timeOrZero(until)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", classify(err))
	}
	return keys, nil
}

func insertSigningKey(ctx context.Context, tx pgx.Tx, k gatehouse.SigningKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO signing_keys (kid, alg, state, public_key, private_key, created_at, activated_at, retired_at, retire_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, k.ID, k.Algorithm, k.State, k.Public, k.Sealed, k.CreatedAt,
		nullTime(k.ActivatedAt), nullTime(k.RetiredAt), nullTime(k.RetireUntil))
	return err
}

// InitSigningKeys implements gatehouse.SigningKeyStore. Of two instances
// initialising at once, both may find no current key; the one-current
// unique index then makes the second insert fail, and that call reports
// false.
func (db *DB) InitSigningKeys(ctx context.Context, current, next gatehouse.SigningKey) (bool, error) {
	if current.Algorithm != next.Algorithm {
		return false, gatehouse.Errorf(gatehouse.EINVALID, "current and next keys of different algorithms")
	}
	current.State, next.State = gatehouse.KeyCurrent, gatehouse.KeyNext
	stored := false
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $1 AND state = 'current')`, current.Algorithm).Scan(&exists); err != nil || exists {
			return err
		}
		if err := insertSigningKey(ctx, tx, current); err != nil {
			return err
		}
		if err := insertSigningKey(ctx, tx, next); err != nil {
			return err
		}
		stored = true
		return nil
	})
	err = classify(err)
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
		return false, nil // another instance initialised first
	}
	if err != nil {
		return false, fmt.Errorf("postgres: init signing keys: %w", err)
	}
	return stored, nil
}

// RotateSigningKeys implements gatehouse.SigningKeyStore. The current
// key's row is locked first: a concurrent rotation waits for it, then
// finds it no longer current and changes nothing.
func (db *DB) RotateSigningKeys(ctx context.Context, r gatehouse.KeyRotation) (bool, error) {
	r.NewNext.State = gatehouse.KeyNext
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var alg string
		err := tx.QueryRow(ctx, `SELECT alg FROM signing_keys WHERE kid = $1 AND state = 'current' FOR UPDATE`, r.Current).Scan(&alg)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotRotated
		}
		if err != nil {
			return err
		}
		if r.NewNext.Algorithm != alg {
			return gatehouse.Errorf(gatehouse.EINVALID, "the new next key is not of the current key's algorithm")
		}
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET state = 'retired', retired_at = $1, retire_until = $2 WHERE kid = $3`,
			r.Now, r.RetireUntil, r.Current); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE signing_keys SET state = 'current', activated_at = $1 WHERE kid = $2 AND state = 'next' AND alg = $3`,
			r.Now, r.Next, alg)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errNotRotated
		}
		return insertSigningKey(ctx, tx, r.NewNext)
	})
	if errors.Is(err, errNotRotated) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: rotate signing keys: %w", classify(err))
	}
	return true, nil
}

// PurgeSigningKeys implements gatehouse.SigningKeyStore.
func (db *DB) PurgeSigningKeys(ctx context.Context, now time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM signing_keys WHERE state = 'retired' AND retire_until < $1`, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge signing keys: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}

// ResealSigningKey implements gatehouse.SigningKeyStore.
func (db *DB) ResealSigningKey(ctx context.Context, kid, old, sealed string) (bool, error) {
	var found, done bool
	err := db.pool.QueryRow(ctx, `WITH u AS (UPDATE signing_keys SET private_key = $3 WHERE kid = $1 AND private_key = $2 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM signing_keys WHERE kid = $1), EXISTS (SELECT 1 FROM u)`, kid, old, sealed).Scan(&found, &done)
	if err != nil {
		return false, fmt.Errorf("postgres: reseal signing key: %w", classify(err))
	}
	if !found {
		return false, fmt.Errorf("postgres: reseal signing key: %w", gatehouse.Errorf(gatehouse.ENOTFOUND, "Signing key not found"))
	}
	return done, nil
}
