package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/oauth"
)

// The OAuth 2.1 and OpenID Connect provider (contract §13; package oauth).
// Its grants arrive at POST /token, which hands them over (tokenOAuth).

// newOAuth makes the provider.
func (s *Server) newOAuth() error {
	p, err := oauth.New(oauth.Config{Auth: s.auth, Store: s.store, Pages: s.web,
		Issuer: strings.TrimSuffix(s.cfg.Redirects.Public().String(), "/"), IDTokenAlgs: s.cfg.IDTokenAlgs,
		Logger: s.log, Now: s.now})
	if err != nil {
		return err
	}
	s.oauth = p
	return nil
}

// routesOAuth registers discovery, /authorize and its consent page,
// /userinfo, /introspect, /revoke and end_session.
func (s *Server) routesOAuth() {
	if s.oauth == nil {
		return
	}
	s.oauth.Routes(s.handle, s.handlePage)
}

// formActions is the login page's web.Config.FormActions: the OAuth
// client a login returning to an authorization request ends at.
func (s *Server) formActions(ctx context.Context, rd string) []string {
	if s.oauth == nil {
		return nil
	}
	return s.oauth.FormActions(ctx, rd)
}

// tokenOAuth hands a token request of an OAuth grant to the provider,
// reporting whether it was one. A client's refreshes count against the
// per-address refresh limit as first-party ones do.
func (s *Server) tokenOAuth(w http.ResponseWriter, r *http.Request, form url.Values) (bool, error) {
	if s.oauth == nil || !s.oauth.Handles(r, form) {
		return false, nil
	}
	if form.Get("grant_type") == gatehouse.GrantRefreshToken {
		if err := s.checkRefreshIP(w, r); err != nil {
			return true, err
		}
	}
	s.oauth.Token(w, r, form)
	return true, nil
}
