package httpapi

// routesTwoFactor registers /2fa/* (contract §6).
func (s *Server) routesTwoFactor() {}
