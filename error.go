package gatehouse

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status; see httpapi.
const (
	EINVALID         = "invalid"         // 422
	EUNAUTHENTICATED = "unauthenticated" // 401
	EFORBIDDEN       = "forbidden"       // 403
	ENOTFOUND        = "not_found"       // 404
	EMETHOD          = "method"          // 405
	ECONFLICT        = "conflict"        // 409
	EINACTIVE        = "inactive"        // 400 Inactive user
	EBADREQUEST      = "bad_request"     // 400
	ETOOLARGE        = "too_large"       // 413
	ERATELIMIT       = "rate_limited"    // 429
	EUNAVAILABLE     = "unavailable"     // 503
	EINTERNAL        = "internal"        // 500
)

// Error is an error with a code and a message safe to show to a client.
// Err, the cause, is logged but never sent.
type Error struct {
	Code    string
	Message string // public
	OAuth   string // RFC 6749 §5.2 / RFC 6750 §3.1 error code ("invalid_grant", "invalid_token", "insufficient_scope", …)
	Scope   string // the scopes required, for "insufficient_scope"
	Fields  []FieldError
	Err     error // internal cause
}

// FieldError is one validation failure, in the contract's 422 list shape.
type FieldError struct {
	Loc  []string
	Msg  string
	Type string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted public message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a 422 validation error for one field.
func Invalid(loc []string, msg, typ string) *Error {
	return &Error{Code: EINVALID, Message: msg, Fields: []FieldError{{Loc: loc, Msg: msg, Type: typ}}}
}

// ErrLastAdmin refuses a change (demotion, disabling, deletion) that would
// leave no enabled admin. UserStore.UpdateUser and DeleteUser return it;
// both stores check the rule the same way (keepAnAdmin: whether another
// enabled admin exists, counted under a lock held to commit).
var ErrLastAdmin = &Error{Code: EFORBIDDEN, Message: "Cannot remove the last admin"}

// ErrCredentialChanged refuses to open a session (SessionStore.
// CreateSession) for a login that verified a password the user no longer
// has: it was changed while the login was in flight.
var ErrCredentialChanged = &Error{Code: EUNAUTHENTICATED, Message: "Credential changed"}

// TooManyAPIKeys is the error of a key creation refused because its user
// already holds max live keys.
func TooManyAPIKeys(max int) *Error {
	return Errorf(ECONFLICT, "Too many API keys: at most %d may be active at once; revoke one first", max)
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the public message of err: the *Error's message, or a
// generic text for internal errors, whose detail must not reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "Internal server error"
}
