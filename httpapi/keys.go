package httpapi

import (
	"net/http"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
)

// routesKeys registers what resource servers need to verify Gatehouse's
// tokens themselves: the public keys, and the revocations that make a
// logout reach them.
func (s *Server) routesKeys() {
	// RFC 7517 key set (contract §10): public, cacheable for the key
	// manager's max-age, so no handler on the way may mark it no-store.
	jwks := s.cfg.JWKS
	if jwks == nil {
		jwks = s.wrap(func(http.ResponseWriter, *http.Request) error {
			return gatehouse.Errorf(gatehouse.ENOTFOUND, "Not Found")
		})
	}
	s.handle("GET /.well-known/jwks.json", jwks)
	s.handle("GET /revocations/stream", s.guard.Require(streamScope)(s.wrap(s.handleRevocationStream)))
}

// streamScope is what following the revocation stream takes: an API key
// (or token) of an admin carrying read:revocations, asked for by name.
var streamScope = guard.Scopes(gatehouse.ScopeReadRevocations)

// handleRevocationStream streams revocations and user changes as
// Server-Sent Events (package revstream) until the client goes. The
// credential is checked again at every heartbeat, so revoking the key (or
// the token expiring) ends the stream.
func (s *Server) handleRevocationStream(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Revocations == nil {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "Not Found")
	}
	recheck := func() error {
		_, err := s.guard.Check(r, streamScope)
		return err
	}
	return s.cfg.Revocations.Serve(w, r, recheck)
}
