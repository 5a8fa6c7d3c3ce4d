package totp

import (
	"crypto/hmac"
	"crypto/sha1"
	"fmt"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the SHA-1 seed of RFC 6238 Appendix B, "12345678901234567890", in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// now is a fixed instant in the middle of a time step.
var now = time.Unix(1_700_000_015, 0)

var rfc6238Vectors = []struct {
	unix int64
	code string // 8 digits, as printed in RFC 6238 Appendix B
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

func TestHOTPMatchesRFC6238AppendixBAtEightDigits(t *testing.T) {
	mac := hmac.New(sha1.New, []byte("12345678901234567890"))
	for _, v := range rfc6238Vectors {
		got := fmt.Sprintf("%08d", hotp(mac, uint64(StepAt(time.Unix(v.unix, 0))))%100_000_000)
		if got != v.code {
			t.Errorf("T=%d: hotp = %s, want %s", v.unix, got, v.code)
		}
	}
}

func TestCodeIsTheSixDigitSuffixOfRFC6238AppendixB(t *testing.T) {
	for _, v := range rfc6238Vectors {
		got, err := Code(rfcSecret, time.Unix(v.unix, 0))
		if err != nil {
			t.Fatalf("T=%d: %v", v.unix, err)
		}
		if want := v.code[2:]; got != want {
			t.Errorf("T=%d: Code = %s, want %s", v.unix, got, want)
		}
	}
}

func TestStepAtIsFloorOfThirtySecondPeriods(t *testing.T) {
	tests := []struct {
		unix int64
		want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {59, 1}, {1111111109, 37037036},
		{-1, -1}, {-30, -1}, {-31, -2},
	}
	for _, tt := range tests {
		if got := StepAt(time.Unix(tt.unix, 999_999_999)); got != tt.want {
			t.Errorf("StepAt(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
}

func TestGenerateSecretIs160BitUpperCaseBase32WithoutPadding(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := GenerateSecret()
		if len(s) != 32 || strings.ToUpper(s) != s || strings.Contains(s, "=") {
			t.Fatalf("secret %q: want 32 upper-case base32 characters without padding", s)
		}
		if key, err := decodeSecret(s); err != nil || len(key) != 20 {
			t.Fatalf("secret %q decodes to %d bytes, %v; want 20", s, len(key), err)
		}
		if seen[s] {
			t.Fatalf("secret %q generated twice", s)
		}
		seen[s] = true
	}
}

func TestCodeRefusesBadSecrets(t *testing.T) {
	tests := []struct{ name, secret string }{
		{"not base32", "GEZDGNBVGY3TQOJQ!EZDGNBVGY3TQOJQ"},
		{"empty", ""},
		{"80 bits, below the 128 RFC 4226 requires", "GEZDGNBVGY3TQOJQ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Code(tt.secret, now); err == nil {
				t.Error("Code accepted the secret")
			}
			code, _ := Code(rfcSecret, now)
			if _, ok := Verify(tt.secret, code, now, 0); ok {
				t.Error("Verify accepted a code under the secret")
			}
		})
	}
}

func TestSecretAcceptsLowerCaseAndPadding(t *testing.T) {
	want, _ := Code(rfcSecret, now)
	for _, s := range []string{strings.ToLower(rfcSecret), rfcSecret + "===="} {
		if got, err := Code(s, now); err != nil || got != want {
			t.Errorf("Code(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
}

func TestVerifyAcceptsOnlyOneStepOfSkew(t *testing.T) {
	secret := GenerateSecret()
	cur := StepAt(now)
	tests := []struct {
		name   string
		offset int64 // steps between the code's time and now
		ok     bool
	}{
		{"two steps behind", -2, false},
		{"one step behind", -1, true},
		{"current step", 0, true},
		{"one step ahead", 1, true},
		{"two steps ahead", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := Code(secret, now.Add(time.Duration(tt.offset)*30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			step, ok := Verify(secret, code, now, 0)
			if ok != tt.ok {
				t.Fatalf("Verify(code of step %+d) ok = %v, want %v", tt.offset, ok, tt.ok)
			}
			if ok && step != cur+tt.offset {
				t.Errorf("matched step %d, want %d", step, cur+tt.offset)
			}
		})
	}
}

func TestVerifyRefusesReplayedAndOlderCodes(t *testing.T) {
	cur := StepAt(now)
	codeAt := func(offset int64) string {
		c, _ := Code(rfcSecret, now.Add(time.Duration(offset)*30*time.Second))
		return c
	}
	tests := []struct {
		name     string
		code     string
		lastStep int64
		ok       bool
	}{
		{"first use of the current code", codeAt(0), cur - 1, true},
		{"no code used yet", codeAt(0), 0, true},
		{"current code used already", codeAt(0), cur, false},
		{"previous code after the current one was used", codeAt(-1), cur, false},
		{"previous code used already", codeAt(-1), cur - 1, false},
		{"next code after the current one was used", codeAt(1), cur, true},
		{"next code used already", codeAt(1), cur + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := Verify(rfcSecret, tt.code, now, tt.lastStep); ok != tt.ok {
				t.Errorf("Verify(lastStep=cur%+d) ok = %v, want %v", tt.lastStep-cur, ok, tt.ok)
			}
		})
	}
}

func TestVerifyRefusesAnythingButSixASCIIDigits(t *testing.T) {
	good, _ := Code(rfcSecret, now)
	// disguised parses, digit by digit as value*10 + (c-'0'), to the right
	// value ("…30…" becomes "…2:…"): it must fail only because ':'..'C' are
	// not digits.
	i := strings.IndexFunc(good[:5], func(r rune) bool { return r != '0' })
	if i < 0 {
		t.Fatalf("fixture: code %s starts with five zeros", good)
	}
	disguised := good[:i] + string(good[i]-1) + string(good[i+1]+10) + good[i+2:]
	fullwidth := strings.Map(func(r rune) rune { return r - '0' + '０' }, good)
	arabicIndic := strings.Map(func(r rune) rune { return r - '0' + '٠' }, good)

	tests := []struct{ name, code string }{
		{"empty", ""},
		{"five digits", good[:5]},
		{"seven digits", good + "0"},
		{"trailing newline", good + "\n"},
		{"leading space", " " + good[:5]},
		{"sign", "+" + good[:5]},
		{"letter", good[:5] + "a"},
		{"non-digit that parses to the right value", disguised},
		{"full-width digits", fullwidth},
		{"Arabic-Indic digits", arabicIndic},
		{"NUL", good[:5] + "\x00"},
	}
	if _, ok := Verify(rfcSecret, good, now, 0); !ok {
		t.Fatalf("fixture: the right code %s is refused", good)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := Verify(rfcSecret, tt.code, now, 0); ok {
				t.Errorf("Verify(%q) accepted", tt.code)
			}
		})
	}
}

func TestVerifyRefusesAWrongCode(t *testing.T) {
	good, _ := Code(rfcSecret, now)
	wrong := []byte(good)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	if _, ok := Verify(rfcSecret, string(wrong), now, 0); ok {
		t.Errorf("Verify(%s) accepted; the right code is %s", wrong, good)
	}
}

func BenchmarkVerify(b *testing.B) {
	secret := GenerateSecret()
	code, _ := Code(secret, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Verify(secret, code, now, 0); !ok {
			b.Fatal("refused")
		}
	}
}
