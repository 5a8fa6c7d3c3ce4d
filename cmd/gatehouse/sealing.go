package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/totp"
)

// The sealing key encrypts TOTP secrets (and mfa_tokens) at rest. It never
// depends on the signing key (contract §10: rotating the signing key never
// makes a sealed secret unreadable): it is GATEHOUSE_ENCRYPTION_KEY when
// set, else the key kept in a file of its own — never in the database,
// since a copy of the database alone must yield no key or secret.
//
// The database records the id of the key its secrets are sealed under
// (an id reveals nothing about the key). serve refuses to start with a key
// that cannot open them — the usual cause is a second PostgreSQL instance
// that made a key file of its own — rather than answer 500 at every 2FA
// login later.

// Settings kept in the database.
const (
	// sealingKeySetting holds the id of the key the secrets are sealed under.
	sealingKeySetting = "sealing_key_id"
	// legacyRetiredSetting exists once no secret can be sealed under a key
	// derived from a signing key, as every secret was before the sealing
	// key stopped depending on it: a fresh database, or a reseal since.
	legacyRetiredSetting = "sealing_legacy_keys_retired"
)

// keyFileName is the default key file, beside the SQLite database (or, on
// PostgreSQL, in the working directory).
const keyFileName = "gatehouse.key"

// defaultKeyFile returns where the key file is kept when
// GATEHOUSE_ENCRYPTION_KEY_FILE is not set.
func defaultKeyFile(db databaseURL) string {
	if db.driver == "sqlite" {
		return filepath.Join(filepath.Dir(db.dsn), keyFileName)
	}
	return keyFileName
}

// sealingMode says how a command treats the database's record of the
// sealing key.
type sealingMode int

const (
	// sealNone: the command never seals or opens a secret (user, apikey,
	// audit, migrate). It touches no key: it makes no key file and
	// records nothing, so that running one from another machine or
	// directory cannot leave a stray key behind or decide the database's.
	sealNone sealingMode = iota
	// sealStrict: serve. The recorded key must be held; a new current key
	// that still holds the recorded one replaces it (a rotation).
	sealStrict
	// sealAdopt: reseal. As strict, except that a recorded key it does not
	// hold is replaced by its own once no secret is left under it.
	sealAdopt
)

// sealing is the sealing key an app holds and what the database records.
type sealing struct {
	sealer   *totp.Sealer // nil for a command that seals nothing (sealNone)
	source   string       // where the current key comes from, for messages
	recorded string       // the key id the database records, "" when none
	legacy   bool         // keys derived from signing keys are held, for secrets sealed before
	// usernameKey keys the audit's hash of usernames that name no user
	// (auth.Config.UsernameKey): derived from the encryption key, so that
	// it is kept out of the database as that key is, and every instance
	// holding the key hashes a name alike. nil for sealNone.
	usernameKey []byte
	// loginKey keys the hashes that name usernames and addresses in the
	// login limits' stores (httpapi.Config.LoginKey), derived likewise.
	loginKey []byte
}

// The HKDF info strings of the keys derived from the encryption key
// besides the sealer's.
const (
	usernameKeyInfo = "gatehouse audit usernames v1"
	loginKeyInfo    = "gatehouse login limits v1"
)

// totpKeyInfo is the HKDF info string of the TOTP-secret key. Changing it
// changes the key, and the stored secrets no longer open.
const totpKeyInfo = "gatehouse totp secrets v1"

// setupSealing builds the sealer and checks it against the database's
// record. Errors are configuration errors (exit status 2) naming
// GATEHOUSE_ENCRYPTION_KEY or GATEHOUSE_ENCRYPTION_KEY_FILE.
func setupSealing(ctx context.Context, store gatehouse.Store, c storeConfig) (*sealing, error) {
	s := &sealing{}
	if c.sealing == sealNone {
		return s, nil
	}
	var err error
	if s.recorded, err = optionalSetting(ctx, store, sealingKeySetting); err != nil {
		return nil, err
	}
	fileKey, err := readKeyFile(c.keyFile)
	if err != nil {
		return nil, bad("GATEHOUSE_ENCRYPTION_KEY_FILE", "%v", err)
	}
	var master []byte
	var old [][]byte // masters of keys that may have sealed what is stored
	switch {
	case c.encryptionKey != nil:
		master, s.source = c.encryptionKey, "GATEHOUSE_ENCRYPTION_KEY"
		if fileKey != nil { // moving off the key file: what it sealed still opens
			old = append(old, fileKey)
		}
	case fileKey != nil:
		master, s.source = fileKey, c.keyFile
	case s.recorded != "":
		// Another instance's key seals this database's secrets. A new key
		// here would split them between two keys: make none.
		return nil, bad("GATEHOUSE_ENCRYPTION_KEY", "this database's secrets are sealed under key %s, and this instance has no key: "+
			"set GATEHOUSE_ENCRYPTION_KEY as on the instance that sealed them, or copy its key file to %s (GATEHOUSE_ENCRYPTION_KEY_FILE)",
			s.recorded, c.keyFile)
	default:
		if master, err = createKeyFile(c.keyFile); err != nil {
			return nil, bad("GATEHOUSE_ENCRYPTION_KEY_FILE", "%v", err)
		}
		s.source = c.keyFile
	}
	old = append(old, c.previousKeys...)

	legacy, err := legacyMasters(ctx, store, c, s.recorded == "")
	if err != nil {
		return nil, err
	}
	s.legacy = len(legacy) > 0
	if s.sealer, err = buildSealer(master, old, legacy); err != nil {
		return nil, err
	}
	if s.usernameKey, err = totp.DeriveKey(master, usernameKeyInfo); err != nil {
		return nil, bad("GATEHOUSE_ENCRYPTION_KEY", "%v", err)
	}
	if s.loginKey, err = totp.DeriveKey(master, loginKeyInfo); err != nil {
		return nil, bad("GATEHOUSE_ENCRYPTION_KEY", "%v", err)
	}
	if err := s.record(ctx, store, c.sealing); err != nil {
		return nil, err
	}
	return s, nil
}

// legacyMasters returns the signing keys the sealing key was derived from
// before it stopped depending on them — the configured one, the previous
// ones and the generated one kept in the database — so that secrets sealed
// then still open until `gatehouse reseal` has moved them (it then retires
// these keys). first is true when the database records no sealing key yet;
// a database that also has no user is new, holds no such secret, and never
// needs them.
func legacyMasters(ctx context.Context, store gatehouse.Store, c storeConfig, first bool) ([][]byte, error) {
	retired, err := optionalSetting(ctx, store, legacyRetiredSetting)
	if err != nil || retired != "" {
		return nil, err
	}
	if first {
		users, err := store.ListUsers(ctx, 0, 1)
		if err != nil {
			return nil, fmt.Errorf("sealing: %w", err)
		}
		if len(users) == 0 {
			return nil, retireLegacy(ctx, store)
		}
	}
	var masters [][]byte
	if c.secret != nil {
		masters = append(masters, c.secret)
	}
	masters = append(masters, c.previousSecrets...)
	if v, err := optionalSetting(ctx, store, secretSetting); err != nil {
		return nil, err
	} else if v != "" {
		if b, err := base64.RawStdEncoding.DecodeString(v); err == nil {
			masters = append(masters, b)
		}
	}
	return masters, nil
}

// retireLegacy records that no secret is sealed under a key derived from a
// signing key.
func retireLegacy(ctx context.Context, store gatehouse.SettingStore) error {
	if _, err := store.SetSettingIfAbsent(ctx, legacyRetiredSetting, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("sealing: %w", err)
	}
	return nil
}

// buildSealer derives the sealer's keys (HKDF, totpKeyInfo) from the
// current master and the masters of older keys.
func buildSealer(master []byte, old, legacy [][]byte) (*totp.Sealer, error) {
	key, err := totp.DeriveKey(master, totpKeyInfo)
	if err != nil {
		return nil, bad("GATEHOUSE_ENCRYPTION_KEY", "%v", err)
	}
	var keys [][]byte
	for _, m := range old {
		k, err := totp.DeriveKey(m, totpKeyInfo)
		if err != nil {
			return nil, bad("GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS", "%v", err)
		}
		keys = append(keys, k)
	}
	for _, m := range legacy {
		if k, err := totp.DeriveKey(m, totpKeyInfo); err == nil { // signing keys are ≥ 32 bytes; a shorter one sealed nothing
			keys = append(keys, k)
		}
	}
	s, err := totp.NewSealer(key, keys...)
	if err != nil {
		return nil, bad("GATEHOUSE_ENCRYPTION_KEY", "%v", err)
	}
	return s, nil
}

// record checks the sealer against the database's record, records its key
// on a database that has none, and moves the record to it on a rotation.
func (s *sealing) record(ctx context.Context, store gatehouse.SettingStore, mode sealingMode) error {
	kid := s.sealer.KeyID()
	if s.recorded == "" {
		v, err := store.SetSettingIfAbsent(ctx, sealingKeySetting, kid)
		if err != nil {
			return fmt.Errorf("sealing: %w", err)
		}
		s.recorded = v // another instance's, if it recorded first
	}
	// A few rounds: instances rotating at once race on the record.
	for range 3 {
		switch {
		case s.recorded == kid:
			return nil
		case !s.sealer.HasKey(s.recorded):
			if mode == sealAdopt {
				return nil // reseal adopts its key once nothing is left under the recorded one
			}
			return s.foreignKey()
		}
		// A rotation: this instance seals under a new key and still holds
		// the recorded one. From now on the database's secrets are sealed
		// under the new key; an instance without it will be refused.
		ok, err := store.SwapSetting(ctx, sealingKeySetting, s.recorded, kid)
		if err != nil {
			return fmt.Errorf("sealing: %w", err)
		}
		if ok {
			s.recorded = kid
			return nil
		}
		if s.recorded, err = optionalSetting(ctx, store, sealingKeySetting); err != nil {
			return err
		}
	}
	return s.foreignKey()
}

func (s *sealing) foreignKey() error {
	return bad("GATEHOUSE_ENCRYPTION_KEY", "this database's secrets are sealed under key %s, which this instance does not hold "+
		"(it has key %s, from %s): give every instance the same key, in GATEHOUSE_ENCRYPTION_KEY or a copy of one key file "+
		"(GATEHOUSE_ENCRYPTION_KEY_FILE); to rotate, list the old key in GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS",
		s.recorded, s.sealer.KeyID(), s.source)
}

// adopt records the sealer's key as the one the database's secrets are
// sealed under, and retires the keys derived from signing keys. reseal
// calls it once every enabled secret is under the current key.
func (s *sealing) adopt(ctx context.Context, store gatehouse.SettingStore) error {
	kid := s.sealer.KeyID()
	if s.recorded != kid {
		ok, err := store.SwapSetting(ctx, sealingKeySetting, s.recorded, kid)
		if err != nil {
			return fmt.Errorf("sealing: %w", err)
		}
		if !ok {
			return errors.New("sealing: the recorded key changed while resealing; run gatehouse reseal again")
		}
		s.recorded = kid
	}
	if s.legacy {
		if err := retireLegacy(ctx, store); err != nil {
			return err
		}
		s.legacy = false
	}
	return nil
}

// optionalSetting returns the setting, "" when it is absent.
func optionalSetting(ctx context.Context, store gatehouse.SettingStore, key string) (string, error) {
	v, err := store.Setting(ctx, key)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return v, nil
}

// Key files hold a key as text, used exactly as GATEHOUSE_ENCRYPTION_KEY
// would be: GATEHOUSE_ENCRYPTION_KEY="$(cat gatehouse.key)" is the same key.
const (
	keyFileBytes = 48   // random bytes in a new key file (64 characters of base64url)
	maxKeyFile   = 4096 // the longest key file read
)

// readKeyFile returns the key in the file at path, nil when there is none.
// A file that group or others may read is tightened to 0600, as the
// database is.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open key file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("stat key file %s: %w", path, err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return nil, fmt.Errorf("restrict permissions of key file %s: %w", path, err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) < 32 || len(b) > maxKeyFile {
		return nil, fmt.Errorf("key file %s must hold one key of 32 to %d bytes (got %d)", path, maxKeyFile, len(b))
	}
	return key, nil
}

// createKeyFile makes a key file at path with a new random key, mode 0600,
// and returns the key in it. Of processes creating it at once, all return
// the same key: the key is written to a temporary file first and linked to
// path, which fails if path exists, and then the file at path is read. A
// plain O_EXCL create would let the loser read a file the winner has not
// finished writing; a link is as exclusive and never partial.
func createKeyFile(path string) ([]byte, error) {
	raw := make([]byte, keyFileBytes)
	rand.Read(raw)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".gatehouse-key-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("create key file in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.RawURLEncoding.EncodeToString(raw) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write key file %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create key file %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable
		d.Sync()
		d.Close()
	}
	key, err := readKeyFile(path)
	if err == nil && key == nil {
		err = fmt.Errorf("key file %s vanished as it was made", path)
	}
	return key, err
}
