package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
)

const userColumns = `id, username, email, full_name, password_hash, role, permissions, disabled, totp_enabled, created_at, updated_at`

func scanUser(row pgx.CollectableRow) (*gatehouse.User, error) {
	var u gatehouse.User
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.FullName, &u.PasswordHash, &u.Role, &u.Permissions,
		&u.Disabled, &u.TOTPEnabled, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// permissions stores a nil list as an empty array: the column is NOT NULL.
func permissions(p []string) []string {
	if p == nil {
		return []string{}
	}
	return p
}

// CreateUser implements gatehouse.UserStore.
func (db *DB) CreateUser(ctx context.Context, u *gatehouse.User) error {
	now := db.now().UTC().Truncate(time.Microsecond)
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.UpdatedAt = now
	err := db.pool.QueryRow(ctx, `INSERT INTO users (username, username_key, email, full_name, password_hash, role, permissions, disabled, totp_enabled, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		u.Username, gatehouse.UsernameKey(u.Username), u.Email, u.FullName, u.PasswordHash, u.Role,
		permissions(u.Permissions), u.Disabled, u.TOTPEnabled, u.CreatedAt, u.UpdatedAt).Scan(&u.ID)
	err = classify(err)
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
		return &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "Username already registered", Err: err}
	}
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	return nil
}

// UserByID implements gatehouse.UserStore.
func (db *DB) UserByID(ctx context.Context, id int64) (*gatehouse.User, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("postgres: user by id: %w", notFound(classify(err), "User"))
	}
	return u, nil
}

// UserByUsername implements gatehouse.UserStore.
func (db *DB) UserByUsername(ctx context.Context, name string) (*gatehouse.User, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE username_key = $1`, gatehouse.UsernameKey(name))
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("postgres: user by username: %w", notFound(classify(err), "User"))
	}
	return u, nil
}

// ListUsers implements gatehouse.UserStore.
func (db *DB) ListUsers(ctx context.Context, after int64, limit int) ([]*gatehouse.User, error) {
	rows, _ := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	users, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", classify(err))
	}
	return users, nil
}

// CountUsers implements gatehouse.UserStore.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", classify(err))
	}
	return n, nil
}

// otherAdminsQuery tells whether an enabled admin other than the given
// user exists; the partial index users_enabled_admins serves it.
const otherAdminsQuery = `SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled AND id <> $1)`

// keepAnAdmin refuses, with gatehouse.ErrLastAdmin, to let the enabled
// admin id stop being one (demoted, disabled or deleted) unless another
// enabled admin remains. It counts under a lock: counting alone would let
// two concurrent removals of the last two admins each see the other and
// both succeed; the advisory lock, held to commit, makes the second wait,
// and its count (a new snapshot under READ COMMITTED) then sees the
// first's change.
func keepAnAdmin(ctx context.Context, tx pgx.Tx, id int64) error {
	if err := advisoryLock(ctx, tx, lockAdmins); err != nil {
		return err
	}
	var others bool
	if err := tx.QueryRow(ctx, otherAdminsQuery, id).Scan(&others); err != nil {
		return err
	}
	if !others {
		return gatehouse.ErrLastAdmin
	}
	return nil
}

// UpdateUser implements gatehouse.UserStore.
func (db *DB) UpdateUser(ctx context.Context, id int64, e gatehouse.UserEdit) (*gatehouse.User, []gatehouse.Revocation, error) {
	var (
		out   *gatehouse.User
		ended []gatehouse.Revocation
	)
	err := db.tx(ctx, func(tx pgx.Tx) error {
		// NO KEY UPDATE: the id does not change, so rows referencing the
		// user may still be inserted meanwhile.
		rows, _ := tx.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR NO KEY UPDATE`, id)
		u, err := pgx.CollectExactlyOneRow(rows, scanUser)
		if err != nil {
			return notFound(err, "User")
		}
		was := *u
		if e.Apply != nil {
			if err := e.Apply(u); err != nil {
				return err
			}
		}
		if was.EnabledAdmin() && !u.EnabledAdmin() {
			if err := keepAnAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		u.ID = id
		u.UpdatedAt = db.now().UTC().Truncate(time.Microsecond)
		_, err = tx.Exec(ctx, `UPDATE users SET email = $1, full_name = $2, password_hash = $3, role = $4, permissions = $5,
			disabled = $6, totp_enabled = $7, updated_at = $8 WHERE id = $9`,
			u.Email, u.FullName, u.PasswordHash, u.Role, permissions(u.Permissions), u.Disabled, u.TOTPEnabled, u.UpdatedAt, id)
		if err != nil {
			return err
		}
		if was.TOTPEnabled && !u.TOTPEnabled {
			if err := removeTwoFactor(ctx, tx, id); err != nil {
				return err
			}
		}
		var changes []gatehouse.Change
		if e.EndSessions != nil {
			if ended, changes, err = endSessions(ctx, tx, id, *e.EndSessions); err != nil {
				return err
			}
		}
		out = u
		return db.recordChanges(ctx, tx, append(changes, gatehouse.Change{UserID: id})...)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: update user: %w", classify(err))
	}
	return out, ended, nil
}

// DeleteUser implements gatehouse.UserStore.
func (db *DB) DeleteUser(ctx context.Context, id int64) error {
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var u gatehouse.User
		if err := tx.QueryRow(ctx, `SELECT role, disabled FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&u.Role, &u.Disabled); err != nil {
			return notFound(err, "User")
		}
		if u.EnabledAdmin() {
			if err := keepAnAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		// Sessions, refresh tokens, API keys, items and two-factor state
		// go with the user (ON DELETE CASCADE).
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id); err != nil {
			return err
		}
		return db.recordChanges(ctx, tx, gatehouse.Change{UserID: id})
	})
	if err != nil {
		return fmt.Errorf("postgres: delete user: %w", classify(err))
	}
	return nil
}
