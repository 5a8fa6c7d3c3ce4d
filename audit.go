package gatehouse

import (
	"context"
	"net/netip"
)

// Audit event types (contract §9). Outcome is "success" or "failure", or
// "pending" for a login that awaits its second factor.
const (
	EventLogin             = "login"
	EventRefresh           = "refresh"
	EventRefreshReuse      = "refresh_reuse"
	EventLogout            = "logout"
	EventTwoFactorEnabled  = "2fa_enabled"
	EventTwoFactorUsed     = "2fa_used"
	EventTwoFactorFailed   = "2fa_failed"
	EventTwoFactorDisabled = "2fa_disabled"
	// EventTwoFactorLockout: a wrong code filled the user's window of
	// wrong codes and locked them out; Detail says for how long and how
	// many lockouts in a row. Only someone holding the password (or an
	// mfa_token) can cause one, so it is a real event, never aggregated.
	EventTwoFactorLockout  = "2fa_lockout"
	EventAPIKeyCreated     = "api_key_created"
	EventAPIKeyRevoked     = "api_key_revoked"
	EventAPIKeyRefused     = "api_key_refused"
	EventUserCreated       = "user_created"
	EventUserChanged       = "user_changed"
	EventUserDeleted       = "user_deleted"
	EventPermissionRefused = "permission_refused"
	EventRateLimited       = "rate_limited"
	// Passkeys (contract §14). A refused ceremony — a wrong origin or RP
	// ID, an unknown, deleted or another user's credential, a bad
	// signature, an expired or replayed challenge — is a refusal anyone
	// can cause; a signature counter that went backwards takes the
	// credential's private key, so it is a real event (a cloned
	// authenticator?).
	EventPasskeyRegistered = "passkey_registered"
	EventPasskeyDeleted    = "passkey_deleted"
	EventPasskeyRefused    = "passkey_refused"
	EventPasskeyCounter    = "passkey_counter"

	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	// OutcomePending is a login whose password was right and whose second
	// factor is still to come: neither a failure (alerts on failed logins
	// must not fire for every 2FA login) nor a success (no token yet).
	OutcomePending = "pending"
)

// Refusal reports whether e is a refusal: a failure that anyone can
// provoke without holding a credential, so that a flood of it must not grow
// storage or logs without bound (contract §12). The audit recorder stores
// the first refusal of each client, type and minute in full and the rest
// as one summary with a count. Every other event — successes, pending
// logins, admin actions, revocations, refresh reuse, 2FA changes — is a
// real event, stored one by one and never dropped. A new event type is
// real unless it is added here.
func (e *AuditEvent) Refusal() bool {
	if e.Outcome != OutcomeFailure {
		return false
	}
	switch e.Type {
	case EventLogin, EventAPIKeyRefused, EventRateLimited, EventPermissionRefused, EventTwoFactorFailed, EventPasskeyRefused:
		return true
	}
	return false
}

// Auditor records audit events. Record must return quickly and never fail
// its caller: an action is not refused because its audit line could not be
// written (the failure is logged instead).
type Auditor interface {
	Record(ctx context.Context, e AuditEvent)
}

// RequestInfo describes the request an action came from. The HTTP layer puts
// it in the context; audit events take their client fields from it.
type RequestInfo struct {
	ClientAddr netip.Addr // from the one trusted-proxy-aware function
	UserAgent  string
	RequestID  string
	Path       string // never the query string
	Route      string // the route pattern that served it, for metrics
	// Principal is who the request acts as, once authenticated; read it
	// with PrincipalFrom.
	Principal *Principal
}

// ClientIP returns the client address as text, "" when unknown. It is
// formatted on demand: most requests never need it.
func (ri *RequestInfo) ClientIP() string {
	if !ri.ClientAddr.IsValid() {
		return ""
	}
	return ri.ClientAddr.String()
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying ri.
func WithRequestInfo(ctx context.Context, ri *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the request info in ctx, or an empty one.
func RequestInfoFrom(ctx context.Context) *RequestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*RequestInfo); ok {
		return ri
	}
	return &RequestInfo{}
}
