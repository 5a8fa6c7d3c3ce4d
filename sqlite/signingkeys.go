package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.SigningKeyStore = (*DB)(nil)

// errNotRotated rolls back a rotation whose compare-and-set failed midway.
var errNotRotated = errors.New("sqlite: not rotated")

// SigningKeys implements gatehouse.SigningKeyStore.
func (db *DB) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT kid, alg, state, public_key, private_key, created_at, activated_at, retired_at, retire_until
		FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", db.classify(err))
	}
	defer rows.Close()
	var out []gatehouse.SigningKey
	for rows.Next() {
		var k gatehouse.SigningKey
		var created int64
		var activated, retired, until sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.State, &k.Public, &k.Sealed, &created, &activated, &retired, &until); err != nil {
			return nil, fmt.Errorf("sqlite: signing keys: %w", db.classify(err))
		}
		k.CreatedAt, k.ActivatedAt, k.RetiredAt, k.RetireUntil = fromMicros(created), fromNullMicros(activated), fromNullMicros(retired), fromNullMicros(until)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", db.classify(err))
	}
	return out, nil
}

func insertSigningKey(ctx context.Context, tx *sql.Tx, k gatehouse.SigningKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, alg, state, public_key, private_key, created_at, activated_at, retired_at, retire_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Algorithm, k.State, k.Public, k.Sealed, micros(k.CreatedAt),
		nullMicros(k.ActivatedAt), nullMicros(k.RetiredAt), nullMicros(k.RetireUntil))
	return err
}

// InitSigningKeys implements gatehouse.SigningKeyStore. Every write goes
// through the one writer connection, so nothing commits between the check
// and the inserts.
func (db *DB) InitSigningKeys(ctx context.Context, current, next gatehouse.SigningKey) (bool, error) {
	if current.Algorithm != next.Algorithm {
		return false, gatehouse.Errorf(gatehouse.EINVALID, "current and next keys of different algorithms")
	}
	current.State, next.State = gatehouse.KeyCurrent, gatehouse.KeyNext
	stored := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM signing_keys WHERE alg = ? AND state = 'current'`, current.Algorithm).Scan(&n); err != nil || n > 0 {
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
	if err != nil {
		return false, fmt.Errorf("sqlite: init signing keys: %w", err)
	}
	return stored, nil
}

// RotateSigningKeys implements gatehouse.SigningKeyStore. The current key
// is retired before the next one is promoted, so that the one-current
// index holds after each statement.
func (db *DB) RotateSigningKeys(ctx context.Context, r gatehouse.KeyRotation) (bool, error) {
	r.NewNext.State = gatehouse.KeyNext
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var alg string
		err := tx.QueryRowContext(ctx, `SELECT alg FROM signing_keys WHERE kid = ? AND state = 'current'`, r.Current).Scan(&alg)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotRotated
		}
		if err != nil {
			return err
		}
		if r.NewNext.Algorithm != alg {
			return gatehouse.Errorf(gatehouse.EINVALID, "the new next key is not of the current key's algorithm")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET state = 'retired', retired_at = ?, retire_until = ? WHERE kid = ?`,
			micros(r.Now), micros(r.RetireUntil), r.Current); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET state = 'current', activated_at = ? WHERE kid = ? AND state = 'next' AND alg = ?`,
			micros(r.Now), r.Next, alg)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(errNotRotated, err)
		}
		return insertSigningKey(ctx, tx, r.NewNext)
	})
	if errors.Is(err, errNotRotated) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: rotate signing keys: %w", err)
	}
	return true, nil
}

// PurgeSigningKeys implements gatehouse.SigningKeyStore.
func (db *DB) PurgeSigningKeys(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE state = 'retired' AND retire_until < ?`, micros(now))
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge signing keys: %w", err)
	}
	return n, nil
}

// ResealSigningKey implements gatehouse.SigningKeyStore.
func (db *DB) ResealSigningKey(ctx context.Context, kid, old, sealed string) (bool, error) {
	done := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET private_key = ? WHERE kid = ? AND private_key = ?`, sealed, kid, old)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 1 {
			done = n == 1
			return err
		}
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM signing_keys WHERE kid = ?`, kid).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return gatehouse.Errorf(gatehouse.ENOTFOUND, "Signing key not found")
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: reseal signing key: %w", err)
	}
	return done, nil
}
