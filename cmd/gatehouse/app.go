package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/audit"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/metrics"
	"github.com/gatehouse/gatehouse/passkey"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

// storeFlags are the settings every command that opens the database takes.
type storeFlags struct {
	databaseURL, secretKey, minLength, accessTTL, refreshTTL *string
	encryptionKey, previousKeys, totpIssuer                  *string
	previousSecrets, encryptionKeyFile                       *string
	sessionTTL, hashWorkers, userCacheSize                   *string
}

func addStoreFlags(s *settings) *storeFlags {
	return &storeFlags{
		databaseURL: s.add("database-url", "GATEHOUSE_DATABASE_URL", "sqlite:gatehouse.db", "sqlite:PATH (embedded) or postgres://…"),
		secretKey:   s.add("secret-key", "GATEHOUSE_SECRET_KEY", "", "HS256 signing key, ≥ 32 bytes; empty: generated once and kept in the database"),
		minLength:   s.add("password-min-length", "GATEHOUSE_PASSWORD_MIN_LENGTH", "8", "shortest password accepted (characters)"),
		accessTTL:   s.add("access-token-ttl", "GATEHOUSE_ACCESS_TOKEN_TTL", "15m", "access token lifetime"),
		refreshTTL:  s.add("refresh-token-ttl", "GATEHOUSE_REFRESH_TOKEN_TTL", "168h", "refresh token lifetime"),
		previousSecrets: s.add("previous-secret-keys", "GATEHOUSE_PREVIOUS_SECRET_KEYS", "",
			"comma-separated earlier signing keys: tokens they signed still verify until they expire (key rotation)"),
		encryptionKey: s.add("encryption-key", "GATEHOUSE_ENCRYPTION_KEY", "",
			"key (≥ 32 bytes) that encrypts TOTP secrets at rest; empty: the key in GATEHOUSE_ENCRYPTION_KEY_FILE, made on first use"),
		encryptionKeyFile: s.add("encryption-key-file", "GATEHOUSE_ENCRYPTION_KEY_FILE", "",
			"file holding the encryption key when GATEHOUSE_ENCRYPTION_KEY is empty, created (mode 0600) if missing; empty: "+
				keyFileName+" beside the SQLite database, or in the working directory on PostgreSQL (every instance needs the same key)"),
		previousKeys: s.add("previous-encryption-keys", "GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS", "",
			"comma-separated earlier encryption keys, still accepted for decryption while rotating (then run gatehouse reseal)"),
		totpIssuer: s.add("totp-issuer", "GATEHOUSE_TOTP_ISSUER", "Gatehouse", "issuer shown in authenticator apps"),
		sessionTTL: s.add("session-ttl", "GATEHOUSE_SESSION_TTL", "12h", "browser session lifetime, from the login (absolute)"),
		hashWorkers: s.add("hash-workers", "GATEHOUSE_HASH_WORKERS", "0",
			"password hashes computed at once (each takes a core and 19 MiB); 0: one fewer than the cores (at least 1), so a login flood leaves a core to token verification"),
		userCacheSize: s.add("user-cache-size", "GATEHOUSE_USER_CACHE_SIZE", strconv.Itoa(defaultUserCacheSize),
			"users kept in memory for verification (about 420 bytes each); more active users than this read the database"),
	}
}

// app is what the commands share: the open store and the auth service.
type app struct {
	store   gatehouse.Store
	sealing *sealing
	auth    *auth.Service
	pool    *password.Pool
	workers *password.ProcessHasher // nil: hashing in process
	audit   *audit.Recorder
	metrics *metrics.Metrics
	keys    *keys.Manager  // signing keys; nil for a command without a sealer
	tokens  *token.Manager // access tokens
}

// Close flushes the audit log, then stops the pool and closes the store.
func (a *app) Close() {
	a.audit.Close()
	a.pool.Close()
	if a.workers != nil {
		a.workers.Close()
	}
	a.store.Close()
}

// defaultUserCacheSize is GATEHOUSE_USER_CACHE_SIZE's default, chosen by
// measurement (README, Performance: scripts/scale.sh): 250,000 users hold
// tokens of 200,000 distinct users among a million at the 1,000-user
// figure, in at most about 100 MiB.
const defaultUserCacheSize = auth.DefaultUserCacheSize

// defaultHashWorkers is GATEHOUSE_HASH_WORKERS's default for procs cores:
// one fewer than the cores, at least one. Measured (README, Performance:
// scripts/loginflood.sh): on 2 cores, hashing on both lets a login flood
// take every core and verification's p99 grows 8×; on one, verification
// keeps a core.
func defaultHashWorkers(procs int) int { return max(1, procs-1) }

// hashWorkerCommand is the hidden command a hash worker process runs.
const hashWorkerCommand = "hash-worker"

// hashWorkerCmd is the command of one hash worker process: the binary exe
// with nothing of the server's environment (its secrets) but GOMAXPROCS.
func hashWorkerCmd(exe string) *exec.Cmd {
	c := exec.Command(exe, hashWorkerCommand)
	c.Env = []string{"GOMAXPROCS=1"}
	c.Stderr = os.Stderr
	return c
}

// validated settings, before anything is opened.
type storeConfig struct {
	db                    databaseURL
	secret                []byte
	minLength             int
	accessTTL, refreshTTL time.Duration
	sessionTTL            time.Duration
	hashWorkers           int // password hashes at once
	hashNice              int // serve: >0 hashes in worker processes of that OS priority
	userCacheSize         int // users cached for verification
	previousSecrets       [][]byte
	encryptionKey         []byte
	previousKeys          [][]byte
	keyFile               string      // where the key is kept when encryptionKey is nil
	sealing               sealingMode // how the command treats the database's record of the key
	totpIssuer            string
	signing               signingConfig // signing.go
	passkeys              *passkey.RP   // serve only (browser.go); nil: unavailable
}

// open parses the store settings and opens the app on them, for a command
// that is not serve (its log goes to stderr at warn level).
func (f *storeFlags) open(ctx context.Context, stderr io.Writer) (*app, error) {
	return f.openAs(ctx, stderr, sealNone)
}

// openAs is open for a command that treats the sealing key as mode says.
func (f *storeFlags) openAs(ctx context.Context, stderr io.Writer, mode sealingMode) (*app, error) {
	c, err := f.parse()
	if err != nil {
		return nil, err
	}
	c.sealing = mode
	return openApp(ctx, c, newLogger(stderr, "warn"), cluster{})
}

func (f *storeFlags) parse() (storeConfig, error) {
	var c storeConfig
	var err error
	if c.db, err = parseDatabaseURL(*f.databaseURL); err != nil {
		return c, err
	}
	if *f.secretKey != "" {
		if len(*f.secretKey) < 32 {
			return c, bad("GATEHOUSE_SECRET_KEY", "must be at least 32 bytes (got %d)", len(*f.secretKey))
		}
		c.secret = []byte(*f.secretKey)
	}
	if c.minLength, err = strconv.Atoi(*f.minLength); err != nil || c.minLength < 1 || c.minLength > 1024 {
		return c, bad("GATEHOUSE_PASSWORD_MIN_LENGTH", "%q is not a number from 1 to 1024", *f.minLength)
	}
	if c.hashWorkers, err = strconv.Atoi(*f.hashWorkers); err != nil || c.hashWorkers < 0 || c.hashWorkers > 256 {
		return c, bad("GATEHOUSE_HASH_WORKERS", "%q is not a number from 0 to 256", *f.hashWorkers)
	}
	if c.hashWorkers == 0 {
		c.hashWorkers = defaultHashWorkers(runtime.GOMAXPROCS(0))
	}
	if c.userCacheSize, err = strconv.Atoi(*f.userCacheSize); err != nil || c.userCacheSize < 1 || c.userCacheSize > 100_000_000 {
		return c, bad("GATEHOUSE_USER_CACHE_SIZE", "%q is not a number from 1 to 100000000", *f.userCacheSize)
	}
	if c.accessTTL, err = parseDuration("GATEHOUSE_ACCESS_TOKEN_TTL", *f.accessTTL); err != nil {
		return c, err
	}
	if c.refreshTTL, err = parseDuration("GATEHOUSE_REFRESH_TOKEN_TTL", *f.refreshTTL); err != nil {
		return c, err
	}
	if c.sessionTTL, err = parseDuration("GATEHOUSE_SESSION_TTL", *f.sessionTTL); err != nil {
		return c, err
	}
	for _, k := range splitList(*f.previousSecrets) {
		if len(k) < 32 {
			return c, bad("GATEHOUSE_PREVIOUS_SECRET_KEYS", "every key must be at least 32 bytes")
		}
		c.previousSecrets = append(c.previousSecrets, []byte(k))
	}
	if *f.encryptionKey != "" {
		if len(*f.encryptionKey) < 32 {
			return c, bad("GATEHOUSE_ENCRYPTION_KEY", "must be at least 32 bytes (got %d)", len(*f.encryptionKey))
		}
		c.encryptionKey = []byte(*f.encryptionKey)
	}
	if c.keyFile = *f.encryptionKeyFile; c.keyFile == "" {
		c.keyFile = defaultKeyFile(c.db)
	}
	for _, k := range splitList(*f.previousKeys) {
		if len(k) < 32 {
			return c, bad("GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS", "every key must be at least 32 bytes")
		}
		c.previousKeys = append(c.previousKeys, []byte(k))
	}
	c.totpIssuer = *f.totpIssuer
	if c.totpIssuer == "" || strings.ContainsAny(c.totpIssuer, ":") {
		return c, bad("GATEHOUSE_TOTP_ISSUER", "must be non-empty and contain no colon")
	}
	return c, nil
}

// cluster is what an instance shares with the others through Redis; its
// zero value, for a single instance or a CLI command, keeps everything in
// memory.
type cluster struct {
	bcast auth.Broadcaster
	codes auth.CodeLimiter
}

// openApp opens and migrates the store, loads the signing keys (creating
// them on first use when the command signs) and builds the auth service.
// A database that cannot be opened is a configuration error (exit status
// 2).
func openApp(ctx context.Context, c storeConfig, log *slog.Logger, cl cluster) (*app, error) {
	var store gatehouse.Store
	switch c.db.driver {
	case "sqlite":
		db, err := sqlite.Open(ctx, c.db.dsn)
		if err != nil {
			return nil, bad("GATEHOUSE_DATABASE_URL", "%v", err)
		}
		store = db
	case "postgres":
		db, err := postgres.Open(ctx, c.db.dsn)
		if err != nil {
			return nil, bad("GATEHOUSE_DATABASE_URL", "%v", err)
		}
		store = db
	}
	pepper, err := storedSecret(ctx, store, pepperSetting)
	if err != nil {
		store.Close()
		return nil, err
	}
	seal, err := setupSealing(ctx, store, c)
	if err != nil {
		store.Close()
		return nil, err
	}
	tokens, km, err := openTokens(ctx, store, c, seal, log) // signing.go
	if err != nil {
		store.Close()
		return nil, err
	}
	policy := password.DefaultPolicy()
	policy.MinLength = c.minLength
	var hasher auth.Hasher = password.NewHasher(password.DefaultParams())
	var workers *password.ProcessHasher
	if c.hashNice > 0 {
		exe, err := os.Executable()
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("hash workers: %w", err)
		}
		cmd := func() *exec.Cmd { return hashWorkerCmd(exe) }
		if workers, err = password.NewProcessHasher(cmd, c.hashWorkers, c.hashNice); err != nil {
			store.Close()
			return nil, bad("GATEHOUSE_HASH_NICE", "%v", err)
		}
		hasher = workers
	}
	pool := password.NewPool(c.hashWorkers, 64)
	met := metrics.New(pool.QueueDepth)
	pool.OnWait = met.HashWait
	rec := audit.New(store, log, nil)
	svc, err := auth.New(auth.Config{
		Store: store, Tokens: tokens, Hasher: hasher, Pool: pool,
		Policy: policy, AccessTTL: c.accessTTL, RefreshTTL: c.refreshTTL, SessionTTL: c.sessionTTL, Logger: log,
		Auditor: rec, Metrics: met, KeyPepper: pepper, Sealer: seal.sealer, TOTPIssuer: c.totpIssuer, UsernameKey: seal.usernameKey,
		Broadcaster: cl.bcast, CodeLimiter: cl.codes, Passkeys: c.passkeys, UserCacheSize: c.userCacheSize,
	})
	if err != nil {
		rec.Close()
		pool.Close()
		if workers != nil {
			workers.Close()
		}
		store.Close()
		return nil, err
	}
	return &app{store: store, sealing: seal, auth: svc, pool: pool, workers: workers, audit: rec, metrics: met, keys: km, tokens: tokens}, nil
}

const (
	secretSetting = "jwt_signing_key"
	pepperSetting = "api_key_pepper"
)

// storedSecret returns the random secret kept under name, generating it
// (48 bytes from crypto/rand) on first use; of two instances starting at
// once, both get the same one.
func storedSecret(ctx context.Context, store gatehouse.SettingStore, name string) ([]byte, error) {
	b := make([]byte, 48)
	rand.Read(b)
	v, err := store.SetSettingIfAbsent(ctx, name, base64.RawStdEncoding.EncodeToString(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	secret, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil || len(secret) < 32 {
		return nil, fmt.Errorf("%s: stored value is corrupt", name)
	}
	return secret, nil
}
