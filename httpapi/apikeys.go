package httpapi

import "github.com/gatehouse/gatehouse/guard"

// routesAPIKeys registers /api-keys and /protected (contract §5).
func (s *Server) routesAPIKeys() {}

// keyAuthenticator is what the guard uses for X-API-Key; nil until API
// keys exist.
func (s *Server) keyAuthenticator() guard.KeyAuthenticator { return nil }
