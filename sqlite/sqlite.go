// Package sqlite is Gatehouse's embedded store: the gatehouse store
// contracts on SQLite through the pure-Go modernc.org/sqlite driver, so the
// server is one static binary with no setup.
//
// SQLite allows one writer at a time. The store keeps two pools: one
// connection for writes, whose transactions start with BEGIN IMMEDIATE so
// they queue on the busy timeout instead of failing on a lock upgrade, and
// several for reads, which WAL mode lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open SQLite database. It implements gatehouse.Store.
type DB struct {
	read   *sql.DB
	write  *sql.DB
	now    func() time.Time
	closed atomic.Bool // set by Close: every later call is unavailable
}

// An Option changes how Open opens the database.
type Option func(*DB)

// WithNow makes the store read the time it records itself (creation and
// update times, the change feed's times, when a migration was applied)
// from now instead of time.Now.
func WithNow(now func() time.Time) Option { return func(db *DB) { db.now = now } }

var _ gatehouse.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path and applies any
// pending migrations. ":memory:" is refused: two pools would see two
// databases; tests use a file in t.TempDir().
//
// The file holds secrets (the JWT signing key and the API-key pepper live
// in the settings table when none is configured), so Open creates it with
// mode 0600 rather than leaving that to the driver and the umask, and
// tightens an existing database file, or a -wal or -shm file left beside
// it, whose mode grants any access to group or others to 0600. SQLite
// gives the -wal and -shm files it creates the main file's mode.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		return nil, errors.New("sqlite: a file path is required")
	}
	if err := restrictFile(path); err != nil {
		return nil, err
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)") // WAL + NORMAL: durable across process crashes; see README
		if txlock != "" {
			q.Set("_txlock", txlock)
		}
		return "file:" + path + "?" + q.Encode()
	}
	write, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	db := &DB{read: read, write: write, now: time.Now}
	for _, o := range opts {
		o(db)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// restrictFile creates the database file at path with mode 0600 if it is
// missing, and sets it and any -wal or -shm companion to 0600 if group or
// others have any access, so that the secrets in it are the owner's alone.
func restrictFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	defer f.Close()
	// Through the open descriptor, not the name: it is this file that gets
	// the mode even if the name is replaced meanwhile.
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sqlite: stat %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("sqlite: restrict permissions of %s: %w", path, err)
		}
	}
	for _, companion := range []string{path + "-wal", path + "-shm"} {
		fi, err := os.Stat(companion)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: stat %s: %w", companion, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(companion, 0o600); err != nil {
				return fmt.Errorf("sqlite: restrict permissions of %s: %w", companion, err)
			}
		}
	}
	return f.Close()
}

// Close closes both pools.
func (db *DB) Close() error {
	db.closed.Store(true)
	return errors.Join(db.read.Close(), db.write.Close())
}

// Ping reports whether the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", db.classify(err))
	}
	return nil
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction, in file-name order.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.applyMigration(ctx, name); err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", name, err)
		}
	}
	return nil
}

// renamedMigrations maps the file name of a migration to the name an
// earlier version of Gatehouse recorded it under. Such a migration counts
// as applied under either name and is recorded under both, so that a
// database migrated before the rename is not migrated again, and one
// migrated after it still opens with the earlier version.
var renamedMigrations = map[string]string{
	"migrations/002_apikeys_items_totp_nonces_audit.sql": "migrations/002_features.sql",
}

func (db *DB) applyMigration(ctx context.Context, name string) error {
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	names := []string{name}
	if old, ok := renamedMigrations[name]; ok {
		names = append(names, old)
	}
	const applied = `SELECT count(*) FROM schema_migrations WHERE version IN (?, ?)`
	run := db.tx
	if strings.HasPrefix(string(body), foreignKeysOff) {
		// Only while it is still to apply: the check that ends it reads
		// every table.
		var n int
		if err := db.write.QueryRowContext(ctx, applied, names[0], names[len(names)-1]).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			run = db.txForeignKeysOff
		}
	}
	return run(ctx, func(tx *sql.Tx) error {
		var n int // again, in the transaction: another process may have applied it meanwhile
		if err := tx.QueryRowContext(ctx, applied, names[0], names[len(names)-1]).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
		}
		now := micros(db.now())
		for _, v := range names {
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)
				ON CONFLICT (version) DO NOTHING`, v, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// foreignKeysOff, as a migration's first line, has it run with foreign
// key enforcement off, as SQLite's way of rebuilding a table requires
// (https://sqlite.org/lang_altertable.html#otheralter): dropping the old
// table must not cascade to the rows that reference it.
const foreignKeysOff = "-- sqlite: foreign_keys off\n"

// txForeignKeysOff runs fn as tx does, with foreign key enforcement off on
// the write connection (a pragma that has no effect inside a transaction,
// so it is set before), and commits only if PRAGMA foreign_key_check then
// finds no violation. Enforcement is back on before the connection is
// returned to the pool.
func (db *DB) txForeignKeysOff(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return db.classify(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return db.classify(err)
	}
	defer func() {
		if _, onErr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`); onErr != nil {
			// A connection left without enforcement must not serve again.
			conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("turn foreign keys back on: %w", onErr))
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return db.classify(err)
	}
	err = fn(tx)
	if err == nil {
		err = checkForeignKeys(ctx, tx)
	}
	if err != nil {
		tx.Rollback()
		return db.classify(err)
	}
	return db.classify(tx.Commit())
}

// checkForeignKeys fails if any row violates a foreign key.
func checkForeignKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		return errors.New("foreign key violation after migration")
	}
	return rows.Err()
}

// tx runs fn in a write transaction, committing when fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return db.classify(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		// Classified here, once, like the commit's error: every caller then
		// sees a unique violation as ECONFLICT and a busy or failing disk
		// as EUNAVAILABLE, as from PostgreSQL.
		return db.classify(err)
	}
	return db.classify(tx.Commit())
}

// classify turns driver errors into gatehouse errors by SQLite result
// code, never by matching message text: a unique violation is a conflict;
// a busy, locked, full, failing, unopenable or read-only database is
// unavailable (503), as a PostgreSQL that cannot answer is. Every method
// passes its error through it, reads as well as writes, so the same
// failure gets the same answer whichever query met it. A store used after
// Close is unavailable too: database/sql does not export its error for a
// closed pool, so the store keeps that state itself.
func (db *DB) classify(err error) error {
	err = classifyCode(err)
	if err != nil && db.closed.Load() && gatehouse.ErrorCode(err) == gatehouse.EINTERNAL {
		return unavailable(err)
	}
	return err
}

func classifyCode(err error) error {
	var ge *gatehouse.Error
	if err == nil || errors.As(err, &ge) {
		return err // nil, or already carries a gatehouse code
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch code := se.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE, code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "Already exists", Err: err}
		case code&0xff == sqlite3.SQLITE_BUSY, code&0xff == sqlite3.SQLITE_LOCKED,
			code&0xff == sqlite3.SQLITE_FULL, code&0xff == sqlite3.SQLITE_IOERR,
			code&0xff == sqlite3.SQLITE_CANTOPEN, code&0xff == sqlite3.SQLITE_READONLY:
			// Primary code in the low byte: every extended variant.
			return unavailable(err)
		}
	}
	if errors.Is(err, sql.ErrConnDone) {
		return unavailable(err)
	}
	return err
}

func unavailable(err error) error {
	return &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Database unavailable, try again", Err: err}
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}
