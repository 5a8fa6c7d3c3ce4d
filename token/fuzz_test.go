package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/token"
)

// FuzzVerify feeds Verify whole tokens; its seed corpus (testdata/fuzz/
// FuzzVerify) holds a valid token, truncated and altered ones, and odd JSON.
// Verify must never panic, and a token it accepts must carry a correct,
// canonically encoded signature by the key, over canonical parts.
func FuzzVerify(f *testing.F) {
	m := newManager(f, &clock{t0})
	key := keyA().Secret
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := m.Verify(tok)
		if err != nil {
			return
		}
		i := strings.LastIndexByte(tok, '.')
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(tok[:i]))
		if want := b64(mac.Sum(nil)); tok[i+1:] != want {
			t.Fatalf("accepted %q without its signature %s", tok, want)
		}
		for _, part := range strings.Split(tok, ".") {
			if d, err := base64.RawURLEncoding.Strict().DecodeString(part); err != nil || b64(d) != part {
				t.Fatalf("accepted non-canonical part %q of %q", part, tok)
			}
		}
		if c.Type != token.TypeAccess || c.Issuer != issuer || c.Audience != audience || c.ExpiresAt <= t0-30 {
			t.Fatalf("accepted %q with claims %+v", tok, c)
		}
	})
}

// FuzzClaims signs arbitrary claims sets, so that the fuzzer reaches the
// claims reader past the signature check, and compares what Verify accepts
// with encoding/json: an accepted claims set must be valid JSON that
// encoding/json reads the same way.
func FuzzClaims(f *testing.F) {
	f.Add(payload(nil))
	f.Add(payload(map[string]any{"aud": []string{"x", audience}, "sub": "é\"\\\n😀", "x": map[string]any{"y": []any{1.5, nil, true}}}))
	f.Add(`{"iss":"https://gatehouse.test","aud":"gatehouse-api","exp":1800000900,"type":"acc\u0065ss","sub":"\ud83d\ude00"}`)
	f.Add(`{"exp":1800000900,"exp":1800000900}`)
	f.Add(`{"exp":1.8e9}`)
	m := newManager(f, &clock{t0})
	f.Fuzz(func(t *testing.T, p string) {
		c, err := m.Verify(forge(keyA().Secret, goodHeader, p))
		if err != nil {
			return
		}
		if !json.Valid([]byte(p)) {
			t.Fatalf("accepted invalid JSON %q", p)
		}
		var std map[string]any
		d := json.NewDecoder(strings.NewReader(p))
		d.UseNumber()
		if err := d.Decode(&std); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", p, err)
		}
		for name, got := range map[string]string{"iss": c.Issuer, "sub": c.Subject, "jti": c.ID,
			"sid": c.SessionID, "scope": c.Scope, "type": c.Type} {
			if v, ok := std[name]; ok && v != got || !ok && got != "" {
				t.Errorf("%s: we read %q, encoding/json %#v, in %q", name, got, v, p)
			}
		}
		for name, got := range map[string]int64{"exp": c.ExpiresAt, "nbf": c.NotBefore, "iat": c.IssuedAt} {
			if v, ok := std[name]; ok && v != json.Number(strconv.FormatInt(got, 10)) || !ok && got != 0 {
				t.Errorf("%s: we read %d, encoding/json %#v, in %q", name, got, v, p)
			}
		}
		if !holdsAudience(std["aud"]) {
			t.Errorf("accepted aud %#v, in %q", std["aud"], p)
		}
	})
}

func holdsAudience(aud any) bool {
	if s, ok := aud.(string); ok {
		return s == audience
	}
	list, _ := aud.([]any)
	for _, v := range list {
		if v == audience {
			return true
		}
	}
	return false
}

// The seed corpus must reach the accepting path, or FuzzVerify's check of
// accepted tokens would never run in CI.
func TestFuzzCorpusHoldsValidTokens(t *testing.T) {
	m := newManager(t, &clock{t0})
	for _, name := range []string{"valid", "valid_golang_jwt"} {
		b, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzVerify", name))
		if err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(string(b), "\n", 3)[1], "string("), ")")
		tok, err := strconv.Unquote(line)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := m.Verify(tok); err != nil {
			t.Errorf("%s: Verify = %v", name, err)
		}
	}
}

// FuzzVerifyMixedKeys runs Verify over a set holding HS256, ES256 and EdDSA
// keys (the cache on), seeded with a valid token of each. A token it
// accepts must carry a valid signature, checked here with the standard
// library, by the key its kid names under that key's own algorithm; and
// a second Verify (a cache hit when asymmetric) must agree with the first.
func FuzzVerifyMixedKeys(f *testing.F) {
	clk := &clock{t0}
	keys := []token.Key{keyA(), signerKey(token.ES256), signerKey(token.EdDSA)}
	m := newManagerWith(f, clk, token.Config{Keys: keys})
	for _, k := range keys {
		one := newManagerWith(f, clk, token.Config{Keys: []token.Key{k}})
		tok, err := one.Issue(sampleClaims())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		f.Add(tok[:len(tok)-2] + "AA")
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c1, err1 := m.Verify(tok)
		c2, err2 := m.Verify(tok)
		if err1 != err2 || !reflect.DeepEqual(c1, c2) {
			t.Fatalf("two verifications of %q disagree: %v / %v", tok, err1, err2)
		}
		if err1 != nil {
			return
		}
		parts := strings.Split(tok, ".")
		hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
		var h struct{ Alg, Kid string }
		if err := json.Unmarshal(hb, &h); err != nil {
			t.Fatalf("accepted %q with header %s: %v", tok, hb, err)
		}
		sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
		if err != nil {
			t.Fatalf("accepted a non-canonical signature in %q", tok)
		}
		signed := []byte(parts[0] + "." + parts[1])
		d := sha256.Sum256(signed)
		var ok bool
		switch {
		case h.Alg == token.HS256 && (h.Kid == "k1" || h.Kid == ""):
			mac := hmac.New(sha256.New, keyA().Secret)
			mac.Write(signed)
			ok = hmac.Equal(mac.Sum(nil), sig)
		case h.Alg == token.ES256 && h.Kid == "sig-ES256" && len(sig) == 64:
			pub := testKeys()[token.ES256].Public().(*ecdsa.PublicKey)
			ok = ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		case h.Alg == token.EdDSA && h.Kid == "sig-EdDSA":
			ok = ed25519.Verify(testKeys()[token.EdDSA].Public().(ed25519.PublicKey), signed, sig)
		}
		if !ok {
			t.Fatalf("accepted %q (alg %s, kid %s) without a valid signature of that key", tok, h.Alg, h.Kid)
		}
	})
}
