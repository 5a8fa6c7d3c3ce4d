package auth

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The per-user limit on wrong second-factor codes (contract §6), with
// lockouts that grow (issue 9 finding 11): the CodeLimiter contract, and
// the in-memory limiter a single instance uses.

// MaxCodeFailures wrong codes within CodeFailureWindow refuse every
// further code of that user, the right one included, until the window
// has passed (contract §6; RFC 4226 §7.3 requires such a limit).
const (
	MaxCodeFailures   = 5
	CodeFailureWindow = 5 * time.Minute
)

// Lockouts grow: the first full window locks the user out until it ends,
// as contract §6 says; each further full window in a row locks them out
// for twice as long as the one before — 10 minutes, 20, 40 … — up to
// MaxCodeLockout. A right code ends the escalation, and so does a day
// (CodeLockoutMemory) without a lockout. Someone who holds the password
// but not the second factor thus gets 5 guesses per lockout, about 190 a
// month once the lockouts reach a day, instead of 43,200 (README:
// two-factor guessing).
const (
	MaxCodeLockout    = 24 * time.Hour
	CodeLockoutMemory = 24 * time.Hour
)

// CodeLockout is how long the user is locked out when the window fills
// for the level-th time in a row, counted from the moment it fills. Level
// 1's lockout is the rest of its window instead.
func CodeLockout(level int, window time.Duration) time.Duration {
	d := window
	for i := 1; i < level && d < MaxCodeLockout; i++ {
		d *= 2
	}
	return min(d, MaxCodeLockout)
}

var errCodeLockout = &gatehouse.Error{Code: gatehouse.ERATELIMIT, Message: "Too many wrong 2FA codes; try again later"}

// CodeLockoutError refuses a second-factor code because its user had
// MaxCodeFailures wrong ones in the current window. Its code is
// ERATELIMIT; RetryAfter is what the Retry-After header says.
type CodeLockoutError struct{ RetryAfter time.Duration }

func (e *CodeLockoutError) Error() string { return "auth: too many wrong 2FA codes" }

func (e *CodeLockoutError) Unwrap() error { return errCodeLockout }

// CodeReservation is what CodeLimiter.Reserve decided.
type CodeReservation struct {
	// RetryAfter, when positive, refuses the attempt: the user is locked
	// out for that long still, and nothing was counted.
	RetryAfter time.Duration
	// Lockout, when positive, says the attempt took the window's last
	// slot: if its code is wrong, the user is locked out for that long,
	// the Level-th lockout in a row.
	Lockout time.Duration
	Level   int
}

// CodeLimiter bounds guessing at second-factor codes per user. An attempt
// is reserved before its code is checked and released when the code was
// right or could not be checked, so parallel guesses cannot all pass a
// check made before any of them failed. MemoryCodeLimiter serves one
// instance; the Redis one lets several count together.
type CodeLimiter interface {
	// Reserve counts one attempt of userID, unless the user is locked
	// out.
	Reserve(ctx context.Context, userID int64) (CodeReservation, error)
	// Release gives back a reserved attempt that was not a wrong code.
	// right says its code was right, which also ends the escalation:
	// the next lockout is a first one again.
	Release(ctx context.Context, userID int64, right bool) error
	// Reset forgets the user's attempts and lockouts, when the password
	// changes: whoever guessed codes with the old one can no longer
	// submit any, and the owner is not kept out by their lockout.
	Reset(ctx context.Context, userID int64) error
}

// MemoryCodeLimiter is an in-process CodeLimiter with fixed windows that
// open at a user's first attempt. It is safe for concurrent use.
type MemoryCodeLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	users   map[int64]codeWindow
	sweepAt int // sweep ended windows when users grows to this size
}

// codeWindow is a user's state: the current window, and the escalation.
type codeWindow struct {
	start    time.Time
	attempts int
	until    time.Time // the window's end, or the lockout's when later
	level    int       // lockouts in a row
	forget   time.Time // when the level goes back to 0
}

// NewMemoryCodeLimiter allows max attempts per user per window, reading the
// time from now.
func NewMemoryCodeLimiter(max int, window time.Duration, now func() time.Time) *MemoryCodeLimiter {
	return &MemoryCodeLimiter{max: max, window: window, now: now, users: make(map[int64]codeWindow), sweepAt: 1024}
}

// Reserve implements CodeLimiter.
func (l *MemoryCodeLimiter) Reserve(_ context.Context, userID int64) (CodeReservation, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.users[userID]
	if !ok {
		l.sweep(now)
	}
	if !now.Before(w.forget) {
		w.level = 0
	}
	if w.attempts >= l.max && now.Before(w.until) {
		return CodeReservation{RetryAfter: w.until.Sub(now)}, nil
	}
	if !now.Before(w.until) { // a new window
		w.start, w.attempts, w.until = now, 0, now.Add(l.window)
	}
	w.attempts++
	var r CodeReservation
	if w.attempts >= l.max {
		w.level++
		if w.level > 1 {
			w.until = later(w.until, now.Add(CodeLockout(w.level, l.window)))
		}
		w.forget = w.until.Add(CodeLockoutMemory)
		r = CodeReservation{Lockout: w.until.Sub(now), Level: w.level}
	}
	l.users[userID] = w
	return r, nil
}

// Release implements CodeLimiter.
func (l *MemoryCodeLimiter) Release(_ context.Context, userID int64, right bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.users[userID]
	if !ok {
		return nil
	}
	if w.attempts >= l.max { // it took the last slot: no lockout after all
		w.level = max(w.level-1, 0)
		w.until = w.start.Add(l.window)
	}
	w.attempts = max(w.attempts-1, 0)
	if right {
		w.level = 0
	}
	if w.attempts == 0 && w.level == 0 { // nothing failed: the next failure opens a new window
		delete(l.users, userID)
		return nil
	}
	l.users[userID] = w
	return nil
}

// Reset implements CodeLimiter.
func (l *MemoryCodeLimiter) Reset(_ context.Context, userID int64) error {
	l.mu.Lock()
	delete(l.users, userID)
	l.mu.Unlock()
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sweep drops users whose window has ended and whose escalation is
// forgotten, whenever the map has doubled since the last sweep, so memory
// follows the users who erred recently at O(1) amortised cost per call.
func (l *MemoryCodeLimiter) sweep(now time.Time) {
	if len(l.users) < l.sweepAt {
		return
	}
	for id, w := range l.users {
		if !now.Before(w.until) && !now.Before(w.forget) {
			delete(l.users, id)
		}
	}
	l.sweepAt = max(1024, 2*len(l.users))
}
