package httpapi

import (
	"net/http"

	"github.com/gatehouse/gatehouse"
)

// routesKeys registers what resource servers need to verify Gatehouse's
// tokens themselves.
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
}
