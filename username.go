package gatehouse

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxUsernameLength is the longest username, in characters after
// normalisation (contract §4).
const MaxUsernameLength = 64

// NormalizeUsername returns name in Unicode NFKC, the form in which it is
// stored and shown.
func NormalizeUsername(name string) string { return norm.NFKC.String(name) }

// UsernameKey returns the key under which a username is unique: NFKC, then
// Unicode case folding, then NFKC again (folding can undo normalisation), so
// "Alice", "alice" and "ａｌｉｃｅ" are one name.
func UsernameKey(name string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}

// ValidateUsername checks a username as received and returns its normalised
// form, or an EINVALID error: 1–64 characters after normalisation, no
// control characters, not blank.
func ValidateUsername(name string) (string, error) {
	loc := []string{"body", "username"}
	if !utf8.ValidString(name) {
		return "", Invalid(loc, "Username must be valid UTF-8", "value_error")
	}
	n := NormalizeUsername(name)
	if strings.TrimFunc(n, unicode.IsSpace) == "" {
		return "", Invalid(loc, "Username must not be blank", "value_error")
	}
	if utf8.RuneCountInString(n) > MaxUsernameLength {
		return "", Invalid(loc, "Username must be at most 64 characters", "value_error")
	}
	for _, r := range n {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", Invalid(loc, "Username must not contain control characters", "value_error")
		}
	}
	return n, nil
}
