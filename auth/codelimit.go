package auth

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The per-user limit on wrong second-factor codes (contract §6): the
// CodeLimiter contract, and the in-memory limiter a single instance uses.

// MaxCodeFailures wrong codes within CodeFailureWindow refuse every
// further code of that user, the right one included, until the window
// has passed (contract §6; RFC 4226 §7.3 requires such a limit).
const (
	MaxCodeFailures   = 5
	CodeFailureWindow = 5 * time.Minute
)

var errCodeLockout = &gatehouse.Error{Code: gatehouse.ERATELIMIT, Message: "Too many wrong 2FA codes; try again later"}

// CodeLockoutError refuses a second-factor code because its user had
// MaxCodeFailures wrong ones in the current window. Its code is
// ERATELIMIT; RetryAfter is what the Retry-After header says.
type CodeLockoutError struct{ RetryAfter time.Duration }

func (e *CodeLockoutError) Error() string { return "auth: too many wrong 2FA codes" }

func (e *CodeLockoutError) Unwrap() error { return errCodeLockout }

// CodeLimiter bounds guessing at second-factor codes per user. An attempt
// is reserved before its code is checked and released when the code was
// right, so parallel guesses cannot all pass a check made before any of
// them failed. MemoryCodeLimiter serves one instance; a shared
// implementation (Redis INCR with EXPIRE, DECR to release) lets several
// count together.
type CodeLimiter interface {
	// Reserve counts one attempt of userID. When the user's current window
	// already holds the maximum it counts nothing and returns how long
	// until the window ends.
	Reserve(ctx context.Context, userID int64) (retryAfter time.Duration, err error)
	// Release gives back an attempt whose code was right.
	Release(ctx context.Context, userID int64) error
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

type codeWindow struct {
	start    time.Time
	attempts int
}

// NewMemoryCodeLimiter allows max attempts per user per window, reading the
// time from now.
func NewMemoryCodeLimiter(max int, window time.Duration, now func() time.Time) *MemoryCodeLimiter {
	return &MemoryCodeLimiter{max: max, window: window, now: now, users: make(map[int64]codeWindow), sweepAt: 1024}
}

// Reserve implements CodeLimiter.
func (l *MemoryCodeLimiter) Reserve(_ context.Context, userID int64) (time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.users[userID]
	if !ok || !now.Before(w.start.Add(l.window)) {
		l.sweep(now)
		w = codeWindow{start: now}
	}
	if w.attempts >= l.max {
		return w.start.Add(l.window).Sub(now), nil
	}
	w.attempts++
	l.users[userID] = w
	return 0, nil
}

// Release implements CodeLimiter.
func (l *MemoryCodeLimiter) Release(_ context.Context, userID int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.users[userID]
	switch {
	case !ok:
	case w.attempts <= 1: // nothing failed: the next failure opens a new window
		delete(l.users, userID)
	default:
		w.attempts--
		l.users[userID] = w
	}
	return nil
}

// sweep drops ended windows whenever the map has doubled since the last
// sweep, so memory follows the users who erred recently at O(1) amortised
// cost per call.
func (l *MemoryCodeLimiter) sweep(now time.Time) {
	if len(l.users) < l.sweepAt {
		return
	}
	for id, w := range l.users {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.users, id)
		}
	}
	l.sweepAt = max(1024, 2*len(l.users))
}
