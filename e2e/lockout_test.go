package e2e

import (
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 9 finding 4, contract §12, as the reviewer ran it, on two
// instances sharing PostgreSQL and Redis with a short login limit
// (5/second) so that it runs in seconds: strangers on two addresses send a
// wrong password to instance A as each slot of alice's per-username limit
// opens; alice, on an address she logged in from before (through
// instance B), logs in every time, on either instance. (Before the fix:
// 20 × 429 and one 200 in a minute, at the default limit.)
func TestStrangersWrongPasswordsDoNotLockTheOwnerOut(t *testing.T) {
	c := newCluster(t)
	env := []string{"GATEHOUSE_LOGIN_RATE_LIMIT=5/second", "GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32"}
	a := c.start(env...)
	b := c.start(env...)
	admin := a.login(t, "admin", "e2e-admin-password-1")
	if code, m := call(t, "POST", a.base+"/users", admin, "application/json",
		`{"username":"alice","password":"alice's long passphrase"}`); code != 201 {
		t.Fatalf("create alice: %d %v", code, m)
	}
	form := func(pw string) string {
		return url.Values{"username": {"alice"}, "password": {pw}}.Encode()
	}
	const home = "198.51.100.10"
	if code, m := callFrom(t, home, "POST", b.base+"/token", "", form("alice's long passphrase")); code != 200 {
		t.Fatalf("alice's first login: %d %v", code, m)
	}

	// Three seconds at least, and until the strangers were refused: on a
	// loaded machine each guess (an argon2id hash) is slow, and the
	// username's limit is reached later.
	var refused, guessed atomic.Int64
	start := time.Now()
	running := func() bool {
		d := time.Since(start)
		return d < 3*time.Second || (refused.Load() == 0 && d < 30*time.Second)
	}
	var wg sync.WaitGroup
	for _, ip := range []string{"203.0.113.1", "203.0.113.2"} {
		wg.Go(func() {
			for running() {
				switch code, _ := callFrom(t, ip, "POST", a.base+"/token", "", form("a wrong guess")); code {
				case 401:
					guessed.Add(1)
				case 429:
					refused.Add(1)
					time.Sleep(20 * time.Millisecond) // "as each slot opens"
				default:
					t.Errorf("a stranger's guess: %d", code)
					return
				}
			}
		})
	}
	var owner []int
	for i := 0; running(); i++ {
		in := a
		if i%2 == 1 {
			in = b
		}
		code, _ := callFrom(t, home, "POST", in.base+"/token", "", form("alice's long passphrase"))
		owner = append(owner, code)
		time.Sleep(250 * time.Millisecond) // within her address's own 5/second
	}
	wg.Wait()
	if refused.Load() == 0 {
		t.Fatalf("the strangers were never refused (%d guesses): the username's limit was not under attack", guessed.Load())
	}
	for i, code := range owner {
		if code != 200 {
			t.Fatalf("alice's login %d of %d while strangers guessed: %d (all: %v)", i+1, len(owner), code, owner)
		}
	}
	t.Logf("strangers: %d guesses answered, %d refused; alice: %d logins, all 200", guessed.Load(), refused.Load(), len(owner))
}
