package oauth

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

// Authentication context classes an ID token's acr names: one factor, or
// more than one (amr then holds "mfa").
const (
	acrSingleFactor = "urn:gatehouse:acr:1fa"
	acrMultiFactor  = "urn:gatehouse:acr:mfa"
)

// idClaims are an ID token's claims (OIDC Core §2, §5.1; contract §13).
type idClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience string   `json:"aud"`
	Expires  int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time"`
	Nonce    string   `json:"nonce,omitempty"`
	ATHash   string   `json:"at_hash,omitempty"`
	SID      string   `json:"sid,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AZP      string   `json:"azp"`
	userClaims
}

// userClaims are the claims about the user that the scopes granted allow
// (OIDC Core §5.4), in the ID token and at /userinfo alike.
type userClaims struct {
	PreferredUsername string `json:"preferred_username,omitempty"`
	Name              string `json:"name,omitempty"`
	UpdatedAt         int64  `json:"updated_at,omitempty"`
	Email             string `json:"email,omitempty"`
	// EmailVerified: only administrators set emails (contract §13).
	EmailVerified *bool `json:"email_verified,omitempty"`
}

func claimsFor(u *gatehouse.User, scope string) userClaims {
	var c userClaims
	if gatehouse.HasScope(scope, auth.ScopeProfile) {
		c.PreferredUsername, c.Name, c.UpdatedAt = u.Username, u.FullName, u.UpdatedAt.Unix()
		if u.UpdatedAt.IsZero() {
			c.UpdatedAt = u.CreatedAt.Unix()
		}
	}
	if gatehouse.HasScope(scope, auth.ScopeEmail) && u.Email != "" {
		verified := true
		c.Email, c.EmailVerified = u.Email, &verified
	}
	return c
}

// amrAndACR returns an ID token's amr (RFC 8176; "mfa" added when more than
// one factor was used) and acr.
func amrAndACR(amr string) ([]string, string) {
	m := strings.Fields(amr)
	factors := 0
	for _, f := range []string{gatehouse.AMRPassword, gatehouse.AMROTP, gatehouse.AMRHardwareKey} {
		if slices.Contains(m, f) {
			factors++
		}
	}
	if slices.Contains(m, gatehouse.AMRHardwareKey) && slices.Contains(m, gatehouse.AMRUser) {
		factors++ // a passkey that verified the user: possession and a PIN or biometrics
	}
	if factors > 1 {
		return append(m, gatehouse.AMRMultiFactor), acrMultiFactor
	}
	return m, acrSingleFactor
}

// idSession is what an ID token says of the authentication it reports.
type idSession struct {
	authTime time.Time
	amr      string
	nonce    string // "" on a refresh (OIDC Core §12.2)
	sid      string // the browser session; "" on a refresh
}

// idToken signs an ID token: for the client's registered algorithm, RS256
// unless it chose another (OIDC Core §15.1).
func (p *Provider) idToken(c *gatehouse.OAuthClient, u *gatehouse.User, ac idSession, scope, accessToken string) (string, error) {
	alg := c.IDTokenAlg
	if alg == "" || !slices.Contains(p.cfg.IDTokenAlgs, alg) {
		if alg != "" {
			p.log.Warn("a client's ID token algorithm has no signing key here: RS256 used",
				"client_id", c.ID, "alg", alg, "available", p.cfg.IDTokenAlgs)
		}
		alg = p.cfg.IDTokenAlgs[0]
	}
	now := p.now()
	amr, acr := amrAndACR(ac.amr)
	claims := idClaims{
		Issuer: p.cfg.Issuer, Subject: strconv.FormatInt(u.ID, 10), Audience: c.ID, AZP: c.ID,
		Expires: now.Add(p.cfg.IDTokenTTL).Unix(), IssuedAt: now.Unix(), AuthTime: ac.authTime.Unix(),
		Nonce: ac.nonce, ATHash: tokenHash(alg, accessToken), SID: ac.sid, AMR: amr, ACR: acr,
		userClaims: claimsFor(u, scope),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("oauth: id token: %w", err)
	}
	tok, err := p.auth.SignIDToken(alg, payload)
	if err != nil {
		return "", fmt.Errorf("oauth: id token: %w", err)
	}
	return tok, nil
}

// tokenHash is at_hash (OIDC Core §3.1.3.6): the left half of the hash of
// the access token under the hash of the ID token's algorithm (SHA-512 for
// Ed25519, as OpenID Connect's EdDSA profile has it), base64url.
func tokenHash(alg, tok string) string {
	var sum []byte
	if alg == "EdDSA" {
		s := sha512.Sum512([]byte(tok))
		sum = s[:]
	} else {
		s := sha256.Sum256([]byte(tok))
		sum = s[:]
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
