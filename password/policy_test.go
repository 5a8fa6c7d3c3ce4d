package password

import (
	"errors"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name, username, password string
		want                     string // PolicyError.Reason, "" for accepted
	}{
		{"exactly 8 characters", "alice", "kq7#vLp2", ""},
		{"7 characters", "alice", "kq7#vLp", "too_short"},
		{"short in characters though long in bytes", "alice", "ñéüöäçß", "too_short"}, // 7 runes, 14 bytes
		{"8 multi-byte characters", "alice", "ñéüöäçßø", ""},
		{"spaces count, nothing is trimmed", "alice", "   ab   ", ""},
		{"only spaces, long enough", "alice", "         ", ""},
		{"1024 bytes", "alice", strings.Repeat("Zq", 512), ""},
		{"1025 bytes", "alice", strings.Repeat("Zq", 512) + "!", "too_long"},
		{"common", "alice", "baseball", "common"},
		{"common, other case", "alice", "BaseBall", "common"},
		{"common, fullwidth", "alice", "ｐａｓｓｗｏｒｄ", "common"},
		{"common with a space is not common", "alice", "baseball ", ""},
		{"equals username", "alice.example", "alice.example", "equals_username"},
		{"equals username ignoring case", "Alice.Example", "aLICE.eXAMPLE", "equals_username"},
		{"equals username after NFKC", "ａｌｉｃｅ．ｅｘａｍｐｌｅ", "Alice.Example", "equals_username"},
		{"contains username", "alice", "alice-in-chains-42", ""},
		{"no composition rules", "alice", "lowercaseonlybutlong", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.username, tt.password)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want accepted", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || pe.Reason != tt.want {
				t.Fatalf("Check = %v, want reason %q", err, tt.want)
			}
			if pe.Msg == "" || strings.Contains(pe.Msg, tt.password) || strings.Contains(pe.Error(), tt.password) {
				t.Errorf("message %q / %q is empty or shows the password", pe.Msg, pe.Error())
			}
		})
	}
}

func TestPolicyMinLengthIsConfigurable(t *testing.T) {
	p := DefaultPolicy()
	p.MinLength = 12
	if err := p.Check("alice", "kq7#vLp2kq7"); err == nil {
		t.Error("11 characters accepted with MinLength 12")
	}
	if err := p.Check("alice", "kq7#vLp2kq7#"); err != nil {
		t.Errorf("12 characters refused with MinLength 12: %v", err)
	}
}

func TestZeroPolicyIsSafe(t *testing.T) {
	var p Policy
	for pw, want := range map[string]string{"kq7#vLp": "too_short", "baseball": "common", strings.Repeat("x", 1025): "too_long"} {
		var pe *PolicyError
		if err := p.Check("alice", pw); !errors.As(err, &pe) || pe.Reason != want {
			t.Errorf("zero Policy: Check(%.10q) = %v, want reason %q", pw, err, want)
		}
	}
}

// TestPolicyLiteralSharesTheCommonList checks that a Policy made without
// DefaultPolicy does not rebuild the 30,000-entry list on every Check: it
// costs no more than DefaultPolicy's.
func TestPolicyLiteralSharesTheCommonList(t *testing.T) {
	check := func(p Policy) func() {
		return func() {
			if err := p.Check("alice", "correct horse battery staple"); err != nil {
				t.Fatal(err)
			}
		}
	}
	def := testing.AllocsPerRun(20, check(DefaultPolicy()))
	for _, tt := range []struct {
		name string
		p    Policy
	}{
		{"the zero Policy", Policy{}},
		{"a Policy literal", Policy{MinLength: 12}},
	} {
		if got := testing.AllocsPerRun(20, check(tt.p)); got > def {
			t.Errorf("%s: Check makes %v allocations, DefaultPolicy's makes %v", tt.name, got, def)
		}
	}
}

func TestTooLong(t *testing.T) {
	if TooLong(strings.Repeat("é", 512)) { // 1024 bytes
		t.Error("1024 bytes is too long")
	}
	if !TooLong(strings.Repeat("é", 512) + "x") {
		t.Error("1025 bytes is not too long")
	}
}

// TestCommonPasswordList keeps the embedded list usable as it is: large
// enough, and every entry already in the form Check compares.
func TestCommonPasswordList(t *testing.T) {
	set := commonPasswords()
	if len(set) < 10000 {
		t.Fatalf("%d common passwords, want at least 10,000", len(set))
	}
	for _, top := range []string{"123456", "password", "qwerty", "iloveyou"} {
		if _, ok := set[top]; !ok {
			t.Errorf("%q missing from the list", top)
		}
	}
	for pw := range set {
		if foldKey(pw) != pw {
			t.Fatalf("entry %q is not in folded form", pw)
		}
	}
}

func BenchmarkPolicyCheck(b *testing.B) {
	p := DefaultPolicy()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Check("alice", "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommonPasswords measures the one-time cost of the first Check.
func BenchmarkCommonPasswords(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		commonPasswords()
	}
}
