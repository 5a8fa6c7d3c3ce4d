package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

const userColumns = `id, username, email, full_name, password_hash, role, permissions, disabled, totp_enabled, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

// queryAll runs a query on the read pool and scans every row with scan,
// as pgx.CollectRows does in package postgres; what names the read in
// its errors, which are classified.
func queryAll[T any](ctx context.Context, db *DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, db.classify(err))
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, db.classify(err))
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, db.classify(err))
	}
	return out, nil
}

func scanUser(s scanner) (*gatehouse.User, error) {
	var (
		u                    gatehouse.User
		role, perms          string
		created, updated     int64
		disabled, totpEnable bool
	)
	if err := s.Scan(&u.ID, &u.Username, &u.Email, &u.FullName, &u.PasswordHash, &role, &perms,
		&disabled, &totpEnable, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(perms), &u.Permissions); err != nil {
		return nil, fmt.Errorf("decode permissions of user %d: %w", u.ID, err)
	}
	u.Role, u.Disabled, u.TOTPEnabled = gatehouse.Role(role), disabled, totpEnable
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &u, nil
}

func permissionsJSON(p []string) string {
	if p == nil {
		p = []string{}
	}
	b, _ := json.Marshal(p) // a []string always marshals
	return string(b)
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: what + " not found"}
	}
	return err
}

// CreateUser implements gatehouse.UserStore.
func (db *DB) CreateUser(ctx context.Context, u *gatehouse.User) error {
	now := db.now().UTC().Truncate(time.Microsecond)
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.UpdatedAt = now
	err := db.tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO users (username, username_key, email, full_name, password_hash, role, permissions, disabled, totp_enabled, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.Username, gatehouse.UsernameKey(u.Username), u.Email, u.FullName, u.PasswordHash, string(u.Role),
			permissionsJSON(u.Permissions), u.Disabled, u.TOTPEnabled, micros(u.CreatedAt), micros(u.UpdatedAt)).Scan(&u.ID)
	})
	if gatehouse.ErrorCode(err) == gatehouse.ECONFLICT {
		return &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "Username already registered", Err: err}
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	return nil
}

// UserByID implements gatehouse.UserStore.
func (db *DB) UserByID(ctx context.Context, id int64) (*gatehouse.User, error) {
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("sqlite: user by id: %w", notFound(db.classify(err), "User"))
	}
	return u, nil
}

// UserByUsername implements gatehouse.UserStore.
func (db *DB) UserByUsername(ctx context.Context, name string) (*gatehouse.User, error) {
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE username_key = ?`, gatehouse.UsernameKey(name)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: user by username: %w", notFound(db.classify(err), "User"))
	}
	return u, nil
}

// ListUsers implements gatehouse.UserStore.
func (db *DB) ListUsers(ctx context.Context, after int64, limit int) ([]*gatehouse.User, error) {
	return queryAll(ctx, db, "list users", scanUser, `SELECT `+userColumns+` FROM users WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
}

// CountUsers implements gatehouse.UserStore.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count users: %w", db.classify(err))
	}
	return n, nil
}

// otherAdminsQuery tells whether an enabled admin other than the given
// user exists. Its WHERE repeats the partial index users_enabled_admins
// term for term, as SQLite requires of a partial index it is to use.
const otherAdminsQuery = `SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled AND id <> ?)`

// keepAnAdmin refuses, with gatehouse.ErrLastAdmin, to let the enabled
// admin id stop being one (demoted, disabled or deleted) unless another
// enabled admin remains. It counts under the write lock: every write
// transaction holds SQLite's one write lock from its BEGIN IMMEDIATE to
// its end, so two concurrent removals of the last two admins run one
// after the other, and the second sees the first's change.
func keepAnAdmin(ctx context.Context, tx *sql.Tx, id int64) error {
	var others bool
	if err := tx.QueryRowContext(ctx, otherAdminsQuery, id).Scan(&others); err != nil {
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
	err := db.tx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
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
		_, err = tx.ExecContext(ctx, `UPDATE users SET email = ?, full_name = ?, password_hash = ?, role = ?, permissions = ?,
			disabled = ?, totp_enabled = ?, updated_at = ? WHERE id = ?`,
			u.Email, u.FullName, u.PasswordHash, string(u.Role), permissionsJSON(u.Permissions), u.Disabled, u.TOTPEnabled,
			micros(u.UpdatedAt), id)
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
		return nil, nil, fmt.Errorf("sqlite: update user: %w", db.classify(err))
	}
	return out, ended, nil
}

// DeleteUser implements gatehouse.UserStore.
func (db *DB) DeleteUser(ctx context.Context, id int64) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var u gatehouse.User
		if err := tx.QueryRowContext(ctx, `SELECT role, disabled FROM users WHERE id = ?`, id).Scan(&u.Role, &u.Disabled); err != nil {
			return notFound(err, "User")
		}
		if u.EnabledAdmin() {
			if err := keepAnAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		// Sessions, refresh tokens, API keys, items and two-factor state
		// go with the user (ON DELETE CASCADE).
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return err
		}
		return db.recordChanges(ctx, tx, gatehouse.Change{UserID: id})
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete user: %w", db.classify(err))
	}
	return nil
}
