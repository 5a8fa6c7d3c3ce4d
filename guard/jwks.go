package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/token"
)

// JWKS verifies Gatehouse's access tokens in the service's own process,
// with the public keys Gatehouse publishes at /.well-known/jwks.json: no
// call to Gatehouse per request (a cached token costs well under a
// microsecond), and no secret that could mint tokens. It implements
// TokenAuthenticator:
//
//	v, err := guard.NewJWKS("https://auth.example.com", guard.JWKSOptions{Audience: "gatehouse"})
//	g := guard.New(v, nil, logger)
//
// A token naming a key it does not know makes it fetch the key set again
// (rotation), at most once per JWKSOptions.MinRefetch however many such
// tokens arrive, all of them waiting for the one fetch; the set is also
// refreshed in the background when its Cache-Control max-age has passed.
// Only asymmetric keys are taken from the set, so an HS256 token is never
// accepted, whatever its header says.
//
// What a token alone cannot tell is left out: the principal's user has an
// ID but no name, role or permissions (so MinRole and Permission refuse).
// Logouts, and users disabled, deleted or demoted, reach the service
// through the revocation stream (JWKSOptions.Revocations); without it,
// only when the token expires. Use Remote where a user's role or
// permissions matter.
type JWKS struct {
	issuer, url string
	opts        JWKSOptions
	client      *http.Client
	log         *slog.Logger

	tokens    atomic.Pointer[token.Manager]
	refreshAt atomic.Int64 // Unix nanoseconds: when the set's max-age runs out

	mu       sync.Mutex
	last     time.Time  // when the last fetch started
	inflight *fetchCall // the fetch under way, shared by every caller
}

// JWKSOptions configures a JWKS authenticator.
type JWKSOptions struct {
	// Audience is the aud the tokens must carry (required): Gatehouse's
	// configured audience.
	Audience string
	// JWKSURL is where the key set is fetched; default: the issuer +
	// "/.well-known/jwks.json". It must be on the issuer's host.
	JWKSURL string
	// Client fetches the key set; default: one with a 5-second timeout. A
	// redirect is followed only to the same scheme and host.
	Client *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat (at most 60 s);
	// default 30 s.
	Leeway time.Duration
	// MinRefetch is the least time between two fetches of the key set;
	// default 5 s.
	MinRefetch time.Duration
	// Revocations, if set, follows Gatehouse's revocation stream: every
	// token that verified is refused if it, its login session or its user
	// has been revoked, disabled or deleted since, and its scopes are cut
	// to what a demoted user may still hold (see Revocations). Without it,
	// a logout reaches this service only when the token expires.
	Revocations *Revocations
	// Revoked, if set, is asked about every token that verified, with its
	// jti and sid: true refuses it (401 "Token has been revoked"). A seam
	// for a revocation source of one's own.
	Revoked func(jti, sid string) bool
	Now     func() time.Time
	Logger  *slog.Logger
}

// Bounds of the key set and of its refresh.
const (
	maxJWKSBytes      = 256 << 10
	maxJWKSKeys       = 64
	defaultJWKSMaxAge = 5 * time.Minute
	maxJWKSMaxAge     = 24 * time.Hour
	fetchTimeout      = 30 * time.Second // whatever the client's own timeout
)

var (
	errJWKSBadToken = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: "Could not validate credentials"}
	errJWKSRevoked  = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_token", Message: "Token has been revoked"}
	errRefetchSoon  = errors.New("guard: key set fetched moments ago")
)

var _ TokenAuthenticator = (*JWKS)(nil)

// NewJWKS returns a JWKS authenticator for the Gatehouse whose issuer (its
// GATEHOUSE_PUBLIC_URL, the tokens' exact iss) is issuer. It fetches
// nothing yet: the first request, or Refresh, does.
func NewJWKS(issuer string, opts JWKSOptions) (*JWKS, error) {
	if opts.Audience == "" {
		return nil, errors.New("guard: JWKSOptions.Audience is required")
	}
	ju, err := issuerEndpoint(issuer, "/.well-known/jwks.json", opts.JWKSURL, "JWKS URL")
	if err != nil {
		return nil, err
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.MinRefetch <= 0 {
		opts.MinRefetch = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	j := &JWKS{issuer: issuer, url: ju.String(), opts: opts, log: opts.Logger}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	c := http.Client{Timeout: 5 * time.Second}
	if opts.Client != nil {
		c = *opts.Client
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 || req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
			return http.ErrUseLastResponse
		}
		return nil
	}
	j.client = &c
	return j, nil
}

// issuerEndpoint returns the URL of one of the issuer's endpoints: path
// under the issuer, or override when set, which must then be on the
// issuer's host (what would a token trust, fetched from elsewhere?).
func issuerEndpoint(issuer, path, override, what string) (*url.URL, error) {
	iu, err := checkURL(issuer)
	if err != nil {
		return nil, fmt.Errorf("guard: issuer: %w", err)
	}
	if override == "" {
		return iu.JoinPath(path), nil
	}
	u, err := checkURL(override)
	if err != nil {
		return nil, fmt.Errorf("guard: %s: %w", what, err)
	}
	if u.Host != iu.Host {
		return nil, fmt.Errorf("guard: the %s must be on the issuer's host", what)
	}
	return u, nil
}

func checkURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("want http(s)://host[:port][/path], without user:password@, query or fragment")
	}
	return u, nil
}

// Authenticate implements TokenAuthenticator.
func (j *JWKS) Authenticate(ctx context.Context, bearer string) (*gatehouse.Principal, error) {
	m := j.tokens.Load()
	if m == nil {
		if err := j.fetch(ctx); err != nil && !errors.Is(err, errRefetchSoon) {
			j.log.WarnContext(ctx, "guard: key set unavailable", "url", j.url, "err", err)
		}
		if m = j.tokens.Load(); m == nil {
			return nil, &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "Authentication keys unavailable"}
		}
	}
	// Stale: one request starts a refresh in the background (the CAS
	// picks it, and spaces retries by MinRefetch if it fails); the set in
	// force serves meanwhile.
	if now, at := j.opts.Now().UnixNano(), j.refreshAt.Load(); now >= at &&
		j.refreshAt.CompareAndSwap(at, now+int64(j.opts.MinRefetch)) {
		go j.fetch(context.Background())
	}
	c, err := m.Verify(bearer)
	if errors.Is(err, token.ErrUnknownKey) {
		// A key published since the last fetch (a rotation), or a forgery:
		// fetch again, unless that happened moments ago.
		if ferr := j.fetch(ctx); ferr == nil {
			c, err = j.tokens.Load().Verify(bearer)
		}
	}
	if err != nil {
		return nil, errJWKSBadToken
	}
	if j.opts.Revocations != nil {
		if c.Scope, err = j.opts.Revocations.Check(c.ID, c.SessionID, c.Subject, c.Scope); err != nil {
			return nil, err
		}
	}
	if j.opts.Revoked != nil && j.opts.Revoked(c.ID, c.SessionID) {
		return nil, errJWKSRevoked
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		return nil, errJWKSBadToken
	}
	return &gatehouse.Principal{User: &gatehouse.User{ID: id}, Scope: c.Scope, TokenID: c.ID,
		SessionID: c.SessionID, ExpiresAt: time.Unix(c.ExpiresAt, 0)}, nil
}

// Refresh fetches the key set now, unless it was fetched less than
// MinRefetch ago: e.g. at start, to fail early when Gatehouse is
// unreachable.
func (j *JWKS) Refresh(ctx context.Context) error { return j.fetch(ctx) }

type fetchCall struct {
	done chan struct{}
	err  error
}

// fetch fetches and installs the key set. Concurrent callers share one
// fetch, each waiting at most until its ctx ends; a fetch starts at most
// once per MinRefetch (errRefetchSoon otherwise), so a storm of tokens with
// unknown kids, or an unreachable Gatehouse, costs one request per
// MinRefetch.
func (j *JWKS) fetch(ctx context.Context) error {
	j.mu.Lock()
	c := j.inflight
	if c == nil {
		now := j.opts.Now()
		if !j.last.IsZero() && now.Sub(j.last) < j.opts.MinRefetch {
			j.mu.Unlock()
			return errRefetchSoon
		}
		j.last = now
		c = &fetchCall{done: make(chan struct{})}
		j.inflight = c
		go func() {
			// Not the caller's ctx: the fetch serves every waiter.
			ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
			c.err = j.load(ctx)
			cancel()
			j.mu.Lock()
			j.inflight = nil
			j.mu.Unlock()
			close(c.done)
		}()
	}
	j.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// load fetches the key set and installs its usable keys.
func (j *JWKS) load(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return fmt.Errorf("guard: fetch key set: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := j.client.Do(req)
	if err != nil {
		return fmt.Errorf("guard: fetch key set: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("guard: fetch key set: %s answered %d", j.url, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("guard: fetch key set: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("guard: key set larger than %d bytes", maxJWKSBytes)
	}
	keys, err := j.parse(body)
	if err != nil {
		return err
	}
	if m := j.tokens.Load(); m != nil {
		err = m.SetKeys(keys)
	} else {
		m, err = token.NewManager(token.Config{Keys: keys, Issuer: j.issuer, Audience: j.opts.Audience,
			Leeway: j.opts.Leeway, Now: j.opts.Now})
		if err == nil {
			j.tokens.Store(m)
		}
	}
	if err != nil {
		return fmt.Errorf("guard: key set: %w", err)
	}
	j.refreshAt.Store(j.opts.Now().Add(maxAge(res.Header.Get("Cache-Control"), j.opts.MinRefetch)).UnixNano())
	return nil
}

// parse returns the usable keys of a JSON Web Key Set: public RS256, ES256
// and EdDSA signing keys with a kid. Anything else — symmetric or private
// keys, other uses and types, a key whose alg does not fit it — is left
// out, so one odd key does not make the whole set unusable.
func (j *JWKS) parse(body []byte) ([]token.Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("guard: key set: %w", err)
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("guard: key set of %d keys; at most %d", len(set.Keys), maxJWKSKeys)
	}
	var keys []token.Key
	seen := map[string]bool{}
	for _, raw := range set.Keys {
		var members map[string]json.RawMessage
		if json.Unmarshal(raw, &members) != nil {
			continue
		}
		private := false
		for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"} {
			_, has := members[p]
			private = private || has
		}
		var jwk jose.JSONWebKey
		// Private material is screened out before go-jose parses it.
		if private || jwk.UnmarshalJSON(raw) != nil || jwk.KeyID == "" || !jwk.IsPublic() || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		k := token.Key{ID: jwk.KeyID, Public: jwk.Key}
		if alg := k.Algorithm(); alg == "" || (jwk.Algorithm != "" && jwk.Algorithm != alg) || seen[k.ID] {
			continue
		}
		seen[k.ID] = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("guard: the key set holds no usable key")
	}
	return keys, nil
}

// maxAge returns the Cache-Control max-age of a response, clamped to
// [floor, 24h]; defaultJWKSMaxAge when there is none.
func maxAge(cc string, floor time.Duration) time.Duration {
	d := defaultJWKSMaxAge
	for _, dir := range strings.Split(cc, ",") {
		name, v, _ := strings.Cut(strings.TrimSpace(dir), "=")
		if strings.EqualFold(name, "max-age") {
			if n, err := strconv.ParseInt(string(bytes.Trim([]byte(v), `"`)), 10, 64); err == nil && n >= 0 {
				d = time.Duration(min(n, int64(maxJWKSMaxAge/time.Second))) * time.Second
			}
		}
		if strings.EqualFold(name, "no-cache") || strings.EqualFold(name, "no-store") {
			d = 0
		}
	}
	return min(max(d, floor), maxJWKSMaxAge)
}
