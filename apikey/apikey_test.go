package apikey_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/apikey"
)

var pepper = []byte("0123456789abcdef0123456789abcdef")

func TestGeneratedKeysParseBackIntoTheirParts(t *testing.T) {
	shape := regexp.MustCompile(`^ghk_[0-9A-Za-z]{16}_[0-9A-Za-z_-]{43}$`)
	seen := map[string]bool{}
	for range 200 {
		key, lookup, secret := apikey.Generate()
		if !shape.MatchString(key) || len(key) != apikey.Len {
			t.Fatalf("key %q has the wrong shape", key)
		}
		l, s, ok := apikey.Parse(key)
		if !ok || l != lookup || s != secret {
			t.Fatalf("Parse(%q) = %q, %q, %v; want %q, %q", key, l, s, ok, lookup, secret)
		}
		if seen[lookup] || seen[secret] {
			t.Fatal("a lookup id or secret repeated")
		}
		seen[lookup], seen[secret] = true, true
	}
}

func TestParseRefusesAnythingButTheExactForm(t *testing.T) {
	key, _, _ := apikey.Generate()
	flipCase := func(s string) string {
		b := []byte(s)
		for i := len(apikey.Prefix); i < len(b); i++ {
			if b[i] >= 'a' && b[i] <= 'z' {
				b[i] -= 32
				return string(b)
			}
			if b[i] >= 'A' && b[i] <= 'Z' {
				b[i] += 32
				return string(b)
			}
		}
		return s
	}
	tests := []struct {
		name, key string
		ok        bool
	}{
		{"the key itself", key, true},
		{"empty", "", false},
		{"upper-case prefix", "GHK_" + key[4:], false},
		{"other prefix", "ghr_" + key[4:], false},
		{"one character short", key[:len(key)-1], false},
		{"one character long", key + "A", false},
		{"surrounding space", " " + key[1:], false},
		{"trailing newline", key[:len(key)-1] + "\n", false},
		{"missing separator", key[:20] + "-" + key[21:], false},
		{"lookup id with '-'", key[:5] + "-" + key[6:], false},
		{"secret with '+' (not base64url)", key[:30] + "+" + key[31:], false},
		{"secret with '=' padding", key[:len(key)-1] + "=", false},
		{"non-canonical last character", key[:len(key)-1] + "B", false},
		{"non-ASCII", key[:30] + "é" + key[32:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, ok := apikey.Parse(tt.key); ok != tt.ok {
				t.Fatalf("Parse(%q) ok = %v, want %v", tt.key, ok, tt.ok)
			}
		})
	}
	// A case change parses (it is well formed) but is another key: its
	// secret or lookup id differs, so it cannot verify.
	other := flipCase(key)
	l1, s1, _ := apikey.Parse(key)
	l2, s2, ok := apikey.Parse(other)
	if ok && l1 == l2 && s1 == s2 {
		t.Fatalf("keys differing in case parse to the same parts")
	}
}

func TestVerifyAcceptsOnlyTheHashedSecretUnderTheSamePepper(t *testing.T) {
	_, _, secret := apikey.Generate()
	_, _, other := apikey.Generate()
	h := apikey.Hash(pepper, secret)
	if len(h) != 32 || bytes.Contains(h, []byte(secret)) {
		t.Fatalf("hash is not a 32-byte MAC: %x", h)
	}
	tests := []struct {
		name   string
		pepper []byte
		secret string
		hash   []byte
		want   bool
	}{
		{"right secret", pepper, secret, h, true},
		{"other secret", pepper, other, h, false},
		{"secret in other case", pepper, strings.ToUpper(secret), h, strings.ToUpper(secret) == secret},
		{"other pepper", []byte("another pepper of at least 32 bytes"), secret, h, false},
		{"truncated hash", pepper, secret, h[:16], false},
		{"empty hash", pepper, secret, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := apikey.Verify(tt.pepper, tt.secret, tt.hash); got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	key, _, _ := apikey.Generate()
	f.Add(key)
	f.Add("")
	f.Add("ghk_")
	f.Add("ghk_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		lookup, secret, ok := apikey.Parse(s)
		if !ok {
			if lookup != "" || secret != "" {
				t.Fatal("a refused key returned parts")
			}
			return
		}
		// Exactly one spelling: the parts rebuild the input.
		if apikey.Prefix+lookup+"_"+secret != s {
			t.Fatalf("parts %q, %q do not rebuild %q", lookup, secret, s)
		}
		if len(lookup) != 16 || len(secret) != 43 {
			t.Fatalf("part lengths %d, %d", len(lookup), len(secret))
		}
	})
}

func BenchmarkParseAndVerify(b *testing.B) {
	key, _, secret := apikey.Generate()
	h := apikey.Hash(pepper, secret)
	b.ReportAllocs()
	for b.Loop() {
		_, s, ok := apikey.Parse(key)
		if !ok || !apikey.Verify(pepper, s, h) {
			b.Fatal("refused")
		}
	}
}
