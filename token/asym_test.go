package token_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/token"
)

// Test keys are generated once per run: RSA generation takes a while.
var testKeys = sync.OnceValue(func() map[string]crypto.Signer {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]crypto.Signer{token.RS256: r, token.ES256: e, token.EdDSA: ed}
})

var asymAlgs = []string{token.RS256, token.ES256, token.EdDSA}

func signerKey(alg string) token.Key {
	return token.Key{ID: "sig-" + alg, Signer: testKeys()[alg]}
}

func publicKey(alg string) token.Key {
	return token.Key{ID: "sig-" + alg, Public: testKeys()[alg].Public()}
}

func newManagerWith(t testing.TB, clk *clock, cfg token.Config) *token.Manager {
	t.Helper()
	cfg.Issuer, cfg.Audience, cfg.Leeway, cfg.Now = issuer, audience, 30*time.Second, clk.Now
	m, err := token.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// signAs signs header.payload (JSON texts) with the private key of alg, in
// the JWS form (raw R||S for ES256).
func signAs(t testing.TB, alg, header, payload string) string {
	t.Helper()
	in := b64([]byte(header)) + "." + b64([]byte(payload))
	d := sha256.Sum256([]byte(in))
	var sig []byte
	var err error
	switch k := testKeys()[alg].(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, d[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, d[:])
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(in))
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64(sig)
}

func TestAsymmetricTokensVerifyToTheSameClaims(t *testing.T) {
	for _, alg := range asymAlgs {
		t.Run(alg, func(t *testing.T) {
			clk := &clock{t0}
			m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(alg), keyA()}})
			if m.SigningAlgorithm() != alg {
				t.Fatalf("SigningAlgorithm = %q", m.SigningAlgorithm())
			}
			in := sampleClaims()
			in.ClientID = "client-1"
			in.ExtraAudiences = []string{"https://api.example"}
			tok, err := m.Issue(in)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(tok, ".")
			h, _ := b64dec(parts[0])
			if want := `{"alg":"` + alg + `","kid":"sig-` + alg + `","typ":"at+jwt"}`; string(h) != want {
				t.Errorf("header %s, want %s", h, want)
			}
			p, _ := b64dec(parts[1])
			if !strings.Contains(string(p), `"aud":["gatehouse-api","https://api.example"]`) || !strings.Contains(string(p), `"client_id":"client-1"`) {
				t.Errorf("payload %s lacks the audience list or client_id", p)
			}
			for range 2 { // the second time from the cache
				got, err := m.Verify(tok)
				if err != nil {
					t.Fatal(err)
				}
				want := in
				want.Issuer, want.Audience, want.Type, want.ExtraAudiences = issuer, audience, token.TypeAccess, nil
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Verify = %+v, want %+v", got, want)
				}
			}
			// A verifier holding only the public key agrees.
			v := newManagerWith(t, clk, token.Config{Keys: []token.Key{publicKey(alg)}})
			if _, err := v.Verify(tok); err != nil {
				t.Errorf("verify-only Manager: %v", err)
			}
			if _, err := v.Issue(sampleClaims()); err == nil {
				t.Error("a verify-only Manager issued a token")
			}
		})
	}
}

func b64dec(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }

// TestAlgorithmConfusionIsRefused covers RFC 8725 §2.1: a token whose header
// names another algorithm than its key's is refused before any signature
// is computed, whatever secret the attacker used.
func TestAlgorithmConfusionIsRefused(t *testing.T) {
	clk := &clock{t0}
	rsaKey := testKeys()[token.RS256].(*rsa.PrivateKey)
	pkix, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	pemPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})
	jwk, _ := json.Marshal(map[string]string{"kty": "RSA", "n": b64(rsaKey.N.Bytes()), "e": "AQAB"})
	// An upgraded deployment: RS256 signs, the old HS256 key still verifies.
	m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(token.RS256), keyA()}})
	p := payload(nil)
	for name, secret := range map[string][]byte{"PKIX PEM": pemPKIX, "PKCS #1 PEM": pemPKCS1, "JWK": jwk, "modulus": rsaKey.N.Bytes()} {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				header string
				want   error
			}{
				{`{"alg":"HS256","kid":"sig-RS256","typ":"at+jwt"}`, token.ErrAlgorithm},
				{`{"alg":"HS256","typ":"at+jwt"}`, token.ErrAlgorithm}, // no kid: the RS256 signing key
				{`{"alg":"HS256","kid":"k1","typ":"at+jwt"}`, token.ErrSignature},
			}
			for _, tt := range tests {
				if _, err := m.Verify(forge(secret, tt.header, p)); !errors.Is(err, tt.want) {
					t.Errorf("HMAC under the public key as %s, header %s: %v, want %v", name, tt.header, err, tt.want)
				}
			}
		})
	}
	if n, _ := m.CacheStats(); n != 0 {
		t.Errorf("the cache holds %d entries after refusals only", n)
	}
}

func TestVerifyBindsTheAlgorithmToTheKey(t *testing.T) {
	clk := &clock{t0}
	m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(token.RS256), signerKey(token.ES256), signerKey(token.EdDSA), keyA()}})
	p := payload(nil)
	es := testKeys()[token.ES256].(*ecdsa.PrivateKey)
	in := b64([]byte(`{"alg":"ES256","kid":"sig-ES256","typ":"at+jwt"}`)) + "." + b64([]byte(p))
	d := sha256.Sum256([]byte(in))
	der, err := ecdsa.SignASN1(rand.Reader, es, d[:])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  string
		want error
	}{
		{"RS256 under its key", signAs(t, token.RS256, `{"alg":"RS256","kid":"sig-RS256","typ":"at+jwt"}`, p), nil},
		{"ES256 under its key", signAs(t, token.ES256, `{"alg":"ES256","kid":"sig-ES256","typ":"at+jwt"}`, p), nil},
		{"EdDSA under its key", signAs(t, token.EdDSA, `{"alg":"EdDSA","kid":"sig-EdDSA","typ":"at+jwt"}`, p), nil},
		{"ES256 naming the RS256 key", signAs(t, token.ES256, `{"alg":"ES256","kid":"sig-RS256","typ":"at+jwt"}`, p), token.ErrAlgorithm},
		{"RS256 naming the EdDSA key", signAs(t, token.RS256, `{"alg":"RS256","kid":"sig-EdDSA","typ":"at+jwt"}`, p), token.ErrAlgorithm},
		{"EdDSA naming the HS256 key", signAs(t, token.EdDSA, `{"alg":"EdDSA","kid":"k1","typ":"at+jwt"}`, p), token.ErrAlgorithm},
		{"alg none naming the RS256 key", b64([]byte(`{"alg":"none","kid":"sig-RS256","typ":"JWT"}`)) + "." + b64([]byte(p)) + ".", token.ErrMalformed},
		{"alg none with a signature", b64([]byte(`{"alg":"none","kid":"sig-RS256","typ":"JWT"}`)) + "." + b64([]byte(p)) + ".AAAA", token.ErrAlgorithm},
		{"PS256 under the RSA key", signAs(t, token.RS256, `{"alg":"PS256","kid":"sig-RS256","typ":"at+jwt"}`, p), token.ErrAlgorithm},
		{"ES256 signature in DER (RFC 7518 §3.4 wants R||S)", in + "." + b64(der), token.ErrMalformed},
		{"a jwk header naming the attacker's own key", signAs(t, token.RS256, `{"alg":"RS256","kid":"sig-RS256","typ":"at+jwt","jwk":{"kty":"RSA"}}`, p), token.ErrMalformed},
		{"a jku header", signAs(t, token.RS256, `{"alg":"RS256","kid":"sig-RS256","typ":"at+jwt","jku":"https://evil.test/k"}`, p), token.ErrMalformed},
		{"an unknown kid", signAs(t, token.RS256, `{"alg":"RS256","kid":"other","typ":"at+jwt"}`, p), token.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Verify(tt.tok); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAsymmetricVerifyRefusesTamperedTokens(t *testing.T) {
	for _, alg := range asymAlgs {
		t.Run(alg, func(t *testing.T) {
			clk := &clock{t0}
			m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(alg)}})
			tok, err := m.Issue(sampleClaims())
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(tok, ".")
			other := strings.Replace(payload(nil), `"sub":"42"`, `"sub":"1"`, 1)
			sig, _ := b64dec(parts[2])
			sig[5] ^= 1
			tests := []struct {
				name string
				tok  string
				want error
			}{
				{"a changed payload", parts[0] + "." + b64([]byte(other)) + "." + parts[2], token.ErrSignature},
				{"a changed signature", parts[0] + "." + parts[1] + "." + b64(sig), token.ErrSignature},
				{"a signature cut short", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4], token.ErrMalformed},
				{"a signature over other parts", parts[0] + "." + parts[1] + "." + strings.Split(signAs(t, alg, `{"x":1}`, `{}`), ".")[2], token.ErrSignature},
			}
			for _, tt := range tests {
				if _, err := m.Verify(tt.tok); !errors.Is(err, tt.want) {
					t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
				}
			}
			if n, _ := m.CacheStats(); n != 0 {
				t.Errorf("the cache holds %d entries after refusals only", n)
			}
		})
	}
}

// TestTheCacheHoldsOnlyVerifiedTokensAndChecksTimeOnEveryUse checks the
// verified-token cache from outside: what enters it, that a hit still
// expires, and that a key's removal voids its entries.
func TestTheCacheHoldsOnlyVerifiedTokensAndChecksTimeOnEveryUse(t *testing.T) {
	clk := &clock{t0}
	m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(token.ES256), signerKey(token.EdDSA)}})
	forged := signAs(t, token.EdDSA, `{"alg":"ES256","kid":"sig-ES256","typ":"at+jwt"}`, payload(nil))
	expired := signAs(t, token.ES256, `{"alg":"ES256","kid":"sig-ES256","typ":"at+jwt"}`, payload(map[string]any{"exp": t0 - 3600}))
	wrongAud := signAs(t, token.ES256, `{"alg":"ES256","kid":"sig-ES256","typ":"at+jwt"}`, payload(map[string]any{"aud": "other"}))
	for _, tok := range []string{forged, expired, wrongAud, forged} {
		if _, err := m.Verify(tok); err == nil {
			t.Fatalf("Verify(%q) passed", tok)
		}
	}
	if n, _ := m.CacheStats(); n != 0 {
		t.Fatalf("cache holds %d entries after refusals only", n)
	}
	good, err := m.Issue(sampleClaims()) // exp = t0 + 900
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(good); err != nil {
		t.Fatal(err)
	}
	if n, b := m.CacheStats(); n != 1 || b <= token.CacheEntryOverhead {
		t.Fatalf("CacheStats = %d, %d after one verified token", n, b)
	}
	// A token differing from a cached one in its signature is another
	// token: verified afresh, and refused.
	parts := strings.Split(good, ".")
	sig, _ := b64dec(parts[2])
	sig[0] ^= 1
	if _, err := m.Verify(parts[0] + "." + parts[1] + "." + b64(sig)); !errors.Is(err, token.ErrSignature) {
		t.Errorf("altered signature of a cached token: %v", err)
	}
	clk.now = t0 + 900 + 30 // the end of the leeway
	if _, err := m.Verify(good); !errors.Is(err, token.ErrExpired) {
		t.Errorf("a cached token past exp: %v, want ErrExpired", err)
	}
	clk.now = t0
	other, _ := m.Issue(sampleClaims())
	if _, err := m.Verify(other); err != nil {
		t.Fatal(err)
	}
	// The signing key leaves the set: its tokens, cached or not, stop.
	if err := m.SetKeys([]token.Key{signerKey(token.EdDSA)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.CacheStats(); n != 0 {
		t.Errorf("cache holds %d entries of a removed key", n)
	}
	if _, err := m.Verify(good); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("a cached token of a removed key: %v, want ErrUnknownKey", err)
	}
}

func TestTheCacheKeepsEntriesOfKeysThatStay(t *testing.T) {
	clk := &clock{t0}
	m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(token.ES256)}})
	tok, _ := m.Issue(sampleClaims())
	m.Verify(tok)
	// Rotation: EdDSA now signs, the ES256 key verifies (now as a public key).
	if err := m.SetKeys([]token.Key{signerKey(token.EdDSA), publicKey(token.ES256)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.CacheStats(); n != 1 {
		t.Errorf("cache holds %d entries; the ES256 key stayed, so its token should", n)
	}
	if _, err := m.Verify(tok); err != nil {
		t.Errorf("token of a key that stayed: %v", err)
	}
	if m.SigningAlgorithm() != token.EdDSA {
		t.Errorf("SigningAlgorithm = %q after SetKeys", m.SigningAlgorithm())
	}
}

func TestTheCacheIsBounded(t *testing.T) {
	clk := &clock{t0}
	m := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(token.EdDSA)}, CacheEntries: 64, CacheBytes: 1 << 20})
	for range 500 {
		c := sampleClaims()
		c.ID = token.NewID()
		tok, _ := m.Issue(c)
		if _, err := m.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n, b := m.CacheStats(); n > 64 || n < 32 || b > 1<<20 {
		t.Errorf("CacheStats = %d entries, %d bytes; bounds 64 entries, 1 MiB", n, b)
	}
	small := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(token.EdDSA)}, CacheEntries: 1000, CacheBytes: 16 * 2048})
	for range 500 {
		c := sampleClaims()
		c.ID = token.NewID()
		tok, _ := small.Issue(c)
		small.Verify(tok)
	}
	if n, b := small.CacheStats(); b > 16*2048 || n == 0 {
		t.Errorf("CacheStats = %d entries, %d bytes; byte bound %d", n, b, 16*2048)
	}
	off := newManagerWith(t, clk, token.Config{Keys: []token.Key{signerKey(token.EdDSA)}, CacheEntries: -1})
	tok, _ := off.Issue(sampleClaims())
	if _, err := off.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if n, _ := off.CacheStats(); n != 0 {
		t.Errorf("a cache turned off holds %d entries", n)
	}
}

func TestHS256TokensAreNotCached(t *testing.T) {
	m := newManager(t, &clock{t0})
	tok, _ := m.Issue(sampleClaims())
	if _, err := m.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.CacheStats(); n != 0 {
		t.Errorf("an HS256 token entered the cache (%d entries): HMAC is cheaper than the lookup", n)
	}
}

func TestAVerifyOnlyManagerRequiresAKeyID(t *testing.T) {
	clk := &clock{t0}
	v := newManagerWith(t, clk, token.Config{Keys: []token.Key{publicKey(token.RS256)}})
	if _, err := v.Verify(signAs(t, token.RS256, `{"alg":"RS256","typ":"at+jwt"}`, payload(nil))); !errors.Is(err, token.ErrUnknownKey) {
		t.Errorf("no kid: %v, want ErrUnknownKey", err)
	}
	if _, err := v.Verify(signAs(t, token.RS256, `{"alg":"RS256","kid":"sig-RS256","typ":"at+jwt"}`, payload(nil))); err != nil {
		t.Errorf("with kid: %v", err)
	}
}

func TestSignJSONUsesAnAsymmetricKeyWhateverSignsAccessTokens(t *testing.T) {
	clk := &clock{t0}
	// HS256 access tokens; ID tokens need an asymmetric key all the same.
	m := newManagerWith(t, clk, token.Config{Keys: []token.Key{keyA(), signerKey(token.ES256), publicKey(token.RS256), signerKey(token.EdDSA)}})
	idt := []byte(`{"iss":"https://gatehouse.test","sub":"42","aud":"client-1","exp":1800000900,"nonce":"n"}`)
	for alg, want := range map[string]string{"": token.ES256, token.ES256: token.ES256, token.EdDSA: token.EdDSA} {
		tok, err := m.SignJSON(alg, "", idt)
		if err != nil {
			t.Fatalf("SignJSON(%q): %v", alg, err)
		}
		h, _ := b64dec(strings.Split(tok, ".")[0])
		if string(h) != `{"alg":"`+want+`","kid":"sig-`+want+`","typ":"JWT"}` {
			t.Errorf("SignJSON(%q) header %s", alg, h)
		}
		got, err := m.VerifyJSON(tok)
		if err != nil || string(got) != string(idt) {
			t.Errorf("VerifyJSON = %s, %v", got, err)
		}
		if _, err := m.Verify(tok); !errors.Is(err, token.ErrWrongType) {
			t.Errorf("an ID token presented as an access token: %v, want ErrWrongType", err)
		}
	}
	for _, tt := range []struct {
		alg, typ, payload string
	}{
		{token.RS256, "", string(idt)},        // the RS256 key here only verifies
		{token.HS256, "", string(idt)},        // never HMAC
		{"", "at+jwt", string(idt)},           // not an access token
		{"", "", `{"type":"access","exp":1}`}, // not an access token either
		{"", "", `["not an object"]`},
		{"", "", `{"a":1`},
		{"", `x"y`, string(idt)},
	} {
		if tok, err := m.SignJSON(tt.alg, tt.typ, []byte(tt.payload)); err == nil {
			t.Errorf("SignJSON(%q, %q, %s) = %q, want an error", tt.alg, tt.typ, tt.payload, tok)
		}
	}
	at, _ := m.Issue(sampleClaims())
	if _, err := m.VerifyJSON(at); !errors.Is(err, token.ErrAlgorithm) {
		t.Errorf("VerifyJSON of an HS256 token: %v, want ErrAlgorithm", err)
	}
	hs := newManager(t, clk)
	if _, err := hs.SignJSON("", "", idt); err == nil {
		t.Error("SignJSON without an asymmetric key succeeded")
	}
}

func TestNewManagerRefusesUnsafeAsymmetricKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, k := range map[string]token.Key{
		"RSA 1024":               {ID: "a", Signer: small},
		"RSA 1024 public":        {ID: "a", Public: &small.PublicKey},
		"ECDSA P-384":            {ID: "a", Signer: p384},
		"secret and signer both": {ID: "a", Secret: secret("A"), Signer: testKeys()[token.EdDSA]},
		"nothing":                {ID: "a"},
		"an unknown type":        {ID: "a", Public: "not a key"},
	} {
		if _, err := token.NewManager(token.Config{Keys: []token.Key{k}, Issuer: issuer, Audience: audience}); err == nil {
			t.Errorf("%s: NewManager succeeded", name)
		}
	}
	m := newManagerWith(t, &clock{t0}, token.Config{Keys: []token.Key{signerKey(token.EdDSA)}})
	if err := m.SetKeys([]token.Key{{ID: "a", Signer: p384}}); err == nil {
		t.Error("SetKeys took a P-384 key")
	}
	if m.SigningAlgorithm() != token.EdDSA {
		t.Error("a refused SetKeys changed the key set")
	}
}

func TestAsymmetricKeysAreNeverPrinted(t *testing.T) {
	k := signerKey(token.RS256)
	d := testKeys()[token.RS256].(*rsa.PrivateKey).D.String()
	m := newManagerWith(t, &clock{t0}, token.Config{Keys: []token.Key{k}})
	for _, v := range []any{k, &k, token.Config{Keys: []token.Key{k}}, m} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, d[:20]) || strings.Contains(out, "Primes") {
				t.Errorf("%s shows the private key: %.80s", verb, out)
			}
		}
	}
}
