package gatehouse

import (
	"context"
	"time"
)

// OAuth 2.1 and OpenID Connect (contract §13): the clients an
// administrator registers, the authorization codes the /authorize endpoint
// hands out and the consents users gave. Sessions opened for a client carry
// its id (Session.ClientID), so their refresh tokens are bound to it.

// OAuth grant types a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// SessionOAuth is the Session.Kind of a session opened for an OAuth
// client by the authorization code grant: its tokens are the client's,
// bound to it by Session.ClientID.
const SessionOAuth = "oauth"

// AMR values beyond those of sessions.go an ID token may carry (RFC 8176).
const (
	AMRMultiFactor = "mfa" // more than one factor was used
)

// OAuthClient is one registered client application.
type OAuthClient struct {
	ID   string // the client_id: random, [A-Za-z0-9_-]
	Name string
	// Secrets are hashes of the client's secrets; empty for a public
	// client. During a rotation's overlap there are two: the new one and
	// the old one, which stops working at its ExpiresAt.
	Secrets                []ClientSecret
	Public                 bool     // no secret: a SPA, a mobile app or a CLI (PKCE is what protects its codes)
	FirstParty             bool     // trusted: no consent page
	RedirectURIs           []string // matched exactly (a loopback URI: any port, RFC 8252 §7.3)
	PostLogoutRedirectURIs []string // matched exactly
	Grants                 []string // GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials
	Scopes                 []string // the scopes it may ask for; empty: every scope the server knows
	IDTokenAlg             string   // "" for RS256 (OIDC Core §15.1), else ES256 or EdDSA
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// ClientSecret is the stored form of one client secret: a hash only.
type ClientSecret struct {
	Hash      string // hex SHA-256 of the secret (issued secrets carry ≥ 256 bits of entropy, so a fast hash is safe)
	CreatedAt time.Time
	ExpiresAt time.Time // zero: no end; set on the old secret when a new one replaces it
}

// AuthCode is the stored form of an authorization code (only its hash is
// kept) and what it was issued for.
type AuthCode struct {
	Hash          string // hex SHA-256 of the code
	ClientID      string
	UserID        int64
	BrowserSID    string // the browser session that approved it (the ID token's sid)
	RedirectURI   string // as sent to /authorize, to compare at /token
	Scope         string // space-separated, as granted
	Nonce         string // OIDC nonce, "" when none was sent
	CodeChallenge string // PKCE S256 challenge
	AuthTime      time.Time
	AMR           string // space-separated, of the browser session
	CreatedAt     time.Time
	ExpiresAt     time.Time // ≤ 60 s after CreatedAt
	// RedeemedAt is set by RedeemAuthCode; IssuedSession is the session
	// the first redemption opened, which a reuse revokes.
	RedeemedAt    time.Time
	IssuedSession string
}

// Consent is a user's approval of a client for a set of scopes.
type Consent struct {
	UserID    int64
	ClientID  string
	Scope     string // space-separated, every scope approved so far
	GrantedAt time.Time
}

// OAuthStore keeps clients, authorization codes and consents.
type OAuthStore interface {
	// CreateClient stores c, setting CreatedAt and UpdatedAt. ECONFLICT
	// when its ID is taken.
	CreateClient(ctx context.Context, c *OAuthClient) error
	// Client returns the client with that id, or ENOTFOUND.
	Client(ctx context.Context, id string) (*OAuthClient, error)
	// ListClients returns up to limit clients with ID > after, by ID.
	ListClients(ctx context.Context, after string, limit int) ([]*OAuthClient, error)
	// UpdateClient reads the client, applies apply and writes the result in
	// one transaction. ENOTFOUND when absent; apply's error is returned as
	// is and changes nothing.
	UpdateClient(ctx context.Context, id string, apply func(*OAuthClient) error) (*OAuthClient, error)
	// DeleteClient deletes the client, its codes and consents, and revokes
	// every session opened for it (as RevokeSession, with a session
	// revocation until until); those revocations are returned for the
	// caller to mirror. ENOTFOUND when absent.
	DeleteClient(ctx context.Context, id string, now, until time.Time) ([]Revocation, error)

	// CreateAuthCode stores c.
	CreateAuthCode(ctx context.Context, c *AuthCode) error
	// RedeemAuthCode finds the code with that hash and, if it was never
	// redeemed, marks it redeemed at now by the session sessionID (which
	// the caller opens next) and returns it. Of two concurrent calls
	// exactly one redeems. A code already redeemed is returned as stored
	// (RedeemedAt set, IssuedSession the first redeemer's) with
	// ErrCodeReused, so that the caller can revoke what it issued.
	// Expiry is the caller's to check. ENOTFOUND when no code has that hash.
	RedeemAuthCode(ctx context.Context, hash string, now time.Time, sessionID string) (*AuthCode, error)

	// Consent returns the user's consent to the client, or ENOTFOUND.
	Consent(ctx context.Context, userID int64, clientID string) (*Consent, error)
	// SetConsent stores c, replacing the user's earlier consent to the client.
	SetConsent(ctx context.Context, c *Consent) error
	// PurgeAuthCodes deletes codes that expired before now.
	PurgeAuthCodes(ctx context.Context, now time.Time) (int64, error)
}

// ErrCodeReused is RedeemAuthCode's error for a code redeemed before.
var ErrCodeReused = &Error{Code: EBADREQUEST, Message: "authorization code already used", OAuth: "invalid_grant"}
