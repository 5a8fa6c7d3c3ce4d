package guard_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/internal/fakeclock"
	"github.com/gatehouse/gatehouse/keys"
	"github.com/gatehouse/gatehouse/token"
)

func newFakeClock() *fakeclock.Clock { return fakeclock.New(time.Unix(1_800_000_000, 0)) }

// jwkOf is the public JWK of k, as Gatehouse publishes it.
func jwkOf(kid string, k crypto.Signer) any {
	return jose.JSONWebKey{Key: k.Public(), KeyID: kid, Use: "sig", Algorithm: token.Key{ID: "x", Signer: k}.Algorithm()}
}

// encodeSet is a JSON Web Key Set of keys, which may be anything JSON.
func encodeSet(keys ...any) []byte { b, _ := json.Marshal(map[string]any{"keys": keys}); return b }

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// mustKey generates a key of alg and returns it with its thumbprint.
func mustKey(t testing.TB, alg string) (string, crypto.Signer) {
	t.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := keys.Thumbprint(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return kid, k
}

// issuerServer is a fake Gatehouse publishing a key set that tests change,
// counting the fetches.
type issuerServer struct {
	*httptest.Server
	set     atomic.Pointer[[]byte]
	fetches atomic.Int32
	header  atomic.Pointer[string] // Cache-Control
	delay   atomic.Int64           // before answering, so that callers overlap
}

func newIssuer(t testing.TB) *issuerServer {
	s := &issuerServer{}
	cc := "public, max-age=3600"
	s.header.Store(&cc)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		s.fetches.Add(1)
		time.Sleep(time.Duration(s.delay.Load()))
		w.Header().Set("Cache-Control", *s.header.Load())
		w.Header().Set("Content-Type", "application/json")
		w.Write(*s.set.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *issuerServer) publish(b []byte) { s.set.Store(&b) }

// signer issues tokens as the fake Gatehouse would.
func signer(t testing.TB, iss, kid string, k crypto.Signer) *token.Manager {
	t.Helper()
	m, err := token.NewManager(token.Config{Keys: []token.Key{{ID: kid, Signer: k}}, Issuer: iss, Audience: "gatehouse"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func issue(t testing.TB, m *token.Manager, clk *fakeclock.Clock, jti string) string {
	t.Helper()
	now := clk.Now()
	tok, err := m.Issue(token.Claims{Subject: "42", ID: jti, SessionID: "s1", Scope: "read:items",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(15 * time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// service is a Go service guarded by v.
func service(t testing.TB, v guard.TokenAuthenticator) *httptest.Server {
	g := guard.New(v, nil, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	mux.Handle("GET /items", g.Require(guard.Scopes("read:items"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := gatehouse.PrincipalFrom(r.Context())
		json.NewEncoder(w).Encode(map[string]any{"user": p.User.ID, "jti": p.TokenID})
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func call(t testing.TB, srv *httptest.Server, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/items", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func newJWKS(t testing.TB, iss *issuerServer, clk *fakeclock.Clock, revoked func(jti, sid string) bool) *guard.JWKS {
	t.Helper()
	v, err := guard.NewJWKS(iss.URL, guard.JWKSOptions{Audience: "gatehouse", Now: clk.Now, Revoked: revoked})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJWKSVerifiesLocallyAndFollowsRotation(t *testing.T) {
	clk := newFakeClock()
	iss := newIssuer(t)
	kid1, k1 := mustKey(t, token.EdDSA)
	kid2, k2 := mustKey(t, token.ES256)
	iss.publish(encodeSet(jwkOf(kid1, k1)))
	revoked := map[string]bool{"revoked-jti": true}
	v := newJWKS(t, iss, clk, func(jti, sid string) bool { return revoked[jti] })
	svc := service(t, v)

	s1 := signer(t, iss.URL, kid1, k1)
	for i := range 20 {
		if code, body := call(t, svc, issue(t, s1, clk, "j1")); code != 200 || body != "{\"jti\":\"j1\",\"user\":42}\n" {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches of the key set for 20 requests, want 1", n)
	}
	if code, body := call(t, svc, issue(t, s1, clk, "revoked-jti")); code != 401 || !strings.Contains(body, "Token has been revoked") {
		t.Errorf("a revoked token: %d %s", code, body)
	}
	other := signer(t, "https://other.test", kid1, k1)
	if code, _ := call(t, svc, issue(t, other, clk, "j")); code != 401 {
		t.Errorf("a token of another issuer: %d, want 401", code)
	}

	// Rotation: the new key is published, then signs. One fetch finds it.
	iss.publish(encodeSet(jwkOf(kid1, k1), jwkOf(kid2, k2)))
	clk.Advance(6 * time.Second)
	s2 := signer(t, iss.URL, kid2, k2)
	if code, body := call(t, svc, issue(t, s2, clk, "j2")); code != 200 {
		t.Fatalf("a token of the rotated-in key: %d %s", code, body)
	}
	if code, _ := call(t, svc, issue(t, s1, clk, "j3")); code != 200 {
		t.Errorf("a token of the retired key, still published: %d", code)
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after a rotation, want 2", n)
	}
	// The retired key is withdrawn: after the next fetch its tokens fail.
	iss.publish(encodeSet(jwkOf(kid2, k2)))
	clk.Advance(time.Hour + time.Second) // past the max-age: a background refresh
	call(t, svc, issue(t, s2, clk, "j4"))
	waitFor(t, func() bool { return iss.fetches.Load() == 3 })
	waitFor(t, func() bool { code, _ := call(t, svc, issue(t, s1, clk, "j5")); return code == 401 })
}

// waitFor polls cond (for a background fetch to land); it bounds the wait
// but asserts nothing about time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSAStormOfUnknownKeysMakesOneFetch(t *testing.T) {
	clk := newFakeClock()
	iss := newIssuer(t)
	kid1, k1 := mustKey(t, token.EdDSA)
	iss.publish(encodeSet(jwkOf(kid1, k1)))
	v := newJWKS(t, iss, clk, nil)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute) // the next fetch is allowed
	iss.delay.Store(int64(50 * time.Millisecond))
	kidX, kX := mustKey(t, token.EdDSA)
	forged := issue(t, signer(t, iss.URL, kidX, kX), clk, "x")
	var wg sync.WaitGroup
	var passed atomic.Int32
	for range 50 {
		wg.Go(func() {
			if _, err := v.Authenticate(context.Background(), forged); err == nil {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	for range 50 { // and more, after the fetch
		v.Authenticate(context.Background(), forged)
	}
	if passed.Load() != 0 {
		t.Fatalf("%d tokens of an unpublished key passed", passed.Load())
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches for 100 tokens of an unknown key, want 2 (the first and one refetch)", n)
	}
}

// TestJWKSNeverAcceptsHS256 publishes, against the rules, an HMAC key
// beside an RSA key and forges HS256 tokens every way.
func TestJWKSNeverAcceptsHS256(t *testing.T) {
	clk := newFakeClock()
	iss := newIssuer(t)
	kidR, kR := mustKey(t, token.RS256)
	secret := []byte("0123456789abcdef0123456789abcdef")
	iss.publish(encodeSet(jwkOf(kidR, kR), map[string]string{"kty": "oct", "kid": "hs", "k": b64u(secret), "alg": "HS256"}))
	v := newJWKS(t, iss, clk, nil)
	svc := service(t, v)
	now := clk.Now().Unix()
	claims := b64u([]byte(`{"iss":"` + iss.URL + `","aud":"gatehouse","sub":"42","exp":` + strconv.FormatInt(now+600, 10) + `,"scope":"read:items","type":"access"}`))
	der, _ := x509.MarshalPKIXPublicKey(kR.Public())
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs := func(header string, key []byte) string {
		in := b64u([]byte(header)) + "." + claims
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(in))
		return in + "." + b64u(mac.Sum(nil))
	}
	if code, _ := call(t, svc, issue(t, signer(t, iss.URL, kidR, kR), clk, "ok")); code != 200 {
		t.Fatalf("the RS256 token: %d", code)
	}
	for name, tok := range map[string]string{
		"HS256 under the published HMAC key":            hs(`{"alg":"HS256","kid":"hs","typ":"at+jwt"}`, secret),
		"HS256 under the RSA public key, naming it":     hs(`{"alg":"HS256","kid":"`+kidR+`","typ":"at+jwt"}`, pemKey),
		"HS256 under the RSA public key, without a kid": hs(`{"alg":"HS256","typ":"at+jwt"}`, pemKey),
		"alg none": b64u([]byte(`{"alg":"none","kid":"`+kidR+`","typ":"at+jwt"}`)) + "." + claims + ".",
	} {
		if code, _ := call(t, svc, tok); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
}

func TestJWKSFailsClosedAndFollowsNoRedirectElsewhere(t *testing.T) {
	clk := newFakeClock()
	kid, k := mustKey(t, token.EdDSA)
	elsewhere := newIssuer(t)
	elsewhere.publish(encodeSet(jwkOf(kid, k)))
	redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/.well-known/jwks.json", http.StatusFound))
	defer redirecting.Close()
	v, err := guard.NewJWKS(redirecting.URL, guard.JWKSOptions{Audience: "gatehouse", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	svc := service(t, v)
	tok := issue(t, signer(t, redirecting.URL, kid, k), clk, "j")
	if code, _ := call(t, svc, tok); code != 503 {
		t.Errorf("a key set behind a redirect to another host: %d, want 503", code)
	}
	if elsewhere.fetches.Load() != 0 {
		t.Error("the redirect to another host was followed")
	}
	// Unreachable: 503, and no fetch storm while it lasts.
	down := newIssuer(t)
	down.Close()
	v2, _ := guard.NewJWKS(down.URL, guard.JWKSOptions{Audience: "gatehouse", Now: clk.Now})
	for range 5 {
		if _, err := v2.Authenticate(context.Background(), tok); gatehouse.ErrorCode(err) != gatehouse.EUNAVAILABLE {
			t.Fatalf("Gatehouse unreachable: %v, want EUNAVAILABLE", err)
		}
	}
	for _, bad := range []string{"ftp://x", "http://user:pw@host", "https://host/?q=1", ""} {
		if _, err := guard.NewJWKS(bad, guard.JWKSOptions{Audience: "gatehouse"}); err == nil {
			t.Errorf("NewJWKS(%q) succeeded", bad)
		}
	}
	if _, err := guard.NewJWKS("https://a.test", guard.JWKSOptions{Audience: "gatehouse", JWKSURL: "https://b.test/jwks"}); err == nil {
		t.Error("a JWKS URL on another host was accepted")
	}
	if _, err := guard.NewJWKS("https://a.test", guard.JWKSOptions{}); err == nil {
		t.Error("no audience was accepted")
	}
}

func TestJWKSSkipsKeysItCannotUse(t *testing.T) {
	clk := newFakeClock()
	iss := newIssuer(t)
	kid, k := mustKey(t, token.ES256)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	iss.publish(encodeSet(
		map[string]string{"kty": "XYZ", "kid": "future"},
		jose.JSONWebKey{Key: &small.PublicKey, KeyID: "small", Algorithm: "RS256", Use: "sig"},
		jose.JSONWebKey{Key: ed, KeyID: "private", Algorithm: "EdDSA", Use: "sig"}, // private part published
		jose.JSONWebKey{Key: k.Public(), KeyID: "enc", Algorithm: "ES256", Use: "enc"},
		jose.JSONWebKey{Key: k.Public(), KeyID: "mislabelled", Algorithm: "RS256", Use: "sig"},
		jwkOf(kid, k),
	))
	v := newJWKS(t, iss, clk, nil)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatalf("a set with one usable key among odd ones: %v", err)
	}
	svc := service(t, v)
	if code, _ := call(t, svc, issue(t, signer(t, iss.URL, kid, k), clk, "j")); code != 200 {
		t.Errorf("the usable key's token: %d", code)
	}
	for _, id := range []string{"private", "enc", "mislabelled"} {
		var signWith crypto.Signer = k
		if id == "private" {
			signWith = ed
		}
		if code, _ := call(t, svc, issue(t, signer(t, iss.URL, id, signWith), clk, "j")); code != 401 {
			t.Errorf("a token of the %s key: %d, want 401", id, code)
		}
	}
}

// BenchmarkJWKSAuthenticate is a service verifying a Gatehouse RS256 token
// it has seen before, locally (compare RemoteAuthenticate's round trip).
func BenchmarkJWKSAuthenticate(b *testing.B) {
	clk := newFakeClock()
	iss := newIssuer(b)
	kid, k := mustKey(b, token.RS256)
	iss.publish(encodeSet(jwkOf(kid, k)))
	v := newJWKS(b, iss, clk, nil)
	tok := issue(b, signer(b, iss.URL, kid, k), clk, "j")
	ctx := context.Background()
	if _, err := v.Authenticate(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
