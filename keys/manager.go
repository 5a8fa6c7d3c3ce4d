package keys

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/token"
)

// Defaults of Config.
const (
	DefaultMaxAge = time.Hour
	DefaultPoll   = 10 * time.Second
)

// Config configures a Manager.
type Config struct {
	Store  gatehouse.SigningKeyStore // required
	Sealer Sealer                    // required: seals and opens private keys
	// Algorithms are the asymmetric algorithms to keep keys for, each with
	// its own current and next key; Algorithms[0] is the default for ID
	// tokens. Default: RS256 alone.
	Algorithms []string
	// Rotation is how long a key is current before it is replaced
	// (GATEHOUSE_KEY_ROTATION); 0: only Rotate replaces keys.
	Rotation time.Duration
	// MaxAge is how long clients may cache the key set (its Cache-Control
	// max-age, whole seconds); a next key is promoted only once it has been
	// published for MaxAge + Poll. Default DefaultMaxAge.
	MaxAge time.Duration
	// TokenLifetime is the longest a token signed by a key may be valid,
	// leeway included (the access-token TTL plus leeway, or an ID token's
	// lifetime if longer). Required. A retired key stays published and
	// verifying for TokenLifetime + Poll after its rotation.
	TokenLifetime time.Duration
	// Poll is how often Run reloads the keys from the store, and so the
	// longest another instance keeps signing with a retired key. Default
	// DefaultPoll.
	Poll   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// OnChange, if set, is called with each new key set, before Refresh
	// returns and never concurrently: the place to swap the keys into a
	// token.Manager (Set.TokenKeys).
	OnChange func(*Set)
}

// Manager keeps the signing keys of one instance in step with the store:
// it creates them on first use, rotates them when due, purges expired ones
// and reloads what other instances did. It is safe for concurrent use.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	mu      sync.Mutex // serialises Refresh and Rotate
	set     atomic.Pointer[Set]
	waiting map[string]bool // algorithms whose due rotation waits for its next key, logged once
}

// New checks cfg and returns a Manager. It touches no store: call Refresh
// (or Run) to load or create the keys.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Sealer == nil {
		return nil, errors.New("keys: Store and Sealer are required")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{token.RS256}
	}
	for i, a := range cfg.Algorithms {
		if a != token.RS256 && a != token.ES256 && a != token.EdDSA {
			return nil, fmt.Errorf("keys: algorithm %q: want RS256, ES256 or EdDSA", a)
		}
		if slices.Index(cfg.Algorithms, a) != i {
			return nil, fmt.Errorf("keys: algorithm %s listed twice", a)
		}
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.MaxAge < time.Second || cfg.Poll < 0 || cfg.Rotation < 0 {
		return nil, errors.New("keys: MaxAge must be at least 1s; Poll and Rotation may not be negative")
	}
	if cfg.TokenLifetime <= 0 {
		return nil, errors.New("keys: TokenLifetime is required")
	}
	if cfg.Rotation > 0 && cfg.Rotation < cfg.MaxAge+cfg.Poll {
		return nil, fmt.Errorf("keys: a rotation period of %v is shorter than the time a next key must be published first (%v)", cfg.Rotation, cfg.MaxAge+cfg.Poll)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: cfg.Logger, waiting: map[string]bool{}}, nil
}

// Set is one instance's view of the signing keys at one time. It never
// changes: a change makes a new Set.
type Set struct {
	// Keys are the keys live at LoadedAt: each algorithm's current key
	// (in Config.Algorithms order), then next keys, then retired keys not
	// past their RetireUntil.
	Keys     []Key
	LoadedAt time.Time
	jwks     []byte
	etag     string
}

// Key is a signing key as a Set holds it. Only current keys hold their
// private part.
type Key struct {
	ID          string
	Algorithm   string
	State       string
	CreatedAt   time.Time // published from then
	ActivatedAt time.Time
	RetiredAt   time.Time
	RetireUntil time.Time
	Public      crypto.PublicKey
	signer      crypto.Signer
}

// Current returns the current key of alg ("" for Config.Algorithms[0]), or nil.
func (s *Set) Current(alg string) *Key {
	for i := range s.Keys {
		if k := &s.Keys[i]; k.State == gatehouse.KeyCurrent && (alg == "" || k.Algorithm == alg) {
			return k
		}
	}
	return nil
}

// TokenKeys returns the keys for a token.Manager (token.Config.Keys, or
// SetKeys) that signs access tokens with access: HS256, or one of the
// asymmetric algorithms of the set. hmac are the HS256 keys (the first
// signs when access is HS256; all of them verify either way, so that a
// deployment moved off HS256 keeps accepting the tokens it issued before).
// The current keys come with their private parts, so that SignJSON can
// sign ID tokens; next and retired keys only verify.
func (s *Set) TokenKeys(access string, hmac []token.Key) ([]token.Key, error) {
	var out []token.Key
	switch {
	case access == token.HS256:
		if len(hmac) == 0 {
			return nil, errors.New("keys: HS256 access tokens need an HS256 key")
		}
		out = append(out, hmac[0])
		hmac = hmac[1:]
	case s.Current(access) == nil:
		return nil, fmt.Errorf("keys: no current %s key", access)
	default:
		out = append(out, s.Current(access).tokenKey())
	}
	for _, k := range s.Keys {
		if k.State != gatehouse.KeyCurrent || k.Algorithm != access {
			out = append(out, k.tokenKey())
		}
	}
	return append(out, hmac...), nil
}

func (k *Key) tokenKey() token.Key {
	if k.signer != nil {
		return token.Key{ID: k.ID, Signer: k.signer}
	}
	return token.Key{ID: k.ID, Public: k.Public}
}

// Keys returns the key set in force, nil before the first Refresh.
func (m *Manager) Keys() *Set { return m.set.Load() }

// Run calls Refresh every Config.Poll until ctx is done, logging failures:
// the keys in force stay in force while the store cannot be read.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.ErrorContext(ctx, "signing keys: refresh failed", "err", err)
			}
		}
	}
}

// Refresh brings the instance's keys in step with the store: it creates
// the keys of an algorithm that has none (the first key signs at once:
// nobody can have cached a key set without it), rotates the keys whose
// current key is older than Config.Rotation once their next key has been
// published long enough, purges retired keys whose tokens have all
// expired, and installs what it finds (calling OnChange when the set
// changed). Of several instances refreshing at once, one rotates.
func (m *Manager) Refresh(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	stored, err := m.cfg.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: load: %w", err)
	}
	changed := false
	for _, alg := range m.cfg.Algorithms {
		cur, next := find(stored, alg, gatehouse.KeyCurrent), find(stored, alg, gatehouse.KeyNext)
		switch {
		case cur == nil:
			if _, err := m.init(ctx, alg, now); err != nil {
				return err
			}
			changed = true
		case next == nil:
			m.log.WarnContext(ctx, "signing keys: no next key, so no rotation", "alg", alg)
		case m.cfg.Rotation > 0 && !now.Before(since(cur).Add(m.cfg.Rotation)):
			if now.Before(m.promotable(next)) {
				if !m.waiting[alg] {
					m.log.InfoContext(ctx, "signing keys: rotation due, waiting until the next key has been published long enough",
						"alg", alg, "kid", next.ID, "at", m.promotable(next))
					m.waiting[alg] = true
				}
				continue
			}
			// Rotated here or, the compare-and-set failing, by another
			// instance: either way the store holds news.
			if _, err := m.rotate(ctx, cur, next, now); err != nil {
				return err
			}
			changed = true
		}
	}
	for _, k := range stored {
		if k.State == gatehouse.KeyRetired && k.RetireUntil.Before(now) {
			if _, err := m.cfg.Store.PurgeSigningKeys(ctx, now); err != nil {
				return fmt.Errorf("keys: purge: %w", err)
			}
			changed = true
			break
		}
	}
	if changed {
		if stored, err = m.cfg.Store.SigningKeys(ctx); err != nil {
			return fmt.Errorf("keys: load: %w", err)
		}
	}
	return m.install(ctx, stored, now)
}

// since returns when k became current.
func since(k *gatehouse.SigningKey) time.Time {
	if k.ActivatedAt.IsZero() {
		return k.CreatedAt
	}
	return k.ActivatedAt
}

// promotable returns when next may first sign: once every client's cached
// key set holds it. Clients cache for MaxAge; other instances start
// publishing it up to Poll after it was stored.
func (m *Manager) promotable(next *gatehouse.SigningKey) time.Time {
	return next.CreatedAt.Add(m.cfg.MaxAge + m.cfg.Poll)
}

func find(keys []gatehouse.SigningKey, alg, state string) *gatehouse.SigningKey {
	for i := range keys {
		if keys[i].Algorithm == alg && keys[i].State == state {
			return &keys[i]
		}
	}
	return nil
}

// newKey generates a key of alg and returns it as stored (state unset).
func (m *Manager) newKey(alg string, now time.Time) (gatehouse.SigningKey, error) {
	k, err := Generate(alg)
	if err != nil {
		return gatehouse.SigningKey{}, err
	}
	kid, err := Thumbprint(k.Public())
	if err != nil {
		return gatehouse.SigningKey{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return gatehouse.SigningKey{}, fmt.Errorf("keys: encode public key: %w", err)
	}
	sealed, err := sealPrivate(m.cfg.Sealer, kid, k)
	if err != nil {
		return gatehouse.SigningKey{}, err
	}
	return gatehouse.SigningKey{ID: kid, Algorithm: alg, Public: pub, Sealed: sealed, CreatedAt: now.UTC().Truncate(time.Microsecond)}, nil
}

func (m *Manager) init(ctx context.Context, alg string, now time.Time) (bool, error) {
	cur, err := m.newKey(alg, now)
	if err != nil {
		return false, err
	}
	next, err := m.newKey(alg, now)
	if err != nil {
		return false, err
	}
	cur.ActivatedAt = cur.CreatedAt
	ok, err := m.cfg.Store.InitSigningKeys(ctx, cur, next)
	if err != nil {
		return false, fmt.Errorf("keys: create %s keys: %w", alg, err)
	}
	if ok {
		m.log.InfoContext(ctx, "signing keys: created", "alg", alg, "current", cur.ID, "next", next.ID)
	}
	return ok, nil
}

// rotate makes next current and cur retired, with a fresh next key, if
// the store still holds them in those states.
func (m *Manager) rotate(ctx context.Context, cur, next *gatehouse.SigningKey, now time.Time) (bool, error) {
	fresh, err := m.newKey(cur.Algorithm, now)
	if err != nil {
		return false, err
	}
	r := gatehouse.KeyRotation{Current: cur.ID, Next: next.ID, NewNext: fresh, Now: now,
		RetireUntil: now.Add(m.cfg.TokenLifetime + m.cfg.Poll)}
	ok, err := m.cfg.Store.RotateSigningKeys(ctx, r)
	if err != nil {
		return false, fmt.Errorf("keys: rotate %s: %w", cur.Algorithm, err)
	}
	delete(m.waiting, cur.Algorithm)
	if ok {
		m.log.InfoContext(ctx, "signing keys: rotated", "alg", cur.Algorithm, "current", next.ID, "retired", cur.ID,
			"retired_until", r.RetireUntil, "next", fresh.ID)
	}
	return ok, nil
}

// TooSoonError refuses a rotation whose next key has not been published
// long enough: clients that cached the key set before it appeared would
// refuse the tokens it signs.
type TooSoonError struct {
	Algorithm string
	Next      string    // the next key's id
	Published time.Time // when it was first published
	At        time.Time // when it may be promoted
}

func (e *TooSoonError) Error() string {
	return fmt.Sprintf("keys: the next %s key %s was published at %s; clients may cache the key set without it until %s: rotate then, or now with force (clients that cached the set may refuse new tokens until they refetch it)",
		e.Algorithm, e.Next, e.Published.UTC().Format(time.RFC3339), e.At.UTC().Format(time.RFC3339))
}

// ErrRotatedMeanwhile is Rotate's answer when another instance rotated the
// same keys between its read and its compare-and-set.
var ErrRotatedMeanwhile = errors.New("keys: the keys were rotated meanwhile by another instance")

// Rotate rotates the keys of alg ("" for each configured algorithm) now:
// the next key becomes current, the current key is retired (it verifies
// until its tokens have expired) and a new next key is published. Without
// force, a next key published for less than MaxAge + Poll is not promoted:
// Rotate returns a *TooSoonError saying when it may be. With force it is
// promoted anyway — for an emergency, such as a current key that leaked:
// clients that cached the key set without it refuse the new tokens until
// they fetch it again.
func (m *Manager) Rotate(ctx context.Context, alg string, force bool) error {
	m.mu.Lock()
	now := m.cfg.Now()
	stored, err := m.cfg.Store.SigningKeys(ctx)
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("keys: load: %w", err)
	}
	algs := m.cfg.Algorithms
	if alg != "" {
		if !slices.Contains(algs, alg) {
			m.mu.Unlock()
			return fmt.Errorf("keys: %q is not a configured algorithm (%s)", alg, strings.Join(algs, ", "))
		}
		algs = []string{alg}
	}
	var errs []error
	for _, a := range algs {
		cur, next := find(stored, a, gatehouse.KeyCurrent), find(stored, a, gatehouse.KeyNext)
		if cur == nil || next == nil {
			errs = append(errs, fmt.Errorf("keys: no current and next %s keys to rotate (start the server once, or refresh)", a))
			continue
		}
		if at := m.promotable(next); now.Before(at) && !force {
			errs = append(errs, &TooSoonError{Algorithm: a, Next: next.ID, Published: next.CreatedAt, At: at})
			continue
		}
		ok, err := m.rotate(ctx, cur, next, now)
		if err == nil && !ok {
			err = ErrRotatedMeanwhile
		}
		errs = append(errs, err)
	}
	m.mu.Unlock()
	if err := m.Refresh(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// install builds the Set of the stored keys live at now and, if it differs
// from the one in force, installs it and calls OnChange.
func (m *Manager) install(ctx context.Context, stored []gatehouse.SigningKey, now time.Time) error {
	old := m.set.Load()
	set := &Set{LoadedAt: now}
	// In each state, keys go in Config.Algorithms order, then oldest first.
	rank := func(alg string) int {
		if i := slices.Index(m.cfg.Algorithms, alg); i >= 0 {
			return i
		}
		return len(m.cfg.Algorithms)
	}
	stored = slices.Clone(stored)
	slices.SortStableFunc(stored, func(a, b gatehouse.SigningKey) int { return rank(a.Algorithm) - rank(b.Algorithm) })
	// add appends the stored keys in state that keep accepts; sign: with
	// their private parts.
	add := func(state string, sign bool, keep func(*gatehouse.SigningKey) bool) error {
		for i := range stored {
			sk := &stored[i]
			if sk.State != state || !keep(sk) {
				continue
			}
			pub, err := parsePublic(sk.ID, sk.Algorithm, sk.Public)
			if err != nil {
				return err
			}
			k := Key{ID: sk.ID, Algorithm: sk.Algorithm, State: sk.State, CreatedAt: sk.CreatedAt, ActivatedAt: sk.ActivatedAt,
				RetiredAt: sk.RetiredAt, RetireUntil: sk.RetireUntil, Public: pub}
			if sign {
				if k.signer = old.signerOf(sk.ID); k.signer == nil {
					if k.signer, err = openPrivate(m.cfg.Sealer, sk.ID, sk.Algorithm, sk.Sealed); err != nil {
						return err
					}
				}
			}
			set.Keys = append(set.Keys, k)
		}
		return nil
	}
	for _, alg := range m.cfg.Algorithms {
		if err := add(gatehouse.KeyCurrent, true, func(k *gatehouse.SigningKey) bool { return k.Algorithm == alg }); err != nil {
			return err
		}
	}
	// Keys of an algorithm no longer configured still verify and stay
	// published while they may have live tokens: as retired keys do.
	other := func(k *gatehouse.SigningKey) bool { return !slices.Contains(m.cfg.Algorithms, k.Algorithm) }
	if err := add(gatehouse.KeyCurrent, false, other); err != nil {
		return err
	}
	if err := add(gatehouse.KeyNext, false, func(*gatehouse.SigningKey) bool { return true }); err != nil {
		return err
	}
	if err := add(gatehouse.KeyRetired, false, func(k *gatehouse.SigningKey) bool { return now.Before(k.RetireUntil) }); err != nil {
		return err
	}
	if old.same(set) {
		return nil
	}
	jwks, etag, err := encodeJWKS(set.Keys)
	if err != nil {
		return err
	}
	set.jwks, set.etag = jwks, etag
	m.set.Store(set)
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(set)
	}
	ids := make([]string, len(set.Keys))
	for i, k := range set.Keys {
		ids[i] = k.ID + ":" + k.State
	}
	m.log.InfoContext(ctx, "signing keys: in force", "keys", strings.Join(ids, " "))
	return nil
}

func (s *Set) signerOf(kid string) crypto.Signer {
	if s == nil {
		return nil
	}
	for _, k := range s.Keys {
		if k.ID == kid {
			return k.signer
		}
	}
	return nil
}

// same reports whether s and o hold the same keys in the same states.
func (s *Set) same(o *Set) bool {
	if s == nil || len(s.Keys) != len(o.Keys) {
		return false
	}
	for i := range s.Keys {
		a, b := &s.Keys[i], &o.Keys[i]
		if a.ID != b.ID || a.State != b.State || (a.signer == nil) != (b.signer == nil) {
			return false
		}
	}
	return true
}

// Info describes a stored key for `gatehouse keys list`.
type Info struct {
	ID          string    `json:"kid"`
	Algorithm   string    `json:"alg"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"created_at"`             // published from then
	ActivatedAt time.Time `json:"activated_at,omitzero"`  // signing from then
	RetiredAt   time.Time `json:"retired_at,omitzero"`    // signing until then
	RetireUntil time.Time `json:"retire_until,omitzero"`  // published and verifying until then
	Promotable  time.Time `json:"promotable_at,omitzero"` // next keys: the earliest rotation without force
}

// List returns every stored key, read from the store (not the set in
// force): for `gatehouse keys list`.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	stored, err := m.cfg.Store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list: %w", err)
	}
	out := make([]Info, len(stored))
	for i, k := range stored {
		out[i] = Info{ID: k.ID, Algorithm: k.Algorithm, State: k.State, CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt,
			RetiredAt: k.RetiredAt, RetireUntil: k.RetireUntil}
		if k.State == gatehouse.KeyNext {
			out[i].Promotable = m.promotable(&k)
		}
	}
	return out, nil
}

// Reseal seals every stored private key again under the Sealer's current
// key, for `gatehouse reseal` after the encryption key changed: once none
// is left under the old key, that key can be dropped without making a
// signing key unreadable (contract §10). When the Sealer can tell
// (NeedsReseal, as totp.Sealer does), keys already under the current key
// are left alone. A key changed meanwhile is skipped: the change wins.
// It returns how many keys it resealed.
func (m *Manager) Reseal(ctx context.Context) (int, error) {
	stored, err := m.cfg.Store.SigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("keys: reseal: %w", err)
	}
	needs, _ := m.cfg.Sealer.(interface{ NeedsReseal(string) bool })
	n := 0
	for _, k := range stored {
		if needs != nil && !needs.NeedsReseal(k.Sealed) {
			continue
		}
		der, err := m.cfg.Sealer.Open(k.Sealed, []byte(k.ID))
		if err != nil {
			return n, fmt.Errorf("keys: reseal %s: %w", k.ID, err)
		}
		sealed := m.cfg.Sealer.Seal(der, []byte(k.ID))
		clear(der)
		ok, err := m.cfg.Store.ResealSigningKey(ctx, k.ID, k.Sealed, sealed)
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			continue // purged meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("keys: reseal %s: %w", k.ID, err)
		}
		if ok {
			n++
		}
	}
	return n, nil
}
