package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

// Issue 9 finding 2 and contract §10: the key that seals TOTP secrets
// never depends on the signing key, and every key that sealed a secret
// before stays able to open it until `gatehouse reseal` has moved it.

const (
	alicePassword = "alice's long password"
	signingKey1   = "the-first-signing-key-of-32-bytes-or-more"
	signingKey2   = "the-second-signing-key-of-32-bytes-or-more"
)

// deployment is a SQLite database in a directory of its own, run through
// the CLI and the app as an operator runs it; its settings are the
// environment variables the test sets.
type deployment struct {
	t   *testing.T
	dir string
	db  string
}

func newDeployment(t *testing.T) *deployment {
	d := &deployment{t: t, dir: t.TempDir()}
	d.db = filepath.Join(d.dir, "g.db")
	t.Setenv("GATEHOUSE_DATABASE_URL", "sqlite:"+d.db)
	for _, env := range []string{"GATEHOUSE_SECRET_KEY", "GATEHOUSE_PREVIOUS_SECRET_KEYS", "GATEHOUSE_ENCRYPTION_KEY",
		"GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS", "GATEHOUSE_ENCRYPTION_KEY_FILE"} {
		t.Setenv(env, "")
	}
	return d
}

// set sets settings, "NAME=value" each.
func (d *deployment) set(settings ...string) {
	for _, s := range settings {
		k, v, _ := strings.Cut(s, "=")
		d.t.Setenv(k, v)
	}
}

func (d *deployment) cli(stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &out)
	return out.String(), err
}

// open opens the app on the current settings as a command of mode does
// (sealStrict: as serve does).
func (d *deployment) open(mode sealingMode) (*app, error) {
	s := newSettings("test", "")
	sf := addStoreFlags(s)
	c, err := sf.parse()
	if err != nil {
		return nil, err
	}
	c.sealing = mode
	return openApp(context.Background(), c, slog.New(slog.DiscardHandler), cluster{})
}

// serve opens the app as serve does, or fails the test.
func (d *deployment) serve() *app {
	d.t.Helper()
	a, err := d.open(sealStrict)
	if err != nil {
		d.t.Fatalf("serve would not start: %v", err)
	}
	return a
}

// enrol turns on alice's 2FA through a, using the code of the step before
// the current one, and returns her secret.
func enrol(t *testing.T, a *app) string {
	t.Helper()
	ctx := context.Background()
	u, err := a.store.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e, err := a.auth.SetupTwoFactor(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.auth.VerifyTwoFactor(ctx, u, code(t, e.Secret, -30*time.Second)); err != nil {
		t.Fatalf("enable 2FA: %v", err)
	}
	return e.Secret
}

// code returns the TOTP code of secret at now+offset. Each login of a test
// takes a later offset than the one before, as a code is accepted once.
func code(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	c, err := totp.Code(secret, time.Now().Add(offset))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// login2FA logs alice in with her password and a code, as /token does.
func login2FA(t *testing.T, a *app, secret string, offset time.Duration) {
	t.Helper()
	if _, err := a.auth.LoginWithOTP(context.Background(), "alice", alicePassword, "", code(t, secret, offset)); err != nil {
		t.Fatalf("2FA login: %v", err)
	}
}

// sealedKeyID returns the id of the key alice's secret is sealed under.
func sealedKeyID(t *testing.T, a *app) string {
	t.Helper()
	u, _ := a.store.UserByUsername(context.Background(), "alice")
	st, err := a.store.TOTP(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return totp.SealedKeyID(st.Secret)
}

// The README's signing-key rotation — move the key to
// GATEHOUSE_PREVIOUS_SECRET_KEYS, set a new GATEHOUSE_SECRET_KEY, drop the
// old one after the access-token TTL — leaves every 2FA login working.
func TestSigningKeyRotationKeepsTwoFactorLoginsWorking(t *testing.T) {
	d := newDeployment(t)
	d.set("GATEHOUSE_SECRET_KEY=" + signingKey1)
	if out, err := d.cli(alicePassword+"\n", "user", "create", "alice", "--password-stdin"); err != nil {
		t.Fatalf("create alice: %v %s", err, out)
	}
	a := d.serve()
	secret := enrol(t, a)
	a.Close()

	d.set("GATEHOUSE_SECRET_KEY="+signingKey2, "GATEHOUSE_PREVIOUS_SECRET_KEYS="+signingKey1)
	a = d.serve()
	login2FA(t, a, secret, 0)
	a.Close()

	d.set("GATEHOUSE_PREVIOUS_SECRET_KEYS=")
	if out, err := d.cli("", "reseal"); err != nil {
		t.Fatalf("reseal: %v %s", err, out)
	}
	a = d.serve()
	defer a.Close()
	login2FA(t, a, secret, 30*time.Second)
}

// Moving from the generated signing key to a configured one leaves every
// 2FA login working too.
func TestConfiguringASigningKeyKeepsTwoFactorLoginsWorking(t *testing.T) {
	d := newDeployment(t)
	if out, err := d.cli(alicePassword+"\n", "user", "create", "alice", "--password-stdin"); err != nil {
		t.Fatalf("create alice: %v %s", err, out)
	}
	a := d.serve()
	secret := enrol(t, a)
	a.Close()

	d.set("GATEHOUSE_SECRET_KEY=" + signingKey1)
	a = d.serve()
	defer a.Close()
	login2FA(t, a, secret, 0)
}

// oldDeployment makes the database of a deployment from before the
// sealing key stopped depending on the signing key: alice's secret sealed
// under a key derived (HKDF, totpKeyInfo) from signing, or, when signing
// is nil, from a signing key generated and kept in the database; no
// sealing key recorded, no key file.
func oldDeployment(t *testing.T, db string, signing []byte) string {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if signing == nil {
		if signing, err = storedSecret(ctx, store, secretSetting); err != nil {
			t.Fatal(err)
		}
	}
	key, err := totp.DeriveKey(signing, totpKeyInfo)
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := totp.NewSealer(key)
	tokens, err := token.NewManager(token.Config{Keys: token.KeysFromSecrets(signing, nil), Issuer: "gatehouse", Audience: "gatehouse"})
	if err != nil {
		t.Fatal(err)
	}
	pool := password.NewPool(1, 4)
	defer pool.Close()
	svc, err := auth.New(auth.Config{Store: store, Tokens: tokens, Hasher: password.NewHasher(password.DefaultParams()),
		Pool: pool, Policy: password.DefaultPolicy(), Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, auth.NewUser{Username: "alice", Password: alicePassword, Role: gatehouse.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	secret := enrol(t, &app{store: store, auth: svc})
	if _, err := os.Stat(filepath.Join(filepath.Dir(db), keyFileName)); err == nil {
		t.Fatal("the old deployment has a key file")
	}
	return secret
}

// The upgrade path: secrets sealed under a key derived from the signing
// key — configured, previous or generated — still open after the
// upgrade, also when the signing key is rotated or configured at the same
// time, and `gatehouse reseal` moves them to the key file.
func TestAnUpgradeKeepsSecretsSealedUnderTheSigningKey(t *testing.T) {
	tests := []struct {
		name    string
		signing []byte   // of the old deployment; nil: generated
		upgrade []string // the settings it is upgraded with
	}{
		{"configured signing key, kept", []byte(signingKey1), []string{"GATEHOUSE_SECRET_KEY=" + signingKey1}},
		{"configured signing key, rotated at the upgrade", []byte(signingKey1),
			[]string{"GATEHOUSE_SECRET_KEY=" + signingKey2, "GATEHOUSE_PREVIOUS_SECRET_KEYS=" + signingKey1}},
		{"generated signing key, kept", nil, nil},
		{"generated signing key, configured at the upgrade", nil, []string{"GATEHOUSE_SECRET_KEY=" + signingKey2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment(t)
			secret := oldDeployment(t, d.db, tt.signing)
			d.set(tt.upgrade...)

			a := d.serve()
			if !a.sealing.legacy {
				t.Error("an upgraded database holds no key derived from a signing key")
			}
			login2FA(t, a, secret, 0)
			a.Close()

			out, err := d.cli("", "reseal")
			if err != nil || !strings.Contains(out, "1 TOTP secrets resealed") {
				t.Fatalf("reseal: %v %s", err, out)
			}
			d.set("GATEHOUSE_PREVIOUS_SECRET_KEYS=")
			a = d.serve()
			defer a.Close()
			if a.sealing.legacy {
				t.Error("after reseal the keys derived from signing keys are still held")
			}
			if got := sealedKeyID(t, a); got != a.sealing.sealer.KeyID() || a.sealing.source != filepath.Join(d.dir, keyFileName) {
				t.Errorf("after reseal the secret is under key %s, want %s from the key file (%s)", got, a.sealing.sealer.KeyID(), a.sealing.source)
			}
			login2FA(t, a, secret, 30*time.Second)
		})
	}
}

// A new database never holds keys derived from a signing key: nothing was
// ever sealed under one.
func TestANewDatabaseHoldsNoKeyDerivedFromTheSigningKey(t *testing.T) {
	d := newDeployment(t)
	d.set("GATEHOUSE_SECRET_KEY=" + signingKey1)
	a := d.serve()
	defer a.Close()
	if a.sealing.legacy {
		t.Fatal("a new database holds keys derived from signing keys")
	}
	signing, _ := totp.DeriveKey([]byte(signingKey1), totpKeyInfo)
	derived, _ := totp.NewSealer(signing)
	if a.sealing.sealer.HasKey(derived.KeyID()) {
		t.Fatal("the sealer holds the key derived from the signing key")
	}
}

// Two instances of one database with different keys: the second is
// refused at start, with one line naming the setting and the file, rather
// than answering 500 at every 2FA login later. A missing key file is not
// made then: a key of its own would split the secrets.
func TestAnInstanceWithAnotherKeyIsRefusedAtStart(t *testing.T) {
	d := newDeployment(t)
	first, second := filepath.Join(d.dir, "first.key"), filepath.Join(d.dir, "second.key")
	d.set("GATEHOUSE_ENCRYPTION_KEY_FILE=" + first)
	d.serve().Close()
	serve := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.set("GATEHOUSE_ADDR=127.0.0.1:0")
		return run(ctx, []string{"serve"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	}
	refused := func(want ...string) {
		t.Helper()
		err := serve()
		if code := exitCode(err); code != 2 {
			t.Fatalf("serve exit code %d (%v), want 2", code, err)
		}
		for _, w := range append(want, "GATEHOUSE_ENCRYPTION_KEY") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("the error does not name %q: %v", w, err)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("the error is not one line: %q", err)
		}
	}

	d.set("GATEHOUSE_ENCRYPTION_KEY_FILE=" + second)
	refused(second)
	if _, err := os.Stat(second); err == nil {
		t.Fatal("a key file was made for a database whose secrets are under another key")
	}
	if err := os.WriteFile(second, []byte("another-key-of-at-least-32-bytes-for-sure\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused(second, "GATEHOUSE_ENCRYPTION_KEY_FILE")
	key, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	d.set("GATEHOUSE_ENCRYPTION_KEY=another-key-of-at-least-32-bytes-for-sure")
	refused()

	// The same key, as a file or as the variable, is accepted.
	d.set("GATEHOUSE_ENCRYPTION_KEY="+strings.TrimSpace(string(key)), "GATEHOUSE_ENCRYPTION_KEY_FILE="+second)
	d.serve().Close()
	d.set("GATEHOUSE_ENCRYPTION_KEY=", "GATEHOUSE_ENCRYPTION_KEY_FILE="+first)
	d.serve().Close()
}

// Rotating the encryption key moves the database's record to the new key,
// so that an instance still holding only the old one is refused.
func TestEncryptionKeyRotationMovesTheRecord(t *testing.T) {
	d := newDeployment(t)
	if out, err := d.cli(alicePassword+"\n", "user", "create", "alice", "--password-stdin"); err != nil {
		t.Fatalf("create alice: %v %s", err, out)
	}
	a := d.serve()
	secret := enrol(t, a)
	fileKey := a.sealing.sealer.KeyID()
	a.Close()
	const next = "the-next-encryption-key-of-32-bytes-or-more"
	d.set("GATEHOUSE_ENCRYPTION_KEY=" + next) // the key file's key stays readable
	a = d.serve()
	login2FA(t, a, secret, 0)
	if a.sealing.recorded == fileKey || a.sealing.recorded != a.sealing.sealer.KeyID() {
		t.Fatalf("recorded key %s after the rotation, want the new key %s", a.sealing.recorded, a.sealing.sealer.KeyID())
	}
	a.Close()
	if out, err := d.cli("", "reseal"); err != nil {
		t.Fatalf("reseal: %v %s", err, out)
	}
	d.set("GATEHOUSE_ENCRYPTION_KEY=")
	if _, err := d.open(sealStrict); exitCode(err) != 2 {
		t.Fatalf("an instance with only the old key file started: %v", err)
	}
	os.Remove(filepath.Join(d.dir, keyFileName))
	d.set("GATEHOUSE_ENCRYPTION_KEY=" + next)
	a = d.serve()
	defer a.Close()
	login2FA(t, a, secret, 30*time.Second)
}

// A lost key: serve is refused; reseal names the users whose secrets are
// lost; once their 2FA is reset, reseal makes the new key the database's.
func TestALostKeyIsRecoveredByResettingItsUsers(t *testing.T) {
	d := newDeployment(t)
	if out, err := d.cli(alicePassword+"\n", "user", "create", "alice", "--password-stdin"); err != nil {
		t.Fatalf("create alice: %v %s", err, out)
	}
	a := d.serve()
	enrol(t, a)
	a.Close()
	if err := os.Remove(filepath.Join(d.dir, keyFileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.open(sealStrict); exitCode(err) != 2 {
		t.Fatalf("serve started without the key: %v", err)
	}
	d.set("GATEHOUSE_ENCRYPTION_KEY=a-replacement-key-of-at-least-32-bytes")
	out, err := d.cli("", "reseal")
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "alice") || !strings.Contains(err.Error(), "reset-2fa") {
		t.Fatalf("reseal with the key lost: %v %s", err, out)
	}
	if out, err := d.cli("", "user", "reset-2fa", "alice"); err != nil {
		t.Fatalf("reset-2fa: %v %s", err, out)
	}
	if out, err := d.cli("", "reseal"); err != nil {
		t.Fatalf("reseal after the reset: %v %s", err, out)
	}
	d.serve().Close()
}

func TestKeyFileIsMadeOnceWithMode0600AndRacersAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), keyFileName)
	const n = 8
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := createKeyFile(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		if !bytes.Equal(k, keys[0]) {
			t.Fatalf("racers got different keys")
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(keys[0]))
	if err != nil || len(raw) != 48 {
		t.Fatalf("the key is not 48 random bytes in base64url: %v, %d bytes", err, len(raw))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("temporary files left beside the key file: %v", ents)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if k, err := readKeyFile(path); err != nil || !bytes.Equal(k, keys[0]) {
		t.Fatalf("read back %q, %v", k, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("a readable key file was left at %v", fi.Mode().Perm())
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readKeyFile(path); err == nil || strings.Contains(err.Error(), "short") {
		t.Fatalf("a short key file: %v (must be refused without repeating it)", err)
	}
}

func TestTheKeyFileIsBesideTheSQLiteDatabase(t *testing.T) {
	d := newDeployment(t)
	// Commands that seal nothing make no key (nor record one): run from
	// elsewhere, they must not decide the database's key.
	if out, err := d.cli(alicePassword+"\n", "user", "create", "alice", "--password-stdin"); err != nil {
		t.Fatalf("create alice: %v %s", err, out)
	}
	if out, err := d.cli("", "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(d.dir, keyFileName)); err == nil {
		t.Fatal("a command that seals nothing made a key file")
	}
	d.serve().Close()
	fi, err := os.Stat(filepath.Join(d.dir, keyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("no key file of mode 0600 beside the database: %v", err)
	}
	if got := defaultKeyFile(databaseURL{driver: "postgres", dsn: "postgres://db/x"}); got != keyFileName {
		t.Fatalf("PostgreSQL's key file is %q, want %q in the working directory", got, keyFileName)
	}
	// The file's key is the key as GATEHOUSE_ENCRYPTION_KEY would give it.
	a := d.serve()
	fileKey := a.sealing.sealer.KeyID()
	a.Close()
	b, _ := os.ReadFile(filepath.Join(d.dir, keyFileName))
	d.set("GATEHOUSE_ENCRYPTION_KEY=" + strings.TrimSpace(string(b)))
	a = d.serve()
	defer a.Close()
	if a.sealing.sealer.KeyID() != fileKey {
		t.Fatal("the key file's text used as GATEHOUSE_ENCRYPTION_KEY is another key")
	}
}
