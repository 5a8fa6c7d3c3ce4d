package httpapi_test

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// loginLimitEnv is a server whose login limit is limit, behind a trusted
// proxy so that requests can name their client.
func loginLimitEnv(t *testing.T, limit ratelimit.Limit) (*env, func(ip, user, pw string) response) {
	e := newEnvWith(t, envOptions{proxies: []string{"127.0.0.1/32"}, loginLimit: limit})
	return e, func(ip, user, pw string) response {
		return e.form("/token", url.Values{"username": {user}, "password": {pw}}, "X-Forwarded-For", ip)
	}
}

// TestStrangersCannotLockTheOwnerOut (issue 9 finding 4, contract §12),
// the reviewer's scenario on a fake clock: strangers on other addresses
// send a wrong password as each slot of the per-username limit opens, for
// two minutes; the owner, on an address she logged in from before, logs
// in every time. (Before: 20 × 429 and one 200 in a minute.)
func TestStrangersCannotLockTheOwnerOut(t *testing.T) {
	limit := ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 10}
	e, loginFrom := loginLimitEnv(t, limit)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	const home = "198.51.100.10"
	wantStatus(t, loginFrom(home, "alice", "correct horse battery"), 200) // a known device from now on

	strangers := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}
	step := limit.Period / time.Duration(limit.Rate) / 2
	owner429, guesses := 0, 0
	for i := range int(2 * time.Minute / step) {
		// Every stranger tries until refused: the username's allowance is
		// spent whenever the owner comes.
		for _, ip := range strangers {
			for {
				r := loginFrom(ip, "alice", "a wrong guess")
				if r.status == 429 {
					break
				}
				wantStatus(t, r, 401)
				guesses++
			}
		}
		if i%2 == 0 { // the owner, every 6 s
			if r := loginFrom(home, "alice", "correct horse battery"); r.status != 200 {
				owner429++
			}
		}
		e.clock.Advance(step)
	}
	if owner429 > 0 {
		t.Fatalf("the owner was refused %d times while strangers guessed", owner429)
	}
	// The strangers got what the username's limit allows, no more: its
	// burst and one every interval (the addresses' own limits are higher).
	if max := limit.Burst + int(2*time.Minute/(limit.Period/time.Duration(limit.Rate))); guesses > max {
		t.Fatalf("strangers made %d guesses in two minutes; the username's limit allows %d", guesses, max)
	}
	// From an address she never used, the owner shares the allowance
	// with the guessers: refused while they spend it.
	for loginFrom(strangers[0], "alice", "a wrong guess").status != 429 {
	}
	wantStatus(t, loginFrom("192.0.2.77", "alice", "correct horse battery"), 429)
}

// TestSuccessesDoNotCountAgainstAUsername (contract §12): logins with the
// right password leave the username's allowance for failures whole.
func TestSuccessesDoNotCountAgainstAUsername(t *testing.T) {
	limit := ratelimit.Limit{Rate: 3, Period: time.Minute, Burst: 3}
	e, loginFrom := loginLimitEnv(t, limit)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	for i := range 6 { // from six new addresses: each shares the allowance
		wantStatus(t, loginFrom(fmt.Sprint("192.0.2.", i+1), "alice", "correct horse battery"), 200)
	}
	for i := range 4 {
		want := 401
		if i == 3 {
			want = 429
		}
		wantStatus(t, loginFrom("203.0.113.50", "alice", "a wrong guess"), want)
	}
}

// TestConcurrentGuessesGetNoMoreThanTheLimit: the per-username allowance
// is taken before the password is checked, so guesses sent at once from
// many addresses are refused beyond it, although none has failed yet when
// the others are admitted.
func TestConcurrentGuessesGetNoMoreThanTheLimit(t *testing.T) {
	limit := ratelimit.Limit{Rate: 5, Period: time.Minute, Burst: 5}
	e, loginFrom := loginLimitEnv(t, limit)
	e.createUser("alice", "correct horse battery", gatehouse.RoleUser)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			r := loginFrom(fmt.Sprint("203.0.113.", i+1), "alice", "a wrong guess")
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[401] != limit.Burst || codes[429] != 20-limit.Burst {
		t.Fatalf("20 concurrent guesses: %v; want %d × 401 and the rest 429", codes, limit.Burst)
	}
}

// TestASecondFactorLoginMakesAKnownDevice: the address that completes a
// two-factor login, at its second step, is exempt as a password-only
// login's is.
func TestASecondFactorLoginMakesAKnownDevice(t *testing.T) {
	limit := ratelimit.Limit{Rate: 2, Period: time.Minute, Burst: 2}
	e := &tfEnv{env: newEnvWith(t, envOptions{proxies: []string{"127.0.0.1/32"}, loginLimit: limit}), audit: &auditLog{}}
	a := e.enrol("alice")
	const home = "198.51.100.10"
	r := e.form("/token", url.Values{"username": {"alice"}, "password": {tfPassword}}, "X-Forwarded-For", home)
	wantStatus(t, r, 401)
	r = e.form("/token", url.Values{"grant_type": {"urn:gatehouse:params:oauth:grant-type:mfa-otp"}, "mfa_token": {r.str("mfa_token")},
		"otp": {e.code(a.secret, 0)}}, "X-Forwarded-For", home)
	wantStatus(t, r, 200)
	e.nextStep()
	for i := range 3 {
		wantStatus(t, e.form("/token", url.Values{"username": {"alice"}, "password": {"a wrong guess"}}, "X-Forwarded-For", fmt.Sprint("203.0.113.", i+1)),
			map[bool]int{true: 401, false: 429}[i < 2])
	}
	e.clock.Advance(time.Minute) // the home address's own limit, not the username's, is what remains
	r = e.form("/token", url.Values{"username": {"alice"}, "password": {tfPassword}, "otp": {e.code(a.secret, 0)}}, "X-Forwarded-For", home)
	wantStatus(t, r, 200)
}
