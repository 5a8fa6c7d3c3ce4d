package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/rbac"
)

// MaxKeyNameLength is the longest API key name, in characters.
const MaxKeyNameLength = 100

// DefaultMaxAPIKeys is how many live (active, unexpired) API keys a user
// may hold at once unless Config.MaxAPIKeys says otherwise: enough for any
// real use, and a bound on what one leaked token can mint before anyone
// notices.
const DefaultMaxAPIKeys = 100

// keyFlushInterval is how often buffered last-use times reach the store:
// last_used_at is a hint for humans, not worth a write per request.
const keyFlushInterval = 10 * time.Second

var errBadKey = &gatehouse.Error{Code: gatehouse.EFORBIDDEN, Message: "Invalid API key"}

// keyPepper checks the configured pepper, or makes one when none is set:
// unset means safe, so keys then work for the life of this Service rather
// than under a built-in secret.
func keyPepper(p []byte) ([]byte, error) {
	switch {
	case len(p) == 0:
		p = make([]byte, 32)
		rand.Read(p)
	case len(p) < 32:
		return nil, errors.New("auth: KeyPepper must be at least 32 bytes")
	}
	return p, nil
}

// keyUses buffers the last-use times of API keys: last_used_at is a
// hint for humans, not worth a write per request (see FlushKeyUses).
type keyUses struct {
	mu   sync.Mutex
	used map[int64]time.Time // key id → last use not yet stored
}

// errNoKey is the key cache's answer for a lookup id remembered as missing.
var errNoKey = gatehouse.Errorf(gatehouse.ENOTFOUND, "API key not found")

// newKeyCache returns the cache of API keys by lookup id. Lookup ids the
// store did not have are remembered, so a client retrying a key that
// never existed, or whose owner was deleted, reads the database once: a
// lookup id is 95 random bits chosen when its key is created and shown to
// no one before it is stored, so none can be asked for, found missing, and
// then created.
func newKeyCache(store gatehouse.APIKeyStore, max int) *cache[string, *gatehouse.APIKey] {
	return newCache(max, store.APIKeyByLookup, func(k *gatehouse.APIKey) int64 { return k.ID }, errNoKey)
}

// DefaultKeyMissLimit is how many database reads of API keys that turn
// out not to exist one client may cause: a real client presents a few
// keys, found once and then served from memory; a typo or a revoked key
// is remembered after its first read. Ten a minute is room for any of
// them, and bounds what fresh random keys can cost.
var DefaultKeyMissLimit = ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 10}

// keyLookups is the API key store as the key cache reads it (issue 9
// finding 9): each read that finds no key counts against the client of
// the request (ctx's RequestInfo; its IPv4 address or IPv6 /64), and a
// client over Config.KeyMissLimit gets RateLimitError — 429 with
// Retry-After — for every key the cache does not already hold, without a
// read, until its allowance refills. Taken before the read, refunded when
// the key was found (or could not be looked for), so parallel random keys
// cannot all pass and real keys never count. A call with no client (the
// CLI, a library user) is not throttled.
//
// 429 rather than the contract's 403 "Invalid API key": the key was not
// looked at, and may be valid — a real client behind the same address
// whose key is not in memory yet must be told to retry, not that its key
// is bad.
type keyLookups struct {
	gatehouse.APIKeyStore
	misses *ratelimit.Limiter
	s      *Service
}

// APIKeyByLookup implements the read the key cache makes.
func (l keyLookups) APIKeyByLookup(ctx context.Context, lookupID string) (*gatehouse.APIKey, error) {
	client := gatehouse.RequestInfoFrom(ctx).ClientAddr
	if !client.IsValid() {
		return l.APIKeyStore.APIKeyByLookup(ctx, lookupID)
	}
	key := "apikey-miss:" + ratelimit.AddrKey(client)
	res, err := l.misses.Allow(ctx, key)
	if err != nil {
		return nil, &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Rate limiter unavailable", Err: err}
	}
	if !res.Allowed {
		l.s.met.RateLimited("api_key_lookup")
		l.s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRateLimited, Outcome: gatehouse.OutcomeFailure,
			Detail: "api_key_lookup"})
		return nil, &RateLimitError{RetryAfter: res.RetryAfter}
	}
	k, err := l.APIKeyStore.APIKeyByLookup(ctx, lookupID)
	if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND { // found, or not looked for: no miss
		if rerr := l.misses.Refund(ctx, key); rerr != nil {
			l.s.log.WarnContext(ctx, "api key miss limit refund failed", "err", rerr)
		}
	}
	return k, err
}

// APIKeyChanged drops key id from the cache, so its next use reads the
// store: the change-feed watcher and the Redis bus call it for keys
// deactivated by another process. An id of 0 names no key.
func (s *Service) APIKeyChanged(id int64) {
	if id != 0 {
		s.keys.invalidate(id)
	}
}

// AuthenticateKey verifies an API key and returns who it acts for, with the
// key's scopes cut down to what its owner may hold now (a demotion takes
// effect on keys at once). It implements guard.KeyAuthenticator.
//
// Everything runs from memory once the key is cached: the key, its owner
// (the user cache) and its last use (buffered, see FlushKeyUses). An
// unknown, wrong, inactive or expired key, or one whose owner is gone or
// disabled, gets 403 "Invalid API key" (contract §5), whichever it was,
// and is audited as api_key_refused.
func (s *Service) AuthenticateKey(ctx context.Context, key string) (*gatehouse.Principal, error) {
	p, err := s.authenticateKey(ctx, key)
	if err != nil {
		s.met.APIKeyAuth("failure")
		if err == errBadKey { // a refusal, not a store failure
			s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventAPIKeyRefused, Outcome: gatehouse.OutcomeFailure})
		}
		return nil, err
	}
	s.met.APIKeyAuth("success")
	return p, nil
}

func (s *Service) authenticateKey(ctx context.Context, key string) (*gatehouse.Principal, error) {
	lookup, secret, ok := apikey.Parse(key)
	if !ok {
		return nil, errBadKey
	}
	k, err := s.keys.get(ctx, lookup)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !apikey.Verify(s.cfg.KeyPepper, secret, k.SecretHash) || !k.Active ||
		!k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return nil, errBadKey
	}
	u, err := s.users.get(ctx, k.UserID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		s.APIKeyChanged(k.ID) // the owner was deleted, and the key with them
		return nil, errBadKey
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errBadKey
	}
	s.keyUses.mu.Lock()
	if s.keyUses.used == nil {
		s.keyUses.used = make(map[int64]time.Time)
	}
	s.keyUses.used[k.ID] = now
	s.keyUses.mu.Unlock()
	return &gatehouse.Principal{User: &u.User, Snapshot: u.snap, Scope: rbac.Restrict(u.Role, k.Scope), ExpiresAt: k.ExpiresAt,
		APIKeyID: k.ID, KeyName: k.Name}, nil
}

// CreateAPIKey makes a key for p's user and returns it — the only time the
// key exists outside the caller's hands; the store keeps a hash.
//
// The key's scopes are the requested ones (space-separated), all of which
// p must hold: a credential cannot mint a more powerful one, so a token
// narrowed to read:items yields read:items keys at most. With none
// requested the key gets all of p's scopes. expiresAt, when not zero, must
// be in the future. The CLI, acting for a user with no token, passes a
// principal holding everything the user's role allows.
func (s *Service) CreateAPIKey(ctx context.Context, p *gatehouse.Principal, name, scopes string, expiresAt time.Time) (string, *gatehouse.APIKey, error) {
	if err := validateKeyName(name); err != nil {
		return "", nil, err
	}
	u := p.User
	held := rbac.Restrict(u.Role, p.Scope)
	scope := held
	if strings.TrimSpace(scopes) != "" {
		var err error
		if scope, err = chooseScopes(held, scopes); err != nil {
			return "", nil, err
		}
	}
	now := s.now()
	if !expiresAt.IsZero() && !expiresAt.After(now) {
		return "", nil, gatehouse.Invalid([]string{"body", "expires_at"}, "Must be in the future", "value_error.datetime")
	}
	key, lookup, secret := apikey.Generate()
	k := &gatehouse.APIKey{UserID: u.ID, Name: name, LookupID: lookup, SecretHash: apikey.Hash(s.cfg.KeyPepper, secret),
		Scope: scope, CreatedAt: now.UTC().Truncate(time.Second), ExpiresAt: expiresAt.UTC(), Active: true}
	if err := s.cfg.Store.CreateAPIKey(ctx, k, s.cfg.MaxAPIKeys); err != nil {
		return "", nil, fmt.Errorf("auth: create api key: %w", err)
	}
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventAPIKeyCreated, Outcome: gatehouse.OutcomeSuccess,
		UserID: u.ID, Detail: fmt.Sprintf("key %d, scope %q", k.ID, k.Scope)})
	return key, k, nil
}

func validateKeyName(name string) error {
	loc := []string{"body", "name"}
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name):
		return gatehouse.Invalid(loc, "Name must be valid UTF-8", "value_error")
	case strings.TrimSpace(name) == "":
		return gatehouse.Invalid(loc, "Name must not be blank", "value_error")
	case n > MaxKeyNameLength:
		return gatehouse.Invalid(loc, "Name must be at most 100 characters", "value_error")
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }):
		return gatehouse.Invalid(loc, "Name must not contain control characters", "value_error")
	}
	return nil
}

// chooseScopes returns the requested scopes in canonical order, refusing
// an unknown one (422) and one beyond held (403).
func chooseScopes(held, requested string) (string, error) {
	fields := strings.Fields(requested)
	for _, f := range fields {
		if !slices.Contains(rbac.KnownScopes, f) {
			return "", gatehouse.Invalid([]string{"body", "scopes"}, fmt.Sprintf("Unknown scope %q", f), "value_error.scope")
		}
		if !gatehouse.HasScope(held, f) {
			return "", gatehouse.Errorf(gatehouse.EFORBIDDEN, "Scope %q is not yours to grant", f)
		}
	}
	var out []string
	for _, known := range rbac.KnownScopes {
		if slices.Contains(fields, known) {
			out = append(out, known)
		}
	}
	return strings.Join(out, " "), nil
}

// ListAPIKeys returns a user's keys, newest first, with last-use times not
// yet stored filled in.
func (s *Service) ListAPIKeys(ctx context.Context, userID int64) ([]*gatehouse.APIKey, error) {
	keys, err := s.cfg.Store.APIKeysByUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("auth: list api keys: %w", err)
	}
	s.keyUses.mu.Lock()
	for _, k := range keys {
		if t, ok := s.keyUses.used[k.ID]; ok && t.After(k.LastUsedAt) {
			k.LastUsedAt = t
		}
	}
	s.keyUses.mu.Unlock()
	return keys, nil
}

var errKeyNotFound = &gatehouse.Error{Code: gatehouse.ENOTFOUND, Message: "API key not found"}

// RevokeAPIKey deactivates key id on p's behalf. p may revoke its user's
// own keys; an admin (write:users with the admin scope, as for the user
// admin API) may revoke anyone's. A key p may not revoke is ENOTFOUND, as a
// key that does not exist: its existence is not p's to learn.
func (s *Service) RevokeAPIKey(ctx context.Context, p *gatehouse.Principal, id int64) error {
	own, err := s.cfg.Store.APIKeysByUser(ctx, p.User.ID)
	if err != nil {
		return fmt.Errorf("auth: revoke api key: %w", err)
	}
	owner := p.User.ID
	if !slices.ContainsFunc(own, func(k *gatehouse.APIKey) bool { return k.ID == id }) {
		if !rbac.HasPermission(p.User, gatehouse.PermWriteUsers) || !p.HasScope(gatehouse.ScopeAdmin) {
			return errKeyNotFound
		}
		owner = 0 // someone else's: the store does not say whose
	}
	return s.DeactivateAPIKey(ctx, id, owner)
}

// DeactivateAPIKey deactivates key id at once, on this instance and,
// through the change feed (and the Broadcaster, if it relays keys), on
// every other, with no permission check: RevokeAPIKey makes that check,
// the CLI is the operator. ownerID, when known, goes into the audit
// record. ENOTFOUND when there is no such key.
func (s *Service) DeactivateAPIKey(ctx context.Context, id, ownerID int64) error {
	if err := s.cfg.Store.DeactivateAPIKey(ctx, id); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			return errKeyNotFound
		}
		return fmt.Errorf("auth: revoke api key: %w", err)
	}
	s.APIKeyChanged(id)
	if s.bcast != nil {
		if err := s.bcast.PublishAPIKeyChanged(ctx, id); err != nil {
			// Durable already; other instances see it at their next poll.
			s.log.WarnContext(ctx, "api key change broadcast failed", "err", err)
		}
	}
	s.auditUser(ctx, gatehouse.EventAPIKeyRevoked, ownerID, fmt.Sprintf("key %d", id))
	return nil
}

// FlushKeyUses stores the buffered last-use times of keys in one batch. On
// failure they are kept for the next flush.
func (s *Service) FlushKeyUses(ctx context.Context) error {
	s.keyUses.mu.Lock()
	used := s.keyUses.used
	s.keyUses.used = nil
	s.keyUses.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	err := s.cfg.Store.TouchAPIKeys(ctx, used)
	if err == nil {
		return nil
	}
	s.keyUses.mu.Lock()
	if s.keyUses.used == nil {
		s.keyUses.used = used
	} else {
		for id, t := range used {
			if t.After(s.keyUses.used[id]) {
				s.keyUses.used[id] = t
			}
		}
	}
	s.keyUses.mu.Unlock()
	return fmt.Errorf("auth: flush api key uses: %w", err)
}

// RunKeyFlusher calls FlushKeyUses every 10 seconds until ctx ends. Call
// FlushKeyUses once more after the server has stopped, before the store
// closes, so that a clean shutdown loses no last-use time.
func (s *Service) RunKeyFlusher(ctx context.Context) {
	s.every(ctx, keyFlushInterval, "api key last-use flush", s.FlushKeyUses)
}
