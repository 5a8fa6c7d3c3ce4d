package password

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxBytes is the longest password accepted anywhere, in bytes (contract §2).
// It bounds the work a request can cause before any hashing happens.
const MaxBytes = 1024

// TooLong reports whether password is longer than MaxBytes. It costs nothing,
// so callers can refuse (422) before looking anything up or hashing.
func TooLong(password string) bool { return len(password) > MaxBytes }

// Policy decides which passwords may be set, after NIST SP 800-63B
// §3.1.1.2: a minimum length, a generous maximum, no composition rules, and
// no password that is commonly used or equal to the username. Passwords are
// judged exactly as received: spaces count and nothing is trimmed. The
// maximum is always MaxBytes.
//
// The zero Policy behaves as DefaultPolicy, and every Policy, however made,
// shares one copy of the common-password list.
type Policy struct {
	// MinLength is the fewest characters (Unicode code points) allowed;
	// zero means 8, the §3.1.1.2 minimum.
	MinLength int
}

// DefaultPolicy returns the policy of contract §2: at least 8 characters, at
// most 1024 bytes, not among the 30,000 most common passwords, not the
// username.
func DefaultPolicy() Policy {
	return Policy{MinLength: 8}
}

// PolicyError is the reason a password was refused.
type PolicyError struct {
	Reason string // "too_short", "too_long", "common" or "equals_username"
	Msg    string // human-readable, safe to show; never contains the password
}

func (e *PolicyError) Error() string { return "password: refused by policy: " + e.Reason }

// Check returns nil if password may be set for username, or a *PolicyError.
func (p Policy) Check(username, password string) error {
	minLen := p.MinLength
	if minLen <= 0 {
		minLen = 8
	}
	if TooLong(password) {
		return &PolicyError{"too_long", fmt.Sprintf("Password must be at most %d bytes", MaxBytes)}
	}
	if utf8.RuneCountInString(password) < minLen {
		return &PolicyError{"too_short", fmt.Sprintf("Password must be at least %d characters", minLen)}
	}
	key := foldKey(password)
	if key == foldKey(username) {
		return &PolicyError{"equals_username", "Password must not be the same as the username"}
	}
	if _, found := commonSet()[key]; found {
		return &PolicyError{"common", "Password is too common; choose a less predictable one"}
	}
	return nil
}

// foldKey returns s in the form in which two strings are the same "ignoring
// case": NFKC, Unicode case folding, NFKC again (folding can undo
// normalisation). "Alice", "alice" and "ａｌｉｃｅ" share one key.
func foldKey(s string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
}

//go:embed commonpasswords.txt
var commonPasswordsTxt string

// commonSet returns the embedded list as a set whose keys are in foldKey
// form. It is built on the first Check, not at init, so a program that never
// checks a password never pays for it (a millisecond or two), and is then
// shared by every Policy. It is never written after it is built, so it is a
// constant, only a lazy one.
var commonSet = sync.OnceValue(commonPasswords)

// commonPasswords parses the embedded list into a set. Entries are stored
// lowercase ASCII, already in foldKey form (a test keeps them so), so they
// are used as they are.
func commonPasswords() map[string]struct{} {
	set := make(map[string]struct{}, 30000)
	for line := range strings.SplitSeq(commonPasswordsTxt, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			set[line] = struct{}{}
		}
	}
	return set
}
