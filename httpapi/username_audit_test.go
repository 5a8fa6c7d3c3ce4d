package httpapi_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// TestAFailedLoginNeverStoresAnUnknownUsernameAsTyped (issue 9 finding
// 10): a password typed into the username field reaches neither the log
// nor /audit; the audit names an unknown username by a keyed hash that is
// the same for every spelling of it, and a known user's name as before.
func TestAFailedLoginNeverStoresAnUnknownUsernameAsTyped(t *testing.T) {
	// Each attempt from an address of its own, so that the audit stores
	// each in full rather than as one summary of a client's refusals.
	e := newFullEnv(t, opsOptions{proxies: []string{"127.0.0.0/8"}})
	at := e.adminToken()
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	const typed = "Tr0ub4dor&3-my-real-passphrase"
	for i, name := range []string{typed, strings.ToUpper(typed), "alice"} { // the first two are one name
		r := e.form("/token", url.Values{"username": {name}, "password": {"not the password"}},
			"X-Forwarded-For", fmt.Sprint("203.0.113.", i+1))
		wantStatus(t, r, 401)
	}

	var unknown []string
	for _, ev := range e.events() {
		if ev.Type != gatehouse.EventLogin || ev.Outcome != gatehouse.OutcomeFailure {
			continue
		}
		if ev.UserID == 0 {
			unknown = append(unknown, ev.Username)
		} else if ev.Username != "alice" {
			t.Errorf("a known user's failed login names %q, want alice", ev.Username)
		}
	}
	hashed := regexp.MustCompile(`^unknown:[0-9a-f]{16}$`)
	if len(unknown) != 2 {
		t.Fatalf("failed logins of an unknown name audited as %q, want 2", unknown)
	}
	for _, u := range unknown {
		if !hashed.MatchString(u) || u != unknown[0] {
			t.Fatalf("unknown usernames audited as %q; want one unknown:<16 hex digits> for both spellings", unknown)
		}
	}
	r := e.get("/audit?type=login", at)
	wantStatus(t, r, 200)
	for _, where := range []string{r.raw, e.logs.String()} {
		if strings.Contains(strings.ToLower(where), strings.ToLower(typed)) {
			t.Fatalf("the typed name reached the audit or the log:\n%s", where)
		}
	}
}
