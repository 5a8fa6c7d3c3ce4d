package httpapi

// routesExamples registers the guide's example resources (contract §7).
func (s *Server) routesExamples() {}
