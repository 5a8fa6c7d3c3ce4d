package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
	"github.com/gatehouse/gatehouse/totp"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// setClock moves clk to t.
func setClock(clk *fakeclock.Clock, t time.Time) { clk.Advance(t.Sub(clk.Now())) }

const (
	rotation = 30 * 24 * time.Hour
	maxAge   = time.Hour
	poll     = 10 * time.Second
	lifetime = 16 * time.Minute // a 15-minute access token and a minute of leeway
)

func newStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newSealer(t *testing.T, seed byte) *totp.Sealer {
	t.Helper()
	s, err := totp.NewSealer(bytes.Repeat([]byte{seed}, totp.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// instance is one Gatehouse instance: a key manager wired into a token
// manager, as the server wires them.
type instance struct {
	keys   *keys.Manager
	tokens *token.Manager
}

func newInstance(t *testing.T, store gatehouse.SigningKeyStore, clk *fakeclock.Clock, cfg keys.Config) *instance {
	t.Helper()
	in := &instance{}
	cfg.Store, cfg.Now = store, clk.Now
	if cfg.Sealer == nil {
		cfg.Sealer = newSealer(t, 1)
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = []string{token.EdDSA} // fast to generate
	}
	cfg.MaxAge, cfg.Poll, cfg.TokenLifetime = maxAge, poll, lifetime
	if cfg.Rotation == 0 {
		cfg.Rotation = rotation
	} else if cfg.Rotation < 0 {
		cfg.Rotation = 0
	}
	cfg.OnChange = func(s *keys.Set) {
		tk, err := s.TokenKeys(cfg.Algorithms[0], nil)
		if err != nil {
			t.Errorf("TokenKeys: %v", err)
			return
		}
		if in.tokens == nil {
			in.tokens, err = token.NewManager(token.Config{Keys: tk, Issuer: "https://gh.test", Audience: "gatehouse", Now: clk.Now})
		} else {
			err = in.tokens.SetKeys(tk)
		}
		if err != nil {
			t.Errorf("token keys: %v", err)
		}
	}
	m, err := keys.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in.keys = m
	return in
}

func (in *instance) refresh(t *testing.T) {
	t.Helper()
	if err := in.keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (in *instance) issue(t *testing.T, clk *fakeclock.Clock) string {
	t.Helper()
	now := clk.Now()
	tok, err := in.tokens.Issue(token.Claims{Subject: "1", IssuedAt: now.Unix(), ExpiresAt: now.Add(15 * time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Kid string }
	json.Unmarshal(h, &v)
	return v.Kid
}

// states returns "kid:state" of the set in force, and checks that the
// JWKS served holds exactly its keys.
func states(t *testing.T, m *keys.Manager) map[string]string {
	t.Helper()
	out := map[string]string{}
	set := m.Keys()
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(set.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) != len(set.Keys) {
		t.Fatalf("JWKS has %d keys, the set %d", len(jwks.Keys), len(set.Keys))
	}
	for i, k := range set.Keys {
		out[k.ID] = k.State
		if jwks.Keys[i].KeyID != k.ID {
			t.Errorf("JWKS key %d is %s, want %s", i, jwks.Keys[i].KeyID, k.ID)
		}
	}
	return out
}

func TestFirstRefreshCreatesASigningAndAPublishedKey(t *testing.T) {
	clk := fakeclock.New(t0)
	store := newStore(t)
	in := newInstance(t, store, clk, keys.Config{Algorithms: []string{token.RS256, token.ES256}})
	if in.keys.Keys() != nil {
		t.Fatal("a key set before the first Refresh")
	}
	in.refresh(t)
	set := in.keys.Keys()
	if len(set.Keys) != 4 {
		t.Fatalf("%d keys, want a current and a next key for each of two algorithms", len(set.Keys))
	}
	for i, want := range []struct{ alg, state string }{{token.RS256, "current"}, {token.ES256, "current"}, {token.RS256, "next"}, {token.ES256, "next"}} {
		if k := set.Keys[i]; k.Algorithm != want.alg || k.State != want.state {
			t.Errorf("key %d: %s %s, want %s %s", i, k.Algorithm, k.State, want.alg, want.state)
		}
	}
	// The current key signs at once: nobody cached a key set before it.
	tok := in.issue(t, clk)
	if kidOf(t, tok) != set.Current(token.RS256).ID {
		t.Errorf("signed by %s, want the current RS256 key", kidOf(t, tok))
	}
	// The kid is the RFC 7638 thumbprint; the JWKS holds public keys only.
	var jwks struct{ Keys []map[string]any }
	json.Unmarshal(set.JWKS(), &jwks)
	for i, k := range jwks.Keys {
		jk := jose.JSONWebKey{Key: set.Keys[i].Public}
		sum, _ := jk.Thumbprint(crypto.SHA256)
		if k["kid"] != base64.RawURLEncoding.EncodeToString(sum) || k["use"] != "sig" || k["alg"] != set.Keys[i].Algorithm {
			t.Errorf("JWK %v: kid, use or alg wrong", k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWK %s carries private member %q", k["kid"], private)
			}
		}
	}
	// A second instance finds the keys and creates none.
	other := newInstance(t, store, clk, keys.Config{Algorithms: []string{token.RS256, token.ES256}})
	other.refresh(t)
	if string(other.keys.Keys().JWKS()) != string(set.JWKS()) {
		t.Error("a second instance serves another key set")
	}
	if _, err := other.tokens.Verify(tok); err != nil {
		t.Errorf("the second instance refuses the first's token: %v", err)
	}
}

func TestTheDatabaseAloneYieldsNoKey(t *testing.T) {
	clk := fakeclock.New(t0)
	store := newStore(t)
	in := newInstance(t, store, clk, keys.Config{})
	in.refresh(t)
	stored, err := store.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		for _, candidate := range [][]byte{[]byte(k.Sealed), decodeAny(k.Sealed)} {
			if _, err := x509.ParsePKCS8PrivateKey(candidate); err == nil {
				t.Errorf("the stored private part of %s parses as a key", k.ID)
			}
		}
	}
	// Another encryption key opens nothing: the instance refuses to start
	// with keys it cannot use rather than make new ones.
	wrong := newInstance(t, store, clk, keys.Config{Sealer: newSealer(t, 2)})
	if err := wrong.keys.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "encryption key") {
		t.Errorf("Refresh with another sealing key: %v, want an error naming the encryption key", err)
	}
	// A sealed key moved to another key's row does not open there.
	swapped := newInstance(t, swapSealed{store}, clk, keys.Config{})
	if err := swapped.keys.Refresh(context.Background()); err == nil {
		t.Error("a private key sealed for another kid opened")
	}
}

// decodeAny returns the base64url part of a sealed value, decoded.
func decodeAny(sealed string) []byte {
	parts := strings.Split(sealed, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[len(parts)-1])
	return b
}

// swapSealed is a store whose current and next keys have swapped sealed
// private parts, as an attacker with write access to the database could.
type swapSealed struct{ *sqlite.DB }

func (s swapSealed) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	ks, err := s.DB.SigningKeys(ctx)
	if len(ks) == 2 {
		ks[0].Sealed, ks[1].Sealed = ks[1].Sealed, ks[0].Sealed
	}
	return ks, err
}

func TestRotationMovesKeysThroughTheirStates(t *testing.T) {
	clk := fakeclock.New(t0)
	in := newInstance(t, newStore(t), clk, keys.Config{})
	in.refresh(t)
	a, b := in.keys.Keys().Keys[0].ID, in.keys.Keys().Keys[1].ID
	tokA := in.issue(t, clk)

	setClock(clk, t0.Add(rotation-time.Second))
	in.refresh(t)
	if s := states(t, in.keys); s[a] != "current" || s[b] != "next" || len(s) != 2 {
		t.Fatalf("before the rotation is due: %v", s)
	}

	rotatedAt := t0.Add(rotation)
	setClock(clk, rotatedAt)
	in.refresh(t)
	s := states(t, in.keys)
	if s[a] != "retired" || s[b] != "current" || len(s) != 3 {
		t.Fatalf("after the rotation: %v; want %s retired, %s current and a new next", s, a, b)
	}
	var c string
	for id, st := range s {
		if st == "next" {
			c = id
		}
	}
	if kidOf(t, in.issue(t, clk)) != b {
		t.Error("the promoted key does not sign")
	}
	// A token of the retired key stays valid until it expires.
	setClock(clk, t0.Add(14*time.Minute))
	if _, err := in.tokens.Verify(tokA); err != nil {
		t.Errorf("a live token of the retired key: %v", err)
	}
	retired := in.keys.Keys().Keys[2]
	if want := rotatedAt.Add(lifetime + poll); retired.ID != a || !retired.RetireUntil.Equal(want) {
		t.Errorf("retired key %s until %v, want %s until %v", retired.ID, retired.RetireUntil, a, want)
	}

	// Past retire-until the key leaves the set, the JWKS and the store.
	setClock(clk, rotatedAt.Add(lifetime+poll+time.Second))
	in.refresh(t)
	if s := states(t, in.keys); len(s) != 2 || s[b] != "current" || s[c] != "next" {
		t.Fatalf("after retire-until: %v", s)
	}
	if _, err := in.tokens.Verify(tokA); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("a token of a purged key: %v, want ErrUnknownKey", err)
	}
	list, err := in.keys.List(context.Background())
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d keys, %v; the retired key should be purged", len(list), err)
	}
}

func TestManualRotationWaitsForTheNextKeyToBePublished(t *testing.T) {
	clk := fakeclock.New(t0)
	in := newInstance(t, newStore(t), clk, keys.Config{Rotation: -1}) // manual only
	in.refresh(t)
	next := in.keys.Keys().Keys[1]
	ctx := context.Background()

	setClock(clk, t0.Add(maxAge)) // published for MaxAge, but instances poll
	err := in.keys.Rotate(ctx, "", false)
	var tooSoon *keys.TooSoonError
	if !errors.As(err, &tooSoon) || !tooSoon.At.Equal(t0.Add(maxAge+poll)) || tooSoon.Next != next.ID {
		t.Fatalf("Rotate too soon = %v, want a TooSoonError naming %s and %v", err, next.ID, t0.Add(maxAge+poll))
	}
	if !strings.Contains(err.Error(), t0.Add(maxAge+poll).Format(time.RFC3339)) {
		t.Errorf("the refusal does not say when: %v", err)
	}
	if s := states(t, in.keys); s[next.ID] != "next" {
		t.Fatalf("a refused rotation changed the keys: %v", s)
	}
	if err := in.keys.Rotate(ctx, "", true); err != nil { // an emergency
		t.Fatalf("Rotate with force: %v", err)
	}
	if s := states(t, in.keys); s[next.ID] != "current" {
		t.Fatalf("after a forced rotation: %v", s)
	}
	// The fresh next key is again not promotable at once; later it is.
	if err := in.keys.Rotate(ctx, token.EdDSA, false); !errors.As(err, &tooSoon) {
		t.Fatalf("Rotate right after a rotation = %v, want TooSoonError", err)
	}
	setClock(clk, t0.Add(3*maxAge))
	if err := in.keys.Rotate(ctx, token.EdDSA, false); err != nil {
		t.Fatalf("Rotate once published long enough: %v", err)
	}
	if err := in.keys.Rotate(ctx, token.RS256, false); err == nil {
		t.Error("Rotate of an algorithm not configured succeeded")
	}
	// Without a rotation period, time alone rotates nothing.
	cur := in.keys.Keys().Current("").ID
	setClock(clk, t0.Add(10*365*24*time.Hour))
	in.refresh(t)
	if in.keys.Keys().Current("").ID != cur {
		t.Error("a rotation happened with Rotation 0")
	}
}

// youngNext is a store whose next key reads as created at t: as if the
// instance that created it had a clock running behind.
type youngNext struct {
	*sqlite.DB
	t time.Time
}

func (s youngNext) SigningKeys(ctx context.Context) ([]gatehouse.SigningKey, error) {
	ks, err := s.DB.SigningKeys(ctx)
	for i := range ks {
		if ks[i].State == gatehouse.KeyNext {
			ks[i].CreatedAt = s.t
		}
	}
	return ks, err
}

func TestADueRotationWaitsForItsNextKeyToBePublished(t *testing.T) {
	clk := fakeclock.New(t0)
	store := newStore(t)
	newInstance(t, store, clk, keys.Config{}).refresh(t)
	published := t0.Add(rotation - 10*time.Minute)
	in := newInstance(t, youngNext{store, published}, clk, keys.Config{})
	in.refresh(t)
	cur := in.keys.Keys().Current("").ID
	setClock(clk, t0.Add(rotation)) // due, but the next key is 10 minutes old
	in.refresh(t)
	setClock(clk, published.Add(maxAge+poll-time.Second))
	in.refresh(t)
	if in.keys.Keys().Current("").ID != cur {
		t.Fatal("a next key signed before it had been published for MaxAge + Poll")
	}
	setClock(clk, published.Add(maxAge+poll))
	in.refresh(t)
	if in.keys.Keys().Current("").ID == cur {
		t.Fatal("no rotation once due and published long enough")
	}
}

// TestInstancesAgreeWithoutRestart runs two instances on one store: one
// rotates, the other keeps verifying everything and signs with the new key
// after its next refresh.
func TestInstancesAgreeWithoutRestart(t *testing.T) {
	clk := fakeclock.New(t0)
	store := newStore(t)
	a, b := newInstance(t, store, clk, keys.Config{}), newInstance(t, store, clk, keys.Config{})
	a.refresh(t)
	b.refresh(t)
	old := a.keys.Keys().Current("").ID

	setClock(clk, t0.Add(rotation))
	a.refresh(t) // a rotates; b has not looked yet
	fromA := a.issue(t, clk)
	fromB := b.issue(t, clk)
	if kidOf(t, fromA) == old || kidOf(t, fromB) != old {
		t.Fatalf("a signs with %s, b with %s; want a on the new key, b still on %s", kidOf(t, fromA), kidOf(t, fromB), old)
	}
	// b knew a's new current key as its next key, and a keeps b's retired key.
	if _, err := b.tokens.Verify(fromA); err != nil {
		t.Errorf("b refuses a's token signed with the promoted key: %v", err)
	}
	if _, err := a.tokens.Verify(fromB); err != nil {
		t.Errorf("a refuses b's token signed with the retired key: %v", err)
	}
	setClock(clk, t0.Add(rotation+poll))
	b.refresh(t)
	if kidOf(t, b.issue(t, clk)) != kidOf(t, fromA) {
		t.Error("b does not sign with the new key after its refresh")
	}
	if string(a.keys.Keys().JWKS()) != string(b.keys.Keys().JWKS()) {
		t.Error("the instances publish different key sets")
	}
}

// TestRacingInstancesRotateOnce has several instances start at once, then
// refresh at the moment a rotation falls due: the store's compare-and-set
// lets one create keys and one rotate. On SQLite, and on PostgreSQL when
// GATEHOUSE_TEST_POSTGRES_URL is set.
func TestRacingInstancesRotateOnce(t *testing.T) {
	stores := map[string]func(*testing.T) gatehouse.SigningKeyStore{
		"sqlite":   func(t *testing.T) gatehouse.SigningKeyStore { return newStore(t) },
		"postgres": postgresStore,
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			clk := fakeclock.New(t0)
			const n = 6
			var ins []*instance
			for range n {
				ins = append(ins, newInstance(t, store, clk, keys.Config{}))
			}
			var wg sync.WaitGroup
			for _, in := range ins {
				wg.Go(func() { in.refresh(t) })
			}
			wg.Wait()
			setClock(clk, t0.Add(rotation))
			for _, in := range ins {
				wg.Go(func() { in.refresh(t) })
			}
			wg.Wait()
			stored, err := store.SigningKeys(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, k := range stored {
				count[k.State]++
			}
			if count["current"] != 1 || count["next"] != 1 || count["retired"] != 1 || len(stored) != 3 {
				t.Fatalf("after racing starts and rotations: %v; want one key in each state", count)
			}
			for _, in := range ins[1:] {
				if string(in.keys.Keys().JWKS()) != string(ins[0].keys.Keys().JWKS()) {
					t.Fatal("instances disagree on the key set")
				}
			}
		})
	}
}

// postgresStore opens the test database in a fresh schema, or skips.
func postgresStore(t *testing.T) gatehouse.SigningKeyStore {
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("set GATEHOUSE_TEST_POSTGRES_URL to run on PostgreSQL")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "gh_keys_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestHS256AccessTokensWithAsymmetricIDTokens(t *testing.T) {
	clk := fakeclock.New(t0)
	store := newStore(t)
	hs := token.KeysFromSecrets(bytes.Repeat([]byte("s"), 32), nil)
	m, err := keys.New(keys.Config{Store: store, Sealer: newSealer(t, 1), Algorithms: []string{token.ES256},
		TokenLifetime: lifetime, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tk, err := m.Keys().TokenKeys(token.HS256, hs)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := token.NewManager(token.Config{Keys: tk, Issuer: "https://gh.test", Audience: "gatehouse", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if tm.SigningAlgorithm() != token.HS256 {
		t.Errorf("access tokens signed with %s, want HS256", tm.SigningAlgorithm())
	}
	idt, err := tm.SignJSON("", "", []byte(`{"sub":"1","aud":"client"}`))
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, idt) != m.Keys().Current(token.ES256).ID {
		t.Errorf("ID token signed by %s, want the current ES256 key", kidOf(t, idt))
	}
	// Moving to ES256 access tokens: the HS256 tokens issued before still verify.
	hsTok, _ := tm.Issue(token.Claims{Subject: "1", ExpiresAt: t0.Add(time.Minute).Unix()})
	tk, err = m.Keys().TokenKeys(token.ES256, hs)
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.SetKeys(tk); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.Verify(hsTok); err != nil {
		t.Errorf("an HS256 token after the move to ES256: %v", err)
	}
	if tm.SigningAlgorithm() != token.ES256 {
		t.Errorf("access tokens signed with %s after the move", tm.SigningAlgorithm())
	}
	if _, err := m.Keys().TokenKeys(token.RS256, hs); err == nil {
		t.Error("TokenKeys for an algorithm without keys succeeded")
	}
}

func TestJWKSHandler(t *testing.T) {
	clk := fakeclock.New(t0)
	in := newInstance(t, newStore(t), clk, keys.Config{})
	srv := httptest.NewServer(in.keys.Handler())
	defer srv.Close()
	get := func(etag string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := get(""); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("before the first refresh: %d, want 503", res.StatusCode)
	}
	in.refresh(t)
	res := get("")
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=3600" ||
		res.Header.Get("Content-Type") != "application/json" || res.Header.Get("ETag") == "" {
		t.Fatalf("GET: %d %v", res.StatusCode, res.Header)
	}
	etag := res.Header.Get("ETag")
	if res := get(etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: %d, want 304", res.StatusCode)
	}
	setClock(clk, t0.Add(rotation))
	in.refresh(t)
	if res := get(etag); res.StatusCode != 200 || res.Header.Get("ETag") == etag {
		t.Errorf("after a rotation: %d with ETag %s, want 200 and a new ETag", res.StatusCode, res.Header.Get("ETag"))
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	store := newStore(t)
	sealer := newSealer(t, 1)
	for name, cfg := range map[string]keys.Config{
		"no store":                 {Sealer: sealer, TokenLifetime: time.Minute},
		"no sealer":                {Store: store, TokenLifetime: time.Minute},
		"no token lifetime":        {Store: store, Sealer: sealer},
		"HS256":                    {Store: store, Sealer: sealer, TokenLifetime: time.Minute, Algorithms: []string{"HS256"}},
		"an algorithm twice":       {Store: store, Sealer: sealer, TokenLifetime: time.Minute, Algorithms: []string{"RS256", "RS256"}},
		"rotation too short":       {Store: store, Sealer: sealer, TokenLifetime: time.Minute, Rotation: 30 * time.Minute},
		"a max-age under a second": {Store: store, Sealer: sealer, TokenLifetime: time.Minute, MaxAge: time.Millisecond},
	} {
		if _, err := keys.New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestResealKeepsKeysReadableAcrossAnEncryptionKeyChange(t *testing.T) {
	clk := fakeclock.New(t0)
	store := newStore(t)
	oldKey, newKey := bytes.Repeat([]byte{1}, totp.KeySize), bytes.Repeat([]byte{2}, totp.KeySize)
	before := newInstance(t, store, clk, keys.Config{})
	before.refresh(t)
	jwks := string(before.keys.Keys().JWKS())

	// Step 1: the new encryption key, the old one still accepted.
	both, err := totp.NewSealer(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	during := newInstance(t, store, clk, keys.Config{Sealer: both})
	n, err := during.keys.Reseal(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Reseal = %d, %v; want the current and the next key", n, err)
	}
	if n, err := during.keys.Reseal(context.Background()); err != nil || n != 0 {
		t.Fatalf("a second Reseal = %d, %v; want nothing left to do", n, err)
	}
	// Step 2: the old encryption key dropped; every key still opens.
	after := newInstance(t, store, clk, keys.Config{Sealer: newSealer(t, 2)})
	after.refresh(t)
	if string(after.keys.Keys().JWKS()) != jwks {
		t.Error("the key set changed across the reseal")
	}
	setClock(clk, t0.Add(rotation))
	after.refresh(t) // the resealed next key is promoted, so it must open
	if _, err := before.tokens.Verify(after.issue(t, clk)); err != nil {
		t.Errorf("a token of the promoted, resealed key: %v", err)
	}
}
