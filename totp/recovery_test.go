package totp

import (
	"regexp"
	"testing"
)

var recoveryCodeFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){5}$`)

func TestRecoveryCodesAreWellFormedAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		codes := GenerateRecoveryCodes(10)
		if len(codes) != 10 {
			t.Fatalf("got %d codes, want 10", len(codes))
		}
		for _, c := range codes {
			if !recoveryCodeFormat.MatchString(c) {
				t.Fatalf("code %q: want six groups of four Crockford base32 symbols", c)
			}
			if seen[c] {
				t.Fatalf("code %q generated twice", c)
			}
			seen[c] = true
		}
	}
}

func TestRecoveryCodesUseTheWholeAlphabet(t *testing.T) {
	// A bias or a stuck bit in the symbol choice would leave symbols out.
	used := map[rune]bool{}
	for _, c := range GenerateRecoveryCodes(100) {
		for _, r := range c {
			used[r] = true
		}
	}
	for _, r := range recoveryAlphabet {
		if !used[r] {
			t.Errorf("symbol %q never used in 2400 draws", r)
		}
	}
}

func TestHashRecoveryCodeNormalisesWhatUsersType(t *testing.T) {
	const code = "7k3m-q9xd-2hfw-c8rt-ve51-j0ab"
	want := HashRecoveryCode(code)
	if len(want) != 64 {
		t.Fatalf("hash %q: want 64 hex digits", want)
	}
	tests := []struct{ name, typed string }{
		{"upper case", "7K3M-Q9XD-2HFW-C8RT-VE51-J0AB"},
		{"no dashes", "7k3mq9xd2hfwc8rtve51j0ab"},
		{"spaces instead of dashes", "7k3m q9xd 2hfw c8rt ve51 j0ab"},
		{"surrounding white space", "  7k3m-q9xd-2hfw-c8rt-ve51-j0ab\n"},
		{"letter o for zero", "7k3m-q9xd-2hfw-c8rt-ve51-joab"},
		{"letters i and l for one", "7k3m-q9xd-2hfw-c8rt-ve5i-j0ab"},
		{"letter L for one", "7k3m-q9xd-2hfw-c8rt-ve5L-j0ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HashRecoveryCode(tt.typed); got != want {
				t.Errorf("HashRecoveryCode(%q) differs from the canonical code's hash", tt.typed)
			}
		})
	}
}

func TestHashRecoveryCodeSeparatesDifferentCodes(t *testing.T) {
	a := HashRecoveryCode("7k3m-q9xd-2hfw-c8rt-ve51-j0ab")
	for _, other := range []string{"7k3m-q9xd-2hfw-c8rt-ve51-j0ac", "7k3m-q9xd-2hfw-c8rt-ve51-j0a", ""} {
		if HashRecoveryCode(other) == a {
			t.Errorf("%q hashes like a different code", other)
		}
	}
}
