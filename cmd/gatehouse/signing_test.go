package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/token"
)

const adminPassword = "the first admin's password"

// server is `gatehouse serve` running in the test's process on the
// deployment's settings.
type server struct {
	base   string
	cancel context.CancelFunc
	done   chan error
	stderr *safeBuffer
}

// safeBuffer collects output written from the server's goroutines.
type safeBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe runs serve on a free port, with the public URL it listens on,
// and stops it when the test ends (or at stop).
func (d *deployment) startServe() *server {
	d.t.Helper()
	d.set("GATEHOUSE_ADDR=127.0.0.1:0", "GATEHOUSE_ADMIN_PASSWORD="+adminPassword, "GATEHOUSE_LOG_LEVEL=warn")
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cancel: cancel, done: make(chan error, 1), stderr: &safeBuffer{}}
	go func() {
		s.done <- run(ctx, []string{"serve"}, strings.NewReader(""), pw, s.stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	if err != nil {
		cancel()
		d.t.Fatalf("serve did not start: %v\n%s", <-s.done, s.stderr.String())
	}
	_, addr, _ := strings.Cut(strings.TrimSpace(line), "listening on ")
	s.base = "http://" + addr
	d.t.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

func (s *server) login(t *testing.T, user, pw string) string {
	t.Helper()
	res, err := http.PostForm(s.base+"/token", url.Values{"username": {user}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode != 200 {
		t.Fatalf("login: %d %v", res.StatusCode, body)
	}
	return body["access_token"].(string)
}

func (s *server) me(t *testing.T, tok string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// parts returns a token's header and claims.
func parts(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	p := strings.Split(tok, ".")
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(p[i])
		if err != nil || json.Unmarshal(b, dst) != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
	}
	return header, claims
}

func TestServeSignsRS256UnderThePublicURLAndPublishesTheKeys(t *testing.T) {
	d := newDeployment(t)
	d.set("GATEHOUSE_PUBLIC_URL=https://auth.example.test/")
	s := d.startServe()
	tok := s.login(t, "admin", adminPassword)
	h, c := parts(t, tok)
	if h["alg"] != "RS256" || c["iss"] != "https://auth.example.test" {
		t.Fatalf("header %v, iss %v: want RS256 and the public URL without its trailing slash", h, c["iss"])
	}
	if code := s.me(t, tok); code != 200 {
		t.Fatalf("/users/me: %d", code)
	}
	res, err := http.Get(s.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=3600" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if len(set.Keys) != 2 || set.Keys[0]["kid"] != h["kid"] || set.Keys[0]["d"] != nil {
		t.Fatalf("key set %v: want the current key (the token's) and the next one, public parts only", set.Keys)
	}
	// A resource server verifies the token from the published keys alone.
	v, err := guard.NewJWKS("https://auth.example.test", guard.JWKSOptions{Audience: "gatehouse", JWKSURL: "https://auth.example.test/.well-known/jwks.json",
		Client: &http.Client{Transport: rewrite{s.base}}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Authenticate(context.Background(), tok); err != nil || p.User.ID != 1 {
		t.Fatalf("guard.JWKS: %v %v", p, err)
	}
	// No HS256 secret was made: nothing verifies an HMAC token here.
	s.stop()
	store, err := sqlite.Open(context.Background(), d.db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Setting(context.Background(), secretSetting); gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		t.Fatalf("an HS256 secret was generated on an RS256 deployment: %v", err)
	}
}

// rewrite sends every request to base, as DNS would for the public URL.
type rewrite struct{ base string }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	u, _ := url.Parse(r.base)
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = u.Scheme, u.Host
	return http.DefaultTransport.RoundTrip(req)
}

func TestServeWithASecretKeySignsHS256AndOtherAlgorithmsOnRequest(t *testing.T) {
	for _, tt := range []struct{ env, alg string }{
		{"GATEHOUSE_SECRET_KEY=" + signingKey1, "HS256"},
		{"GATEHOUSE_SIGNING_ALG=ES256", "ES256"},
		{"GATEHOUSE_SIGNING_ALG=EdDSA", "EdDSA"},
	} {
		t.Run(tt.alg, func(t *testing.T) {
			d := newDeployment(t)
			d.set(tt.env, "GATEHOUSE_PUBLIC_URL=http://gh.test")
			s := d.startServe()
			tok := s.login(t, "admin", adminPassword)
			h, c := parts(t, tok)
			if h["alg"] != tt.alg || c["iss"] != "http://gh.test" {
				t.Fatalf("header %v iss %v", h, c["iss"])
			}
			if tt.alg == "HS256" && h["kid"] != token.KeyID([]byte(signingKey1)) {
				t.Fatalf("kid %v: not the configured secret's", h["kid"])
			}
			if code := s.me(t, tok); code != 200 {
				t.Fatalf("/users/me: %d", code)
			}
		})
	}
}

// A deployment upgraded from an HS256-only version (its signing key
// generated into the database) keeps accepting the tokens it issued
// before — iss "gatehouse" — until they expire, while it now signs RS256
// under the public URL. The old issuer is accepted only from the keys
// that signed before the upgrade.
func TestAnUpgradedHS256DeploymentKeepsItsTokens(t *testing.T) {
	d := newDeployment(t)
	totpSecret := oldDeployment(t, d.db, nil) // alice, an admin with 2FA, and the generated secret
	ctx := context.Background()
	store, err := sqlite.Open(ctx, d.db)
	if err != nil {
		t.Fatal(err)
	}
	generated, err := existingSecret(ctx, store, secretSetting)
	store.Close()
	if err != nil || generated == nil {
		t.Fatalf("the old deployment's generated secret: %v", err)
	}
	oldToken := func(secret []byte) string {
		t.Helper()
		m, err := token.NewManager(token.Config{Keys: token.KeysFromSecrets(secret, nil), Issuer: "gatehouse", Audience: "gatehouse"})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tok, err := m.Issue(token.Claims{Subject: "1", ID: token.NewID(), SessionID: token.NewID(), Scope: "read:items",
			IssuedAt: now.Unix(), ExpiresAt: now.Add(10 * time.Minute).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	before := oldToken(generated)

	d.set("GATEHOUSE_PUBLIC_URL=http://gh.test")
	s := d.startServe()
	if code := s.me(t, before); code != 200 {
		t.Fatalf("a token issued before the upgrade: %d, want 200", code)
	}
	res, err := http.PostForm(s.base+"/token", url.Values{"username": {"alice"}, "password": {alicePassword},
		"otp": {code(t, totpSecret, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	var pair map[string]any
	json.NewDecoder(res.Body).Decode(&pair)
	res.Body.Close()
	h, c := parts(t, pair["access_token"].(string))
	if h["alg"] != "RS256" || c["iss"] != "http://gh.test" {
		t.Fatalf("a token issued after the upgrade: header %v, iss %v", h, c["iss"])
	}
	s.stop()

	// A key added after the upgrade never carries the old issuer.
	later := []byte("a-signing-key-added-after-the-upgrade-0123")
	d.set("GATEHOUSE_PREVIOUS_SECRET_KEYS=" + string(later))
	s = d.startServe()
	if code := s.me(t, before); code != 200 {
		t.Fatalf("a pre-upgrade token after a restart: %d, want 200", code)
	}
	if code := s.me(t, oldToken(later)); code != 401 {
		t.Fatalf("the old issuer under a key added since: %d, want 401", code)
	}
}

// The legacy issuer's window is recorded at the first start and never
// moves; past it, no key accepts the old issuer. A fresh database has none.
func TestTheLegacyIssuerWindowIsRecordedOnceAndEnds(t *testing.T) {
	ctx := context.Background()
	d := newDeployment(t)
	oldDeployment(t, d.db, []byte(signingKey1))
	store, err := sqlite.Open(ctx, d.db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := storeConfig{accessTTL: 15 * time.Minute, secret: []byte(signingKey1)}
	t0 := time.Now()
	mark := func(now time.Time) []token.Key {
		t.Helper()
		k := token.KeysFromSecrets([]byte(signingKey1), nil)
		if err := markLegacy(ctx, store, k, c, now); err != nil {
			t.Fatal(err)
		}
		return k
	}
	k := mark(t0)
	if k[0].FormerIssuer != "gatehouse" || !k[0].FormerIssuerUntil.Equal(t0.Add(16*time.Minute).UTC().Truncate(time.Second)) {
		t.Fatalf("first start: %q until %v, want gatehouse until now + TTL + leeway", k[0].FormerIssuer, k[0].FormerIssuerUntil)
	}
	// A restart later, with a longer TTL: the window stays.
	c.accessTTL = time.Hour
	if k2 := mark(t0.Add(10 * time.Minute)); !k2[0].FormerIssuerUntil.Equal(k[0].FormerIssuerUntil) {
		t.Fatalf("the window moved: %v, was %v", k2[0].FormerIssuerUntil, k[0].FormerIssuerUntil)
	}
	if k3 := mark(t0.Add(17 * time.Minute)); k3[0].FormerIssuer != "" {
		t.Fatal("the old issuer is still accepted after its window")
	}

	fresh, err := sqlite.Open(ctx, d.dir+"/fresh.db")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	k = token.KeysFromSecrets([]byte(signingKey1), nil)
	if err := markLegacy(ctx, fresh, k, c, t0); err != nil || k[0].FormerIssuer != "" {
		t.Fatalf("a fresh database accepts the old issuer: %v %q", err, k[0].FormerIssuer)
	}
}

func TestPublicURL(t *testing.T) {
	for _, tt := range []struct {
		v, addr string
		tls     bool
		want    string
	}{
		{"", "127.0.0.1:8000", false, "http://127.0.0.1:8000"},
		{"", "127.0.0.1:8443", true, "https://127.0.0.1:8443"},
		{"", ":8000", false, "http://localhost:8000"},
		{"", "0.0.0.0:8000", false, "http://localhost:8000"},
		{"", "[::]:8000", false, "http://localhost:8000"},
		{"", "[::1]:8000", false, "http://[::1]:8000"},
		{"https://auth.example.com", "x:1", false, "https://auth.example.com"},
		{"https://auth.example.com/", "x:1", false, "https://auth.example.com"},
		{"https://example.com/auth/", "x:1", false, "https://example.com/auth"},
		{"ftp://auth.example.com", "x:1", false, ""},
		{"https://u:p@auth.example.com", "x:1", false, ""},
		{"https://auth.example.com/?a=b", "x:1", false, ""},
		{"https://auth.example.com/#f", "x:1", false, ""},
		{"auth.example.com", "x:1", false, ""},
	} {
		got, err := parsePublicURL(tt.v, tt.addr, tt.tls)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_PUBLIC_URL") || strings.Contains(err.Error(), "u:p") {
				t.Errorf("%q: %q, %v; want an error naming GATEHOUSE_PUBLIC_URL", tt.v, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q on %s: %q, %v; want %q", tt.v, tt.addr, got, err, tt.want)
		}
	}
}

// gatehouse keys: rotate refuses a next key published too recently, says
// when it may run, and changes nothing; --now rotates; list shows it all.
func TestKeysCommands(t *testing.T) {
	d := newDeployment(t)
	list := func() []map[string]any {
		t.Helper()
		out, err := d.cli("", "keys", "list", "--json")
		if err != nil {
			t.Fatalf("keys list: %v %s", err, out)
		}
		var keys []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var k map[string]any
			if err := json.Unmarshal([]byte(line), &k); err != nil {
				t.Fatalf("keys list --json line %q: %v", line, err)
			}
			keys = append(keys, k)
		}
		return keys
	}
	out, err := d.cli("", "keys", "rotate")
	if err == nil || exitCode(err) != 1 || !strings.Contains(out, "--now") {
		t.Fatalf("rotate right after the keys were made: %v (exit %d)\n%s", err, exitCode(err), out)
	}
	byState := func(keys []map[string]any) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, k := range keys {
			m[k["state"].(string)] = k
		}
		return m
	}
	before := byState(list())
	if len(before) != 2 || before["current"] == nil || before["next"] == nil || before["next"]["promotable_at"] == nil {
		t.Fatalf("keys after a refused rotation: %v", before)
	}
	if out, err := d.cli("", "keys", "rotate", "--now", "--alg", "RS256"); err != nil {
		t.Fatalf("rotate --now: %v %s", err, out)
	}
	after := list()
	states := map[string]string{}
	for _, k := range after {
		states[k["kid"].(string)] = k["state"].(string)
	}
	if len(after) != 3 || states[before["current"]["kid"].(string)] != "retired" || states[before["next"]["kid"].(string)] != "current" {
		t.Fatalf("keys after rotate --now: %v", after)
	}
	if out, err := d.cli("", "keys", "list"); err != nil || !strings.Contains(out, "retired") || !strings.Contains(out, "KID") {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	if out, err := d.cli("", "keys", "rotate", "--alg", "HS256"); exitCode(err) != 2 {
		t.Fatalf("rotate --alg HS256: %v %s", err, out)
	}
	if out, err := d.cli("", "keys", "spin"); exitCode(err) != 2 {
		t.Fatalf("keys spin: %v %s", err, out)
	}
}

// Signing keys sealed under an encryption key the instance no longer holds
// stop serve at start with exit status 2 naming GATEHOUSE_ENCRYPTION_KEY;
// `gatehouse reseal` during the rotation prevents it.
func TestSigningKeysFollowTheEncryptionKey(t *testing.T) {
	const k1, k2 = "the-first-encryption-key-of-32-bytes", "the-second-encryption-key-of-32-bytes"
	open := func() error {
		s := newSettings("test", "")
		sf := addStoreFlags(s)
		kf := addSigningFlags(s)
		c, err := sf.parse()
		if err == nil {
			err = kf.parse(&c)
		}
		if err != nil {
			return err
		}
		c.sealing, c.signing.load, c.signing.issuer = sealStrict, true, "http://gh.test"
		a, err := openApp(context.Background(), c, slog.New(slog.DiscardHandler), cluster{})
		if err == nil {
			a.Close()
		}
		return err
	}
	for _, reseal := range []bool{false, true} {
		d := newDeployment(t)
		d.set("GATEHOUSE_ENCRYPTION_KEY=" + k1)
		if err := open(); err != nil { // the keys are made, sealed under k1
			t.Fatal(err)
		}
		d.set("GATEHOUSE_ENCRYPTION_KEY="+k2, "GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS="+k1)
		if err := open(); err != nil {
			t.Fatalf("during the rotation: %v", err)
		}
		if reseal {
			if out, err := d.cli("", "reseal"); err != nil || !strings.Contains(out, "2 signing keys resealed") {
				t.Fatalf("reseal: %v %s", err, out)
			}
		}
		d.set("GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS=")
		err := open()
		if reseal && err != nil {
			t.Fatalf("after reseal, without the old key: %v", err)
		}
		if !reseal && (exitCode(err) != 2 || !strings.Contains(err.Error(), "GATEHOUSE_ENCRYPTION_KEY")) {
			t.Fatalf("without reseal, without the old key: %v (exit %d), want exit 2 naming GATEHOUSE_ENCRYPTION_KEY", err, exitCode(err))
		}
	}
}

// The secret an earlier version generated into the database verifies, on a
// deployment that now signs RS256, only while tokens it signed before the
// upgrade may live: afterwards a copy of the database cannot mint tokens
// with it.
func TestTheGeneratedSecretStopsVerifyingOnceItsTokensHaveExpired(t *testing.T) {
	ctx := context.Background()
	for _, open := range []bool{true, false} {
		d := newDeployment(t)
		oldDeployment(t, d.db, nil)
		store, err := sqlite.Open(ctx, d.db)
		if err != nil {
			t.Fatal(err)
		}
		generated, _ := existingSecret(ctx, store, secretSetting)
		until := time.Now().Add(time.Hour)
		if !open {
			until = time.Now().Add(-time.Second)
		}
		rec, _ := json.Marshal(legacyRecord{Until: until, Keys: []string{token.KeyID(generated)}})
		if _, err := store.SetSettingIfAbsent(ctx, legacyIssuerSetting, string(rec)); err != nil {
			t.Fatal(err)
		}
		store.Close()

		s := newSettings("test", "")
		sf, kf := addStoreFlags(s), addSigningFlags(s)
		c, err := sf.parse()
		if err == nil {
			err = kf.parse(&c)
		}
		if err != nil {
			t.Fatal(err)
		}
		c.sealing, c.signing.load, c.signing.issuer = sealStrict, true, "http://gh.test"
		a, err := openApp(ctx, c, slog.New(slog.DiscardHandler), cluster{})
		if err != nil {
			t.Fatal(err)
		}
		held := slices.Contains(a.tokens.KeyIDs(), token.KeyID(generated))
		a.Close()
		if held != open {
			t.Errorf("legacy window open %v: the generated secret verifies: %v", open, held)
		}
	}
}
