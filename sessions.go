package gatehouse

import (
	"context"
	"time"
)

// Session kinds (contract §11): every login opens a login session, and the
// kind says what holds it.
const (
	// SessionToken is a login through POST /token: the client holds an
	// access token and a refresh token, and the session lasts as long as
	// its chain of refresh tokens.
	SessionToken = "token"
	// SessionBrowser is a login through the login page: the browser holds
	// a session cookie, and the session ends at its ExpiresAt.
	SessionBrowser = "browser"
)

// Authentication methods of a session (RFC 8176), as Session.AMR lists them.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	// AMRHardwareKey is a passkey's signature: proof of possession of a
	// key held by an authenticator (RFC 8176 "hwk").
	AMRHardwareKey = "hwk"
	// AMRUser marks an authenticator that verified the user (WebAuthn's
	// UV flag: a PIN or biometrics, it does not say which). Gatehouse
	// records RFC 8176's "user" for it beside "hwk".
	AMRUser = "user"
)

// SessionInfoStore lists and describes login sessions, for the sessions
// API and the account pages (contract §11).
type SessionInfoStore interface {
	// UserSessions returns up to limit of the user's sessions that are live
	// at now — not revoked, and either a browser session whose ExpiresAt
	// is after now or a token session holding a refresh token unexpired at
	// now — most recently used first (a session never used counts as used
	// when created).
	UserSessions(ctx context.Context, userID int64, now time.Time, limit int) ([]*Session, error)
	// LiveSession returns the session with that id if it is live at now
	// (as UserSessions means it), or ENOTFOUND.
	LiveSession(ctx context.Context, id string, now time.Time) (*Session, error)
	// TouchSessions records last-use times in one batch (the server buffers
	// them rather than writing on every request). A time never moves a
	// session's last use backwards; unknown ids are ignored.
	TouchSessions(ctx context.Context, used map[string]time.Time) error
}

// UserSearchStore finds users for the admin pages.
type UserSearchStore interface {
	// FindUsers returns up to limit users with ID > after, by ID, whose
	// username (compared as UsernameKey) or email (case-insensitively)
	// contains query. An empty query matches every user, as ListUsers.
	FindUsers(ctx context.Context, query string, after int64, limit int) ([]*User, error)
}
