package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/rbac"
)

// Browser sessions (contract §11): a login through the login page opens a
// login session of kind gatehouse.SessionBrowser, by the same path as a
// token login — the same password check, second factor, limits on codes
// and audit — and the browser holds a cookie instead of tokens.
//
// The cookie verifies from memory, like an access token: it is the
// session's id, its user, when it was issued and when it ends, and how the
// user authenticated, under an HMAC-SHA256 tag (RFC 2104) keyed with a
// random 32-byte key that every instance shares (kept in the settings
// table, sealed with the Sealer, so a copy of the database alone does not
// yield it). Verification is the tag (in constant time), the expiry, the
// revocation mirror (the session's sid) and the user cache, so a logout, a
// session ended from another device, a password change or a disabled
// user refuses the cookie at once on every instance. The session ends at
// an absolute time, SessionTTL after the login: nothing slides it.
//
// OAuth (§13) and passkeys (§14) open and check browser sessions through
// this file too.

// DefaultSessionTTL is a browser session's lifetime unless
// Config.SessionTTL says otherwise.
const DefaultSessionTTL = 12 * time.Hour

// BrowserSession is a browser session as its cookie carries it.
type BrowserSession struct {
	ID        string // the login session's id, the sid of its revocation
	UserID    int64
	IssuedAt  time.Time // also the session's auth_time: only a login issues one
	ExpiresAt time.Time
	AMR       string // "pwd", "pwd otp", "hwk user", "pwd hwk"… (RFC 8176; passkeys.go)
	// Cookie is the cookie's value: a credential, which String leaves out.
	Cookie string
}

func (b *BrowserSession) String() string {
	return fmt.Sprintf("auth.BrowserSession{ID: %s, UserID: %d, Cookie: [redacted]}", b.ID, b.UserID)
}

// GoString keeps %#v from printing the cookie.
func (b *BrowserSession) GoString() string { return b.String() }

// The cookie's layout before encoding: a version byte, the 16 random bytes
// of the session id, the user id, issued-at and expiry (Unix seconds, big
// endian), one byte of authentication methods, then the 32-byte tag over
// all of it. Base64url without padding: 99 characters.
const (
	cookieVersion = 1
	cookieBody    = 1 + 16 + 8 + 8 + 8 + 1
	cookieLen     = cookieBody + sha256.Size
	// The methods byte. The password is implied unless amrNoPassword says
	// otherwise, so cookies issued before passkeys read as they did.
	amrOTP        = 1 << 0
	amrHWK        = 1 << 1 // a passkey (passkeys.go)
	amrUser       = 1 << 2 // the passkey's authenticator verified the user
	amrNoPassword = 1 << 3 // a passkey sign-in without the password
)

// amrBits encodes a session's methods (RFC 8176 values, space-separated)
// into the cookie's methods byte.
func amrBits(amr string) byte {
	b := byte(amrNoPassword)
	for _, m := range strings.Fields(amr) {
		switch m {
		case gatehouse.AMRPassword:
			b &^= amrNoPassword
		case gatehouse.AMROTP:
			b |= amrOTP
		case gatehouse.AMRHardwareKey:
			b |= amrHWK
		case gatehouse.AMRUser:
			b |= amrUser
		}
	}
	return b
}

// amrString decodes the methods byte, in a fixed order.
func amrString(b byte) string {
	var m []string
	if b&amrNoPassword == 0 {
		m = append(m, gatehouse.AMRPassword)
	}
	if b&amrOTP != 0 {
		m = append(m, gatehouse.AMROTP)
	}
	if b&amrHWK != 0 {
		m = append(m, gatehouse.AMRHardwareKey)
	}
	if b&amrUser != 0 {
		m = append(m, gatehouse.AMRUser)
	}
	return strings.Join(m, " ")
}

// sessionKeySetting is where the sealed cookie key is kept.
const sessionKeySetting = "browser_session_key"

// sessionKeyAAD binds the sealed key to its use, apart from TOTP secrets
// and mfa_tokens under the same Sealer.
var sessionKeyAAD = []byte("gatehouse browser session key v1")

var errBadSession = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, Message: "Session expired or signed out"}

// browserState is the browser-session side of a Service: the cookie key and
// the buffer of sessions' last uses. Its zero value is ready: without
// LoadSessionKey the key is random, so cookies last as long as the Service.
type browserState struct {
	once   sync.Once
	mac    atomic.Pointer[cookieMAC]
	scopes map[gatehouse.Role]string // every scope each role allows

	usedMu sync.Mutex
	used   map[string]time.Time // session id → last use not yet stored
}

// cookieMAC is a cookie key with a pool of HMACs under it, replaced whole
// when the key changes.
type cookieMAC struct {
	pool sync.Pool // hash.Hash
}

func newCookieMAC(key []byte) *cookieMAC {
	c := &cookieMAC{}
	c.pool.New = func() any { return hmac.New(sha256.New, key) }
	return c
}

func (b *browserState) init() {
	b.once.Do(func() {
		key := make([]byte, 32)
		rand.Read(key)
		b.mac.CompareAndSwap(nil, newCookieMAC(key))
		b.scopes = map[gatehouse.Role]string{}
		for _, r := range []gatehouse.Role{gatehouse.RoleUser, gatehouse.RoleModerator, gatehouse.RoleAdmin} {
			b.scopes[r] = rbac.Grant(r, "")
		}
	})
}

// setKey replaces the cookie key; cookies under the old one stop verifying.
func (b *browserState) setKey(key []byte) {
	b.init()
	b.mac.Store(newCookieMAC(key))
}

// tag returns the HMAC of body under the current key.
func (b *browserState) tag(body []byte) []byte {
	b.init()
	c := b.mac.Load()
	m := c.pool.Get().(hash.Hash)
	m.Reset()
	m.Write(body)
	sum := m.Sum(make([]byte, 0, sha256.Size))
	c.pool.Put(m)
	return sum
}

// LoadSessionKey reads the cookie key that every instance shares from the
// settings table, creating it on first use. It is sealed with the
// Sealer: a key sealed under an encryption key since retired cannot be
// opened, and is replaced (which ends every browser session), and one
// sealed under an earlier key still held is resealed under the current
// one. Call it before serving.
func (s *Service) LoadSessionKey(ctx context.Context) error {
	sealer := s.cfg.Sealer
	if sealer == nil {
		return errors.New("auth: browser sessions need Config.Sealer")
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	v, err := s.cfg.Store.SetSettingIfAbsent(ctx, sessionKeySetting, sealer.Seal(fresh, sessionKeyAAD))
	if err != nil {
		return fmt.Errorf("auth: session key: %w", err)
	}
	key, err := sealer.Open(v, sessionKeyAAD)
	switch {
	case err != nil:
		s.log.WarnContext(ctx, "the browser session key is sealed under an encryption key no longer configured: "+
			"replacing it, which signs every browser out", "err", err)
		key = fresh
		v2 := sealer.Seal(fresh, sessionKeyAAD)
		ok, err := s.cfg.Store.SwapSetting(ctx, sessionKeySetting, v, v2)
		if err != nil {
			return fmt.Errorf("auth: session key: %w", err)
		}
		if !ok { // another instance replaced it first: use theirs
			return s.LoadSessionKey(ctx)
		}
	case sealer.NeedsReseal(v):
		if _, err := s.cfg.Store.SwapSetting(ctx, sessionKeySetting, v, sealer.Seal(key, sessionKeyAAD)); err != nil {
			s.log.WarnContext(ctx, "browser session key not resealed", "err", err)
		}
	}
	if len(key) != 32 {
		return errors.New("auth: session key: stored value is corrupt")
	}
	s.browser.setKey(key)
	return nil
}

// SessionTTL returns a browser session's lifetime.
func (s *Service) SessionTTL() time.Duration { return s.cfg.SessionTTL }

// sessionRevocationEnd is how long the revocation of a session made at now
// must be kept: until every access token it issued, and a browser
// session's cookie, has expired.
func (s *Service) sessionRevocationEnd(now time.Time) time.Time {
	return now.Add(max(s.cfg.AccessTTL, s.cfg.SessionTTL) + Leeway)
}

// BrowserLogin is Login for the login page: it opens a browser session
// with every scope the user's role allows. Its errors are Login's: a user
// with 2FA on and no otp gets *MFARequiredError, whose mfa_token
// BrowserLoginMFA takes.
func (s *Service) BrowserLogin(ctx context.Context, username, pw, otp string) (*BrowserSession, error) {
	pair, u, err := s.login(ctx, gatehouse.SessionBrowser, username, pw, "", otp)
	s.recordLogin(ctx, username, u, "browser", pair.browserAMR(), err)
	if err != nil {
		return nil, err
	}
	return pair.Browser, nil
}

// BrowserLoginMFA is LoginMFA for the login page's second step.
func (s *Service) BrowserLoginMFA(ctx context.Context, mfaToken, otp string) (*BrowserSession, error) {
	pair, u, err := s.loginMFA(ctx, gatehouse.SessionBrowser, mfaToken, otp)
	name := ""
	if u != nil {
		name = u.Username
	}
	s.recordLogin(ctx, name, u, "browser", pair.browserAMR(), err)
	if err != nil {
		return nil, err
	}
	return pair.Browser, nil
}

// browserAMR is the methods of the browser session a login opened, "" for
// none (a token login, or no login: pair is nil).
func (pair *TokenPair) browserAMR() string {
	if pair == nil || pair.Browser == nil {
		return ""
	}
	return pair.Browser.AMR
}

// openBrowserSession stores sess as a browser session ending SessionTTL
// from its creation and issues its cookie.
func (s *Service) openBrowserSession(ctx context.Context, u *gatehouse.User, sess *gatehouse.Session) (*TokenPair, error) {
	sess.ExpiresAt = sess.CreatedAt.Add(s.cfg.SessionTTL)
	b, err := s.issueCookie(sess)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.CreateSession(ctx, sess, nil); err != nil {
		return nil, err
	}
	return &TokenPair{Scope: sess.Scope, User: u, SessionID: sess.ID, Browser: b}, nil
}

// issueCookie encodes and tags the cookie of sess.
func (s *Service) issueCookie(sess *gatehouse.Session) (*BrowserSession, error) {
	var buf [cookieLen]byte
	buf[0] = cookieVersion
	id, err := base64.RawURLEncoding.DecodeString(sess.ID)
	if err != nil || len(id) != 16 {
		return nil, fmt.Errorf("auth: browser session id %q is not 16 bytes of base64url", sess.ID)
	}
	copy(buf[1:17], id)
	// Seconds, so the cookie never outlives the session by a fraction.
	iat, exp := sess.CreatedAt.Truncate(time.Second), sess.ExpiresAt.Truncate(time.Second)
	binary.BigEndian.PutUint64(buf[17:25], uint64(sess.UserID))
	binary.BigEndian.PutUint64(buf[25:33], uint64(iat.Unix()))
	binary.BigEndian.PutUint64(buf[33:41], uint64(exp.Unix()))
	buf[41] = amrBits(sess.AMR)
	copy(buf[cookieBody:], s.browser.tag(buf[:cookieBody]))
	return &BrowserSession{ID: sess.ID, UserID: sess.UserID, IssuedAt: iat, ExpiresAt: exp, AMR: sess.AMR,
		Cookie: base64.RawURLEncoding.EncodeToString(buf[:])}, nil
}

// openCookie returns the session of an authentic cookie, expired or not,
// and its methods' bits (amrString; decoded only by who needs them, not on
// every verification).
func (s *Service) openCookie(cookie string) (*BrowserSession, byte, bool) {
	if base64.RawURLEncoding.DecodedLen(len(cookie)) != cookieLen {
		return nil, 0, false
	}
	var buf [cookieLen]byte
	if n, err := base64.RawURLEncoding.Decode(buf[:], []byte(cookie)); err != nil || n != cookieLen || buf[0] != cookieVersion {
		return nil, 0, false
	}
	if !hmac.Equal(buf[cookieBody:], s.browser.tag(buf[:cookieBody])) {
		return nil, 0, false
	}
	b := &BrowserSession{
		ID:        base64.RawURLEncoding.EncodeToString(buf[1:17]),
		UserID:    int64(binary.BigEndian.Uint64(buf[17:25])),
		IssuedAt:  time.Unix(int64(binary.BigEndian.Uint64(buf[25:33])), 0),
		ExpiresAt: time.Unix(int64(binary.BigEndian.Uint64(buf[33:41])), 0),
	}
	return b, buf[41], true
}

// AuthenticateSession verifies a session cookie and returns who it acts
// for, from memory: the tag, the expiry, the revocation mirror and the
// user cache. The principal holds every scope the user's role allows now,
// SessionID set and TokenID empty (IsBrowser). A disabled user gets
// EINACTIVE; anything else that fails, EUNAUTHENTICATED.
func (s *Service) AuthenticateSession(ctx context.Context, cookie string) (*gatehouse.Principal, error) {
	b, _, u, err := s.authenticateSession(ctx, cookie)
	if err != nil {
		return nil, err
	}
	return &gatehouse.Principal{User: &u.User, Snapshot: u.snap, Scope: s.browser.scopes[u.Role], SessionID: b.ID, ExpiresAt: b.ExpiresAt}, nil
}

// authenticateSession is AuthenticateSession's check: the session of a
// live cookie, its methods' bits and its user.
func (s *Service) authenticateSession(ctx context.Context, cookie string) (*BrowserSession, byte, *cachedUser, error) {
	b, amr, ok := s.openCookie(cookie)
	if !ok {
		return nil, 0, nil, errBadSession
	}
	now := s.now()
	if !now.Before(b.ExpiresAt) || s.mirror.Revoked("", b.ID) {
		return nil, 0, nil, errBadSession
	}
	u, err := s.liveUser(ctx, b.UserID, errBadSession, errInactive)
	if err != nil {
		return nil, 0, nil, err
	}
	s.sessionUsed(b.ID, now)
	return b, amr, u, nil
}

// IsBrowser reports whether p was authenticated by a session cookie: it
// names a session but no access token or API key.
func IsBrowser(p *gatehouse.Principal) bool {
	return p != nil && p.SessionID != "" && p.TokenID == "" && p.APIKeyID == 0
}

// BrowserLogout ends the browser session p was authenticated by, durably,
// before it returns (the page's sign-out button).
func (s *Service) BrowserLogout(ctx context.Context, p *gatehouse.Principal) error {
	if !IsBrowser(p) {
		return gatehouse.Errorf(gatehouse.EBADREQUEST, "Not a browser session")
	}
	if err := s.revokeSession(ctx, p.SessionID, s.now(), time.Time{}); err != nil {
		return err
	}
	s.met.Revocation("logout")
	s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventLogout, Outcome: gatehouse.OutcomeSuccess,
		UserID: p.User.ID, Detail: "browser session"})
	return nil
}
