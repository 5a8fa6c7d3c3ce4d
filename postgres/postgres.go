// Package postgres is Gatehouse's store for deployments that run more than
// one instance: the gatehouse store contracts on PostgreSQL through pgx.
//
// Races are settled by the database, not by the process: row locks and
// compare-and-set updates (refresh rotation, TOTP steps, recovery codes,
// nonces), and transaction-scoped advisory locks where a rule spans rows
// (the last enabled admin, the order of the change feed, migrations).
// Advisory locks are per database, so instances that share a database but
// not a schema only wait for each other; they never interfere.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open PostgreSQL connection pool. It implements gatehouse.Store.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// An Option changes how Open opens the database.
type Option func(*DB)

// WithNow makes the store read the time it records itself (creation and
// update times, the change feed's times, when a migration was applied)
// from now instead of time.Now.
func WithNow(now func() time.Time) Option { return func(db *DB) { db.now = now } }

var _ gatehouse.Store = (*DB)(nil)

// Open connects to the database at url (postgres://…, or key=value form)
// and applies any pending migrations. Pool and session settings given in
// url (pool_max_conns, connect_timeout, statement_timeout, …) win over the
// defaults set here; search_path=name keeps the tables in a schema other
// than public.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("postgres: the database URL does not parse")
	}
	if !strings.Contains(url, "pool_max_conns") {
		// A few connections per core keep the CPUs busy while others wait
		// on the network; the cap leaves room for other instances within
		// PostgreSQL's default max_connections of 100.
		cfg.MaxConns = int32(min(4*runtime.GOMAXPROCS(0), 32))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	params := cfg.ConnConfig.RuntimeParams
	for k, v := range map[string]string{
		"application_name": "gatehouse",
		// No request should run for long; a stuck one must not hold a
		// connection (and its locks) forever.
		"statement_timeout":                   "30s",
		"idle_in_transaction_session_timeout": "60s",
	} {
		if _, set := params[k]; !set {
			params[k] = v
		}
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		// Times come back in UTC, as the SQLite store returns them.
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", classify(err))
	}
	db := &DB{pool: pool, now: time.Now}
	for _, o := range opts {
		o(db)
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes every connection of the pool, waiting for those in use.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", classify(err))
	}
	return nil
}

// Advisory lock keys, for pg_advisory_xact_lock(int, int): the first names
// Gatehouse ("gate" in ASCII), the second what is locked.
const (
	lockSpace   = 0x67617465
	lockMigrate = 1 // applying migrations
	lockChanges = 2 // appending to the change feed
	lockAdmins  = 3 // removing an enabled admin
)

// advisoryLock takes a lock held until the transaction ends.
func advisoryLock(ctx context.Context, tx pgx.Tx, key int32) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockSpace, key)
	return err
}

// renamedMigrations maps the file name of a migration to the name an
// earlier version of Gatehouse recorded it under. Such a migration counts
// as applied under either name and is recorded under both, so that a
// database migrated before the rename is not migrated again, and one
// migrated after it still opens with the earlier version.
var renamedMigrations = map[string]string{
	"migrations/002_apikeys_items_totp_nonces_audit.sql": "migrations/002_features.sql",
}

// migrate applies the embedded migrations not yet recorded, in file-name
// order, in one transaction under an advisory lock: of two instances
// starting at once, the second waits for the first to commit and then
// finds nothing to do. PostgreSQL's DDL is transactional, so a failed
// migration leaves the schema as it was.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	slices.Sort(names)
	err = db.tx(ctx, func(tx pgx.Tx) error {
		// A migration of a large table, or the wait for another
		// instance's, may outlast the per-request statement_timeout; ctx
		// still bounds it.
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		if err := advisoryLock(ctx, tx, lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			recorded := []string{name}
			if old, ok := renamedMigrations[name]; ok {
				recorded = append(recorded, old)
			}
			if !slices.ContainsFunc(recorded, func(v string) bool { return slices.Contains(applied, v) }) {
				body, err := migrations.ReadFile(name)
				if err != nil {
					return err
				}
				// Without arguments Exec uses the simple protocol, which
				// runs a file of several statements.
				if _, err := tx.Exec(ctx, string(body)); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			for _, v := range recorded {
				if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)
					ON CONFLICT (version) DO NOTHING`, v, db.now()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", classify(err))
	}
	return nil
}

// tx runs fn in a transaction, committing when fn returns nil. The default
// isolation, READ COMMITTED, suffices: every read-then-write locks what it
// read (FOR UPDATE, an advisory lock) or is a single conditional statement.
func (db *DB) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, fn)
}

// classify turns driver errors into gatehouse errors by SQLSTATE (and by
// type for failures to connect), never by matching message text. An error
// that already carries a gatehouse code is returned as is.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ge *gatehouse.Error
	if errors.As(err, &ge) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch code := pe.Code; {
		case code == "23505": // unique_violation
			return &gatehouse.Error{Code: gatehouse.ECONFLICT, Message: "Already exists", Err: err}
		case strings.HasPrefix(code, "08"), // connection_exception
			strings.HasPrefix(code, "53"),                     // insufficient_resources: too many connections, disk full
			code == "57P01", code == "57P02", code == "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			code == "40001", code == "40P01": // serialization_failure, deadlock_detected: worth retrying
			return unavailable(err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	// A connection lost mid-query surfaces as an EOF rather than a
	// net.Error; pgconn marks errors raised before anything was sent. A
	// pool used after Close answers puddle's ErrClosedPool, which pgxpool
	// passes on as it is.
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, puddle.ErrClosedPool) || pgconn.SafeToRetry(err) {
		return unavailable(err)
	}
	return err
}

func unavailable(err error) error {
	return &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Database unavailable, try again", Err: err}
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: what + " not found"}
	}
	return err
}

// nullTime stores the zero time, which the domain uses for "not set", as
// NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
