package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/token"
)

// The signing keys (contract §10). Access tokens are signed with
// GATEHOUSE_SIGNING_ALG: an asymmetric key kept by package keys (created,
// rotated and reloaded every 10 s, published at /.well-known/jwks.json),
// or the HS256 secret. HS256 keys — the configured secret and the previous
// ones, or the secret generated into the database by earlier versions —
// keep verifying whatever signs, so a deployment moved off HS256 logs
// nobody out.

// legacyIssuer is the iss of every token issued before GATEHOUSE_PUBLIC_URL
// existed.
const legacyIssuer = "gatehouse"

// legacyIssuerSetting records, at the first start of a version that issues
// tokens under GATEHOUSE_PUBLIC_URL, which HS256 keys signed tokens under
// the legacy issuer and until when such tokens may be live.
const legacyIssuerSetting = "legacy_token_issuer"

// signingFlags are the signing-key settings of serve and the keys commands.
type signingFlags struct {
	alg, rotation, maxAge *string
}

func addSigningFlags(s *settings) *signingFlags {
	return &signingFlags{
		alg: s.add("signing-alg", "GATEHOUSE_SIGNING_ALG", "",
			"algorithm of access tokens: RS256 (2048-bit), ES256, EdDSA or HS256; empty: RS256, or HS256 when GATEHOUSE_SECRET_KEY is set"),
		rotation: s.add("key-rotation", "GATEHOUSE_KEY_ROTATION", "720h",
			"how often the asymmetric signing keys are replaced; 0: only by gatehouse keys rotate"),
		maxAge: s.add("jwks-max-age", "GATEHOUSE_JWKS_MAX_AGE", "1h",
			"how long clients may cache /.well-known/jwks.json (its max-age); a new key is published that long, plus 10 s, before it signs"),
	}
}

// signingConfig is the validated signing-key configuration. The zero value
// (commands without signing flags) keeps the keys' defaults and loads
// nothing.
type signingConfig struct {
	alg              string // of access tokens
	rotation, maxAge time.Duration
	issuer           string // GATEHOUSE_PUBLIC_URL: serve sets it
	load             bool   // load (creating if missing) and rotate the keys at open
}

// parse validates the flags into c.signing; c.secret must be parsed first.
func (f *signingFlags) parse(c *storeConfig) error {
	s := &c.signing
	switch s.alg = strings.TrimSpace(*f.alg); s.alg {
	case "":
		s.alg = token.RS256
		if c.secret != nil {
			s.alg = token.HS256 // the contract's earlier rule stands
		}
	case token.RS256, token.ES256, token.EdDSA, token.HS256:
	default:
		return bad("GATEHOUSE_SIGNING_ALG", "%q is not RS256, ES256, EdDSA or HS256", *f.alg)
	}
	var err error
	if s.rotation, err = time.ParseDuration(*f.rotation); err != nil || s.rotation < 0 {
		return bad("GATEHOUSE_KEY_ROTATION", "%q is not a duration (e.g. 720h; 0: only by command)", *f.rotation)
	}
	if s.maxAge, err = parseDuration("GATEHOUSE_JWKS_MAX_AGE", *f.maxAge); err != nil {
		return err
	}
	if s.maxAge < time.Second || s.maxAge%time.Second != 0 || s.maxAge > 24*time.Hour {
		return bad("GATEHOUSE_JWKS_MAX_AGE", "%q must be whole seconds from 1s to 24h", *f.maxAge)
	}
	if s.rotation > 0 && s.rotation < s.maxAge+keys.DefaultPoll {
		return bad("GATEHOUSE_KEY_ROTATION", "%v is shorter than the time a new key must be published before it signs (GATEHOUSE_JWKS_MAX_AGE + 10s = %v)",
			s.rotation, s.maxAge+keys.DefaultPoll)
	}
	return nil
}

// parsePublicURL validates GATEHOUSE_PUBLIC_URL, or makes the default from
// the listen address: http://ADDR (https:// when serving TLS), with an
// unspecified host (":8000", "0.0.0.0:8000") read as localhost. A trailing
// slash is dropped: the issuer has none (contract §10).
func parsePublicURL(v, addr string, tls bool) (string, error) {
	const env = "GATEHOUSE_PUBLIC_URL"
	if v == "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", bad("GATEHOUSE_ADDR", "%q is not host:port", addr)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "localhost"
		}
		scheme := "http"
		if tls {
			scheme = "https"
		}
		return scheme + "://" + net.JoinHostPort(host, port), nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return "", bad(env, "want http(s)://host[:port][/path], without user:password@, query or fragment")
	}
	return strings.TrimRight(v, "/"), nil
}

// hmacKeys returns the HS256 keys: the configured secret, or the one kept
// in the database, then the previous ones. The stored secret is generated
// only when HS256 signs (c.signing.alg) and no secret is configured; an
// earlier version's generated secret is loaded whatever signs, so that
// its tokens can verify until they expire (generated reports that keys[0]
// is that one). Without any, the result is empty.
func hmacKeys(ctx context.Context, store gatehouse.SettingStore, c storeConfig) (keys []token.Key, generated bool, err error) {
	current := c.secret
	if current == nil {
		if c.signing.alg == token.HS256 {
			current, err = storedSecret(ctx, store, secretSetting)
		} else {
			current, err = existingSecret(ctx, store, secretSetting)
		}
		if err != nil {
			return nil, false, err
		}
		generated = current != nil
	}
	if current == nil {
		var out []token.Key
		for _, p := range c.previousSecrets {
			if id := token.KeyID(p); !slices.ContainsFunc(out, func(k token.Key) bool { return k.ID == id }) {
				out = append(out, token.Key{ID: id, Secret: p})
			}
		}
		return out, false, nil
	}
	return token.KeysFromSecrets(current, c.previousSecrets), generated, nil
}

// existingSecret returns the random secret kept under name, nil when there
// is none.
func existingSecret(ctx context.Context, store gatehouse.SettingStore, name string) ([]byte, error) {
	v, err := optionalSetting(ctx, store, name)
	if err != nil || v == "" {
		return nil, err
	}
	secret, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil || len(secret) < 32 {
		return nil, fmt.Errorf("%s: stored value is corrupt", name)
	}
	return secret, nil
}

// legacyRecord is the value of legacyIssuerSetting.
type legacyRecord struct {
	Until time.Time `json:"until,omitzero"`
	Keys  []string  `json:"kids,omitempty"`
}

// markLegacy lets the HS256 keys that signed tokens before the upgrade keep
// accepting their iss "gatehouse" until those tokens have all expired
// (contract §10). The first start that issues under the public URL
// records, in the database, which keys those are and until when: on a
// database that has users, the HS256 keys held then, until now + the
// access-token lifetime + leeway; on a fresh one, none. Later starts read
// the record, so the window never moves.
func markLegacy(ctx context.Context, store gatehouse.Store, hmac []token.Key, c storeConfig, now time.Time) error {
	var rec legacyRecord
	if n, err := store.CountUsers(ctx); err != nil {
		return fmt.Errorf("legacy issuer: %w", err)
	} else if n > 0 {
		rec.Until = now.Add(c.accessTTL + auth.Leeway).UTC().Truncate(time.Second)
		for _, k := range hmac {
			rec.Keys = append(rec.Keys, k.ID)
		}
	}
	b, _ := json.Marshal(rec) // plain types: cannot fail
	v, err := store.SetSettingIfAbsent(ctx, legacyIssuerSetting, string(b))
	if err != nil {
		return fmt.Errorf("legacy issuer: %w", err)
	}
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return fmt.Errorf("legacy issuer: stored value is corrupt")
	}
	if !now.Before(rec.Until) {
		return nil
	}
	for i := range hmac {
		if slices.Contains(rec.Keys, hmac[i].ID) {
			hmac[i].FormerIssuer, hmac[i].FormerIssuerUntil = legacyIssuer, rec.Until
		}
	}
	return nil
}

// openTokens builds the token manager, and the signing-key manager when
// the command holds a sealer. With c.signing.load the keys are loaded
// (created on first use, rotated when due) and sign as configured;
// otherwise the token manager only holds the HS256 keys (or, with none, a
// random key that nothing outside this process knows: such commands issue
// no token).
func openTokens(ctx context.Context, store gatehouse.Store, c storeConfig, seal *sealing, log *slog.Logger) (*token.Manager, *keys.Manager, error) {
	hmac, generated, err := hmacKeys(ctx, store, c)
	if err != nil {
		return nil, nil, err
	}
	issuer := c.signing.issuer
	if issuer == "" {
		issuer = legacyIssuer // commands that issue no token
	}
	if c.signing.load && c.signing.issuer != "" { // serve: the first start of this version records the window
		if err := markLegacy(ctx, store, hmac, c, time.Now()); err != nil {
			return nil, nil, err
		}
		// The secret an earlier version generated is kept in the database
		// in the clear: once its tokens have expired, a deployment that no
		// longer signs with it stops trusting it, so that a copy of the
		// database cannot mint tokens.
		if generated && c.signing.alg != token.HS256 && hmac[0].FormerIssuer == "" {
			hmac = hmac[1:]
		}
	}
	// newTokens makes the token manager; with no HMAC key (asymmetric
	// tokens only), under a random one that nothing ever signs with.
	newTokens := func(k []token.Key) (*token.Manager, error) {
		if len(k) == 0 {
			b := make([]byte, 32)
			rand.Read(b)
			k = []token.Key{{ID: "unused", Secret: b}}
		}
		m, err := token.NewManager(token.Config{Keys: k, Issuer: issuer, Audience: "gatehouse", Leeway: auth.Leeway})
		if err != nil {
			return nil, fmt.Errorf("token manager: %w", err)
		}
		return m, nil
	}
	if seal.sealer == nil {
		tm, err := newTokens(hmac)
		return tm, nil, err
	}
	algs := idTokenAlgs(c.signing.alg)
	swap := &keySwap{access: c.signing.alg, hmac: hmac, log: log}
	km, err := keys.New(keys.Config{Store: store, Sealer: seal.sealer, Algorithms: algs, Rotation: c.signing.rotation,
		MaxAge: c.signing.maxAge, TokenLifetime: c.accessTTL + auth.Leeway, Logger: log, OnChange: swap.install})
	if err != nil {
		return nil, nil, fmt.Errorf("signing keys: %w", err)
	}
	if !c.signing.load {
		tm, err := newTokens(hmac)
		return tm, km, err
	}
	if err := km.Refresh(ctx); err != nil {
		if errors.Is(err, keys.ErrUnseal) {
			return nil, nil, bad("GATEHOUSE_ENCRYPTION_KEY", "the signing keys in the database do not open under the encryption key (%s) "+
				"or GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS: start with the key they were sealed under", seal.source)
		}
		return nil, nil, fmt.Errorf("signing keys: %w", err)
	}
	tk, err := km.Keys().TokenKeys(c.signing.alg, hmac)
	if err != nil {
		return nil, nil, bad("GATEHOUSE_SIGNING_ALG", "%v", err)
	}
	tm, err := newTokens(tk)
	if err != nil {
		return nil, nil, err
	}
	swap.set(tm)
	return tm, km, nil
}

// keySwap installs each new key set into the token manager: how a rotation
// made by any instance, or the CLI, reaches this one without a restart.
type keySwap struct {
	access string
	hmac   []token.Key
	log    *slog.Logger
	tokens *token.Manager // nil until the first set is in force
}

func (s *keySwap) set(tm *token.Manager) { s.tokens = tm }

// install is keys.Config.OnChange: called under the key manager's lock,
// never concurrently, and only after set for every set but the first.
func (s *keySwap) install(set *keys.Set) {
	if s.tokens == nil {
		return
	}
	tk, err := set.TokenKeys(s.access, s.hmac)
	if err == nil {
		err = s.tokens.SetKeys(tk)
	}
	if err != nil {
		s.log.Error("signing keys: the new key set is not in force; the previous one still is", "err", err)
	}
}

// idTokenAlgs are the algorithms ID tokens may be signed with (contract
// §13): RS256, which the key manager always keeps (OIDC Core §15.1), and
// the access tokens' algorithm when it is another asymmetric one.
func idTokenAlgs(access string) []string {
	algs := []string{token.RS256}
	if access != "" && access != token.HS256 && access != token.RS256 {
		algs = append(algs, access)
	}
	return algs
}
