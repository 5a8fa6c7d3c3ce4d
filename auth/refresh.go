package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/ratelimit"
	"github.com/gatehouse/gatehouse/rbac"
	"golang.org/x/crypto/hkdf"
)

// ReuseGrace is how long after a refresh token's first use a second
// presentation still counts as the same client racing itself (two tabs
// refreshing at once) rather than reuse (contract §3).
const ReuseGrace = 2 * time.Second

// ReuseWindow is how long a spent refresh token is kept after its use, so
// that presenting it again is recognised as reuse and revokes its session
// (RFC 9700 §4.14.2). Later it is purged and merely invalid. A window in
// time, not in rotations, so a thief who refreshes fast cannot push a
// stolen token out of it; with the session's refresh limit the rows it
// keeps are bounded (at most 10 + 10 a minute for a day per session by
// default; about 96 for a client that refreshes every 15 minutes).
const ReuseWindow = 24 * time.Hour

// DefaultSessionRefreshLimit is how often one login session may refresh:
// a client refreshes once per access-token lifetime (15 minutes), a few
// tabs racing at most a few times; 10 at once and 10 a minute more leave
// them room, and bound what one stolen or scripted session can write.
var DefaultSessionRefreshLimit = ratelimit.Limit{Rate: 10, Period: time.Minute, Burst: 10}

// RateLimitError refuses a request over one of the service's own limits
// (a session's refreshes, a client's lookups of unknown API keys). Its code
// is ERATELIMIT; RetryAfter is what the Retry-After header says.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string { return "auth: rate limit exceeded" }

func (e *RateLimitError) Unwrap() error { return errRateLimited }

var errRateLimited = &gatehouse.Error{Code: gatehouse.ERATELIMIT, Message: "Rate limit exceeded"}

// refreshLimit is Config.SessionRefreshLimit as the store applies it.
func (s *Service) refreshLimit() gatehouse.RefreshLimit {
	l := s.cfg.SessionRefreshLimit
	return gatehouse.RefreshLimit{Interval: l.Period / time.Duration(l.Rate), Burst: l.Burst}
}

var (
	errBadRefresh   = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_grant", Message: "Invalid refresh token"}
	errRefreshReuse = &gatehouse.Error{Code: gatehouse.EUNAUTHENTICATED, OAuth: "invalid_grant", Message: "Refresh token reuse detected; the session has been revoked"}
)

// Refresh spends a refresh token and returns a new access token and a new
// refresh token (rotation, RFC 9700 §4.14.2). A session refreshing more
// often than Config.SessionRefreshLimit allows gets RateLimitError and
// keeps its token, unspent.
//
// A token presented again within ReuseGrace of its first use gets the same
// successor it got then, with a fresh access token: two tabs refreshing at
// once both stay logged in. Presented later, it is reuse — a sign that it
// was stolen — and the whole login session is revoked: every refresh
// token and every access token of that sid.
func (s *Service) Refresh(ctx context.Context, rt string) (*TokenPair, error) {
	return s.rotate(ctx, rt, "")
}

// rotate is Refresh for the client clientID ("" for a first-party login;
// oauth.go): a token of a session opened for another client, or for none
// when a client presents it, was taken from its holder — it is spent by
// the presentation anyway — so its session is revoked as on reuse.
func (s *Service) rotate(ctx context.Context, rt, clientID string) (*TokenPair, error) {
	if !wellFormedRefresh(rt) {
		return nil, errBadRefresh
	}
	now := s.now()
	next := newRefreshToken()
	rec := &gatehouse.RefreshToken{Hash: hashRefresh(next), CreatedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	rot, err := s.cfg.Store.RotateRefreshToken(ctx, hashRefresh(rt), now, rec, sealSuccessor(rt, next), s.refreshLimit())
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, errBadRefresh
	}
	if err != nil {
		return nil, err
	}
	old := rot.Old
	if rot.ClientID != clientID {
		return nil, s.wrongClient(ctx, rot, clientID, now)
	}
	switch {
	case rot.RetryAfter > 0:
		s.met.RateLimited("refresh_session")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRateLimited, Outcome: gatehouse.OutcomeFailure,
			UserID: old.UserID, Detail: "refresh_session"})
		return nil, &RateLimitError{RetryAfter: rot.RetryAfter}
	case rot.Rotated:
	case rot.SessionRevoked:
		return nil, errBadRefresh
	case old.UsedAt.IsZero(): // unused, so it was refused for its age
		return nil, errBadRefresh
	case now.Sub(old.UsedAt) <= ReuseGrace && len(old.Successor) > 0:
		next, err = openSuccessor(rt, old.Successor)
		if err != nil {
			return nil, fmt.Errorf("auth: refresh within grace: %w", err)
		}
	default:
		s.log.WarnContext(ctx, "refresh token reuse: session revoked", "user_id", old.UserID, "session_id", old.SessionID)
		if err := s.revokeSession(ctx, old.SessionID, now, time.Time{}); err != nil {
			return nil, err
		}
		s.met.RefreshReuse()
		s.met.Revocation("reuse")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRefreshReuse, Outcome: gatehouse.OutcomeFailure,
			UserID: old.UserID, Detail: "session revoked"})
		return nil, errRefreshReuse
	}
	u, err := s.liveUser(ctx, old.UserID, errBadRefresh, errInactive)
	if err != nil {
		return nil, err
	}
	var pair *TokenPair
	if clientID == "" {
		pair, err = s.pair(&u.User, old.SessionID, rbac.Restrict(u.Role, old.Scope), next, now)
	} else {
		pair, err = s.clientPair(&u.User, clientID, old.SessionID, restrictOAuth(u.Role, old.Scope), next, now)
	}
	if err == nil {
		s.sessionUsed(old.SessionID, now)
		s.met.TokenIssued("refresh")
		s.audit.Record(ctx, gatehouse.AuditEvent{Type: gatehouse.EventRefresh, Outcome: gatehouse.OutcomeSuccess, UserID: u.ID})
	}
	return pair, err
}

// RefreshPrefix starts every refresh token, so that a leaked one is
// recognisable to secret scanners and can never be mistaken for a JWT
// access token (which starts with "ey").
const RefreshPrefix = "ghr_"

const refreshSecretLen = 32 // 256 bits

var refreshEncoding = base64.RawURLEncoding.Strict()

// newRefreshToken returns a fresh opaque refresh token.
func newRefreshToken() string {
	var b [refreshSecretLen]byte
	rand.Read(b[:]) // never returns an error (crypto/rand, Go 1.24+)
	return RefreshPrefix + refreshEncoding.EncodeToString(b[:])
}

// wellFormedRefresh reports whether tok has the shape of a refresh token;
// anything else (an access token, garbage) is refused before any lookup.
func wellFormedRefresh(tok string) bool {
	rest, ok := strings.CutPrefix(tok, RefreshPrefix)
	if !ok || len(rest) != refreshEncoding.EncodedLen(refreshSecretLen) {
		return false
	}
	_, err := refreshEncoding.DecodeString(rest)
	return err == nil
}

// hashRefresh is the stored form of a refresh token. The token carries 256
// random bits, so a fast hash is as strong as a slow one here; only the
// hash is ever stored.
func hashRefresh(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// successorKey derives the key that seals a token's successor from the
// token itself: only a client that holds the old token can open it.
func successorKey(old string) []byte {
	key := make([]byte, 32)
	r := hkdf.New(sha256.New, []byte(old), nil, []byte("gatehouse refresh successor v1"))
	if _, err := r.Read(key); err != nil {
		panic("auth: hkdf: " + err.Error()) // cannot happen for 32 bytes of SHA-256 HKDF
	}
	return key
}

func successorAEAD(old string) cipher.AEAD {
	block, err := aes.NewCipher(successorKey(old))
	if err != nil {
		panic("auth: aes: " + err.Error()) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("auth: gcm: " + err.Error())
	}
	return aead
}

// sealSuccessor encrypts next under a key derived from old, bound to old's
// hash.
func sealSuccessor(old, next string) []byte {
	aead := successorAEAD(old)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(next)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(next), []byte(hashRefresh(old)))
}

// openSuccessor decrypts what sealSuccessor sealed.
func openSuccessor(old string, sealed []byte) (string, error) {
	aead := successorAEAD(old)
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("auth: sealed successor too short")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(hashRefresh(old)))
	if err != nil {
		return "", errors.New("auth: open sealed successor: authentication failed")
	}
	return string(pt), nil
}
