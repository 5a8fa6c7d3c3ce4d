package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

// storeFlags are the settings every command that opens the database takes.
type storeFlags struct {
	databaseURL, secretKey, minLength, accessTTL, refreshTTL *string
}

func addStoreFlags(s *settings) *storeFlags {
	return &storeFlags{
		databaseURL: s.add("database-url", "GATEHOUSE_DATABASE_URL", "sqlite:gatehouse.db", "sqlite:PATH (embedded) or postgres://…"),
		secretKey:   s.add("secret-key", "GATEHOUSE_SECRET_KEY", "", "HS256 signing key, ≥ 32 bytes; empty: generated once and kept in the database"),
		minLength:   s.add("password-min-length", "GATEHOUSE_PASSWORD_MIN_LENGTH", "8", "shortest password accepted (characters)"),
		accessTTL:   s.add("access-token-ttl", "GATEHOUSE_ACCESS_TOKEN_TTL", "15m", "access token lifetime"),
		refreshTTL:  s.add("refresh-token-ttl", "GATEHOUSE_REFRESH_TOKEN_TTL", "168h", "refresh token lifetime"),
	}
}

// app is what the commands share: the open store and the auth service.
type app struct {
	store gatehouse.Store
	auth  *auth.Service
	pool  *password.Pool
}

func (a *app) Close() {
	a.pool.Close()
	a.store.Close()
}

// validated settings, before anything is opened.
type storeConfig struct {
	db                    databaseURL
	secret                []byte
	minLength             int
	accessTTL, refreshTTL time.Duration
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
	if c.accessTTL, err = parseDuration("GATEHOUSE_ACCESS_TOKEN_TTL", *f.accessTTL); err != nil {
		return c, err
	}
	if c.refreshTTL, err = parseDuration("GATEHOUSE_REFRESH_TOKEN_TTL", *f.refreshTTL); err != nil {
		return c, err
	}
	return c, nil
}

// openApp opens and migrates the store, makes sure a signing key exists and
// builds the auth service. A database that cannot be opened is a
// configuration error (exit status 2).
func openApp(ctx context.Context, c storeConfig, log *slog.Logger) (*app, error) {
	var store gatehouse.Store
	switch c.db.driver {
	case "sqlite":
		db, err := sqlite.Open(ctx, c.db.dsn)
		if err != nil {
			return nil, bad("GATEHOUSE_DATABASE_URL", "%v", err)
		}
		store = db
	default:
		return nil, bad("GATEHOUSE_DATABASE_URL", "postgres is not available in this build yet")
	}
	secret, err := signingSecret(ctx, store, c.secret)
	if err != nil {
		store.Close()
		return nil, err
	}
	tokens, err := token.NewManager(token.Config{
		Keys:     []token.Key{{ID: keyID(secret), Secret: secret}},
		Issuer:   "gatehouse",
		Audience: "gatehouse",
		Leeway:   auth.Leeway,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("token manager: %w", err)
	}
	policy := password.DefaultPolicy()
	policy.MinLength = c.minLength
	pool := password.NewPool(runtime.GOMAXPROCS(0), 64)
	svc, err := auth.New(auth.Config{
		Store: store, Tokens: tokens, Hasher: password.NewHasher(password.DefaultParams()), Pool: pool,
		Policy: policy, AccessTTL: c.accessTTL, RefreshTTL: c.refreshTTL, Logger: log,
	})
	if err != nil {
		pool.Close()
		store.Close()
		return nil, err
	}
	return &app{store: store, auth: svc, pool: pool}, nil
}

const secretSetting = "jwt_signing_key"

// signingSecret returns the configured secret, or the one kept in the
// database, generating it (from crypto/rand, 48 bytes) on first use. There
// is no built-in secret.
func signingSecret(ctx context.Context, store gatehouse.SettingStore, configured []byte) ([]byte, error) {
	if configured != nil {
		return configured, nil
	}
	b := make([]byte, 48)
	rand.Read(b)
	v, err := store.SetSettingIfAbsent(ctx, secretSetting, base64.RawStdEncoding.EncodeToString(b))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	secret, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil || len(secret) < 32 {
		return nil, fmt.Errorf("signing key: stored value is corrupt")
	}
	return secret, nil
}

// keyID names a key in the JWT header without revealing it: the first 8
// bytes of its SHA-256, enough to pick among rotated keys.
func keyID(secret []byte) string {
	sum := sha256.Sum256(secret)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}
