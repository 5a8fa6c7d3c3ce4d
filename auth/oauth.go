package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/token"
)

// OAuth 2.1 and OpenID Connect (contract §13): the token side of package
// oauth's provider. Sessions opened for a client are login sessions like
// any other — one revocation by sid ends every token they issued, their
// refresh tokens rotate with reuse detection (refresh.go), the rate limits
// and the audit apply — with Session.ClientID binding them to the client.

// The OpenID Connect scopes (OIDC Core §5.4, §11). Every other scope is an
// API scope of contract §4, granted by the user's role.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// CodeReuseWindow is how long an authorization code is kept after it
// expired: presented again within it, a code redeemed before revokes the
// session it opened (RFC 9700 §4.5); later it is merely unknown.
const CodeReuseWindow = 10 * time.Minute

// IsOIDCScope reports whether scope is one of the OpenID Connect scopes.
func IsOIDCScope(scope string) bool {
	switch scope {
	case ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess:
		return true
	}
	return false
}

// restrictOAuth keeps, of a client session's space-separated scopes, the
// OpenID Connect ones and the API scopes role allows now: a demoted user's
// client tokens lose what the role no longer grants.
func restrictOAuth(role gatehouse.Role, scope string) string {
	var out []string
	for _, s := range strings.Fields(scope) {
		if IsOIDCScope(s) || rbac.AllowsScope(role, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

var (
	errOAuthGrant = &gatehouse.Error{Code: gatehouse.EBADREQUEST, OAuth: "invalid_grant",
		Message: "The authorization grant is invalid, expired or revoked"}
	errWrongClientToken = &gatehouse.Error{Code: gatehouse.EBADREQUEST, OAuth: "invalid_grant",
		Message: "Refresh token was not issued to this client; its session has been revoked"}
)

// AccessTTL is the lifetime of the access tokens the service issues.
func (s *Service) AccessTTL() time.Duration { return s.cfg.AccessTTL }

// NewSessionID returns a fresh login session id, for a session opened
// later by OpenOAuthSession (RedeemAuthCode records it first).
func NewSessionID() string { return token.NewID() }

// OAuthBrowser verifies a browser session cookie, as AuthenticateSession
// does, and returns the session (its auth_time and methods) and its user,
// for the authorization endpoint.
func (s *Service) OAuthBrowser(ctx context.Context, cookie string) (*BrowserSession, *gatehouse.User, error) {
	b, amr, u, err := s.authenticateSession(ctx, cookie)
	if err != nil {
		return nil, nil, err
	}
	b.AMR = amrString(amr)
	return b, u.snap.User(), nil
}

// OAuthGrant is what an authorization code stood for: the tokens to issue
// a client for a user who approved it.
type OAuthGrant struct {
	ClientID   string
	UserID     int64
	Scope      string // as granted at /authorize
	AuthTime   time.Time
	AMR        string
	BrowserSID string // the browser session that approved it: signed out since, the grant is void
	SessionID  string // the id of the session to open (NewSessionID)
}

// OpenOAuthSession opens a SessionOAuth session for the grant, bound to its
// client, and issues its access token — and a refresh token when the
// grant holds offline_access. The user must still exist and be enabled,
// and the browser session that approved the grant still be live; the API
// scopes are those the user's role allows now.
func (s *Service) OpenOAuthSession(ctx context.Context, g OAuthGrant) (*TokenPair, error) {
	now := s.now()
	if g.ClientID == "" || g.SessionID == "" {
		return nil, errors.New("auth: open oauth session: client and session id are required")
	}
	if g.BrowserSID != "" && s.mirror.Revoked("", g.BrowserSID) {
		return nil, errOAuthGrant
	}
	// From the store, not the cache: the cache keeps no password hash, and
	// the session is bound to the password the user has now, so that a
	// change racing this exchange either ends the session or keeps it from
	// opening (contract §12). A code exchange writes anyway.
	u, err := s.cfg.Store.UserByID(ctx, g.UserID)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, errOAuthGrant
	}
	if err != nil {
		return nil, fmt.Errorf("auth: open oauth session: %w", err)
	}
	if u.Disabled {
		return nil, errOAuthGrant
	}
	scope := restrictOAuth(u.Role, g.Scope)
	sess := s.newSession(ctx, u, scope, gatehouse.SessionOAuth, now)
	sess.ID, sess.ClientID, sess.AuthTime, sess.AMR = g.SessionID, g.ClientID, g.AuthTime, g.AMR
	if u.PasswordHash != "" {
		sess.Credential = gatehouse.CredentialFingerprint(u.PasswordHash)
	}
	var first *gatehouse.RefreshToken
	rt := ""
	if gatehouse.HasScope(scope, ScopeOfflineAccess) {
		rt = newRefreshToken()
		first = &gatehouse.RefreshToken{Hash: hashRefresh(rt), SessionID: sess.ID, UserID: u.ID, Scope: scope,
			CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	} else {
		// Without a refresh token the session lasts as long as its one
		// access token.
		sess.ExpiresAt = now.Add(s.cfg.AccessTTL)
	}
	if err := s.cfg.Store.CreateSession(ctx, sess, first); err != nil {
		if errors.Is(err, gatehouse.ErrCredentialChanged) {
			return nil, errOAuthGrant
		}
		return nil, err
	}
	pair, err := s.clientPair(u, g.ClientID, sess.ID, scope, rt, now)
	if err != nil {
		return nil, err
	}
	s.met.TokenIssued(gatehouse.GrantAuthorizationCode)
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogin, Outcome: gatehouse.OutcomeSuccess,
		UserID: u.ID, Detail: "oauth client " + capText(g.ClientID, 64)})
	return pair, nil
}

// clientPair issues an access token of a client session: it carries the
// client's id (RFC 9068 §2.2) and the session's scopes, OpenID Connect
// ones included.
func (s *Service) clientPair(u *gatehouse.User, clientID, sid, scope, rt string, now time.Time) (*TokenPair, error) {
	at, err := s.cfg.Tokens.Issue(token.Claims{
		Subject:   strconv.FormatInt(u.ID, 10),
		ID:        token.NewID(),
		SessionID: sid,
		Scope:     scope,
		ClientID:  clientID,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ExpiresAt: now.Add(s.cfg.AccessTTL).Unix(),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: issue client access token: %w", err)
	}
	return &TokenPair{AccessToken: at, RefreshToken: rt, ExpiresIn: int(s.cfg.AccessTTL / time.Second),
		Scope: scope, User: u, SessionID: sid}, nil
}

// RefreshForClient is Refresh for an authenticated OAuth client: the token
// must belong to a session opened for that client. A token of another
// client's session, or of a first-party login, is treated as stolen: its
// session is revoked. (Refresh, in turn, refuses every client's tokens
// the same way.)
func (s *Service) RefreshForClient(ctx context.Context, clientID, rt string) (*TokenPair, error) {
	if clientID == "" {
		return nil, errors.New("auth: refresh for client: no client")
	}
	return s.rotate(ctx, rt, clientID)
}

// wrongClient answers a refresh token presented by a client other than the
// one its session was opened for (clientID "" being a first-party
// refresh). Unless the store changed nothing (a rate limit) or the
// session is already revoked, the session is revoked.
func (s *Service) wrongClient(ctx context.Context, rot gatehouse.Rotation, clientID string, now time.Time) error {
	if rot.RetryAfter > 0 || rot.SessionRevoked {
		return errBadRefresh
	}
	s.log.WarnContext(ctx, "refresh token presented by another client: session revoked",
		"user_id", rot.Old.UserID, "session_id", rot.Old.SessionID)
	if err := s.revokeSession(ctx, rot.Old.SessionID, now, time.Time{}); err != nil {
		return err
	}
	s.met.Revocation("reuse")
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRefreshReuse, Outcome: gatehouse.OutcomeFailure,
		UserID: rot.Old.UserID, Detail: "refresh token of another client; session revoked"})
	if clientID == "" {
		return errBadRefresh
	}
	return errWrongClientToken
}

// ClientCredentials issues an access token to a client for itself (RFC
// 6749 §4.4): its subject is the client id, it names no user and no
// session, and nothing refreshes it. The caller has authenticated the
// client and decided the scopes.
func (s *Service) ClientCredentials(ctx context.Context, clientID, scope string) (*TokenPair, error) {
	now := s.now()
	at, err := s.cfg.Tokens.Issue(token.Claims{
		Subject:   clientID,
		ID:        token.NewID(),
		Scope:     scope,
		ClientID:  clientID,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ExpiresAt: now.Add(s.cfg.AccessTTL).Unix(),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: issue client credentials token: %w", err)
	}
	s.met.TokenIssued(gatehouse.GrantClientCredentials)
	return &TokenPair{AccessToken: at, ExpiresIn: int(s.cfg.AccessTTL / time.Second), Scope: scope}, nil
}

// TokenInfo is a live access token as the OAuth endpoints see it.
type TokenInfo struct {
	Claims token.Claims
	// User is the token's user; nil for a client_credentials token,
	// whose subject is its client.
	User *gatehouse.User
}

// InspectAccessToken verifies an access token as Authenticate does — the
// signature, claims, revocations and, for a user's token, that the user
// exists and is enabled — and returns its claims unrestricted, for
// /userinfo and /introspect. Anything not live is EUNAUTHENTICATED.
func (s *Service) InspectAccessToken(ctx context.Context, bearer string) (*TokenInfo, error) {
	c, err := s.cfg.Tokens.Verify(bearer)
	if err != nil {
		return nil, errBadToken
	}
	if s.mirror.Revoked(c.ID, c.SessionID) {
		return nil, errRevoked
	}
	info := &TokenInfo{Claims: c}
	if c.ClientID != "" && c.Subject == c.ClientID && c.SessionID == "" {
		return info, nil // client credentials
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil {
		return nil, errBadToken
	}
	u, err := s.liveUser(ctx, id, errBadToken, errBadToken)
	if err != nil {
		return nil, err
	}
	info.User = u.snap.User()
	if c.ClientID != "" {
		info.Claims.Scope = restrictOAuth(u.Role, c.Scope)
	} else {
		info.Claims.Scope = rbac.Restrict(u.Role, c.Scope)
	}
	return info, nil
}

// RevokeAccessToken revokes one access token by its jti, durably, on every
// instance, until it would have expired (RFC 7009).
func (s *Service) RevokeAccessToken(ctx context.Context, c token.Claims) error {
	if c.ID == "" {
		return nil
	}
	revs := []gatehouse.Revocation{{Kind: gatehouse.RevokeToken, Value: c.ID,
		ExpiresAt: time.Unix(c.ExpiresAt, 0).Add(Leeway)}}
	if err := s.cfg.Store.AddRevocations(ctx, revs...); err != nil {
		return fmt.Errorf("auth: revoke access token: %w", err)
	}
	s.revoked(ctx, revs)
	s.met.Revocation("oauth_revoke")
	return nil
}

// InspectRefreshToken reads a refresh token without spending it and
// returns it as TokenInfo, for introspection (RFC 7662): it must be
// unused, unexpired, its session not revoked, its user existing and
// enabled. Its claims are the session's: sub, sid, client_id ("" for a
// first-party login), scope as the user's role allows it now, iat and exp
// of the token. Anything else is EUNAUTHENTICATED.
func (s *Service) InspectRefreshToken(ctx context.Context, rt string) (*TokenInfo, error) {
	if !wellFormedRefresh(rt) {
		return nil, errBadRefresh
	}
	tok, client, err := s.cfg.Store.LiveRefreshToken(ctx, hashRefresh(rt), s.now())
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, errBadRefresh
	}
	if err != nil {
		return nil, err
	}
	if s.mirror.Revoked("", tok.SessionID) {
		return nil, errBadRefresh
	}
	u, err := s.liveUser(ctx, tok.UserID, errBadRefresh, errBadRefresh)
	if err != nil {
		return nil, err
	}
	scope := rbac.Restrict(u.Role, tok.Scope)
	if client != "" {
		scope = restrictOAuth(u.Role, tok.Scope)
	}
	return &TokenInfo{User: u.snap.User(), Claims: token.Claims{Subject: strconv.FormatInt(u.ID, 10), SessionID: tok.SessionID,
		ClientID: client, Scope: scope, IssuedAt: tok.CreatedAt.Unix(), ExpiresAt: tok.ExpiresAt.Unix()}}, nil
}

// RevokeRefreshForClient revokes, for clientID, a refresh token and its
// whole session (RFC 7009 §2.1: revoking a refresh token ends what it was
// issued with), durably, at once on every instance. A token that is not
// live, or that another client (or no client) holds, is left alone: a
// client revokes only its own (contract §13), and RFC 7009 §2.2 answers
// both 200.
func (s *Service) RevokeRefreshForClient(ctx context.Context, clientID, rt string) error {
	if !wellFormedRefresh(rt) {
		return nil
	}
	now := s.now()
	tok, client, err := s.cfg.Store.LiveRefreshToken(ctx, hashRefresh(rt), now)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND || err == nil && client != clientID {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.revokeSession(ctx, tok.SessionID, now, time.Time{}); err != nil {
		return err
	}
	s.met.Revocation("oauth_revoke")
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogout, Outcome: gatehouse.OutcomeSuccess,
		UserID: tok.UserID, Detail: "oauth client " + capText(clientID, 64) + " revoked its refresh token"})
	return nil
}

// RevokeCodeSession revokes the session the first redemption of an
// authorization code opened, when the code is presented again (RFC 9700
// §4.5: a reused code revokes what it issued).
func (s *Service) RevokeCodeSession(ctx context.Context, sid, clientID string, userID int64) error {
	if sid == "" {
		return nil
	}
	if err := s.revokeSession(ctx, sid, s.now(), time.Time{}); err != nil {
		return err
	}
	s.met.Revocation("reuse")
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRefreshReuse, Outcome: gatehouse.OutcomeFailure,
		UserID: userID, Detail: "authorization code of oauth client " + capText(clientID, 64) + " reused; session revoked"})
	return nil
}

// EndBrowserSession ends the browser session sid of userID, durably (an
// RP-initiated logout, OIDC RP-Initiated Logout 1.0).
func (s *Service) EndBrowserSession(ctx context.Context, userID int64, sid, clientID string) error {
	if err := s.revokeSession(ctx, sid, s.now(), time.Time{}); err != nil {
		return err
	}
	s.met.Revocation("logout")
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogout, Outcome: gatehouse.OutcomeSuccess,
		UserID: userID, Detail: "browser session, at the request of oauth client " + capText(clientID, 64)})
	return nil
}

// SignIDToken signs an ID token's claims (a JSON object) with the current
// asymmetric key of alg ("" for the default, RS256 unless configured
// otherwise; contract §10).
func (s *Service) SignIDToken(alg string, claims []byte) (string, error) {
	return s.cfg.Tokens.SignJSON(alg, "JWT", claims)
}

// VerifyIDTokenHint checks the signature of an ID token this server
// issued, expired or not, and returns its claims, for end_session's
// id_token_hint (OIDC RP-Initiated Logout §2).
func (s *Service) VerifyIDTokenHint(tok string) ([]byte, error) {
	return s.cfg.Tokens.VerifyJSON(tok)
}
