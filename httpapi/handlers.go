package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/rbac"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	httperror.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// tokenResponse is RFC 6749 §5.1's successful answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
}

// writeTokens answers with a token pair. It leaves Cache-Control to the
// handlers it answers for, handleToken and handleRefresh (directly or via
// tokenMFA and refresh), which set no-store before anything else so that
// their error answers are not cached either.
func writeTokens(w http.ResponseWriter, p *auth.TokenPair) {
	httperror.JSON(w, http.StatusOK, tokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken,
		TokenType: "bearer", ExpiresIn: p.ExpiresIn, Scope: p.Scope})
}

// handleToken is the OAuth2 token endpoint: the password grant (the default
// when grant_type is absent, as in the guide) with an optional otp, the
// second step of a two-factor login (GrantTypeMFA) and the refresh_token
// grant.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	httpsec.NoStore(w)
	form, err := readForm(r)
	if err != nil {
		return err
	}
	if done, err := s.tokenOAuth(w, r, form); done {
		return err
	}
	switch form.Get("grant_type") {
	case "", "password":
		username, pw := form.Get("username"), form.Get("password")
		if username == "" { // absent or empty
			return missing("username")
		}
		if _, ok := form["password"]; !ok {
			return missing("password")
		}
		attempt, err := s.checkLogin(w, r, username)
		if err != nil {
			return err
		}
		pair, err := s.auth.LoginWithOTP(r.Context(), username, pw, form.Get("scope"), form.Get("otp"))
		s.settleLogin(r, attempt, err, signedInAs(pair))
		if err != nil {
			return loginError(w, err)
		}
		writeTokens(w, pair)
		return nil
	case GrantTypeMFA:
		return s.tokenMFA(w, r, form)
	case "refresh_token":
		rt := form.Get("refresh_token")
		if rt == "" {
			return missing("refresh_token")
		}
		return s.refresh(w, r, rt)
	}
	return &gatehouse.Error{Code: gatehouse.EBADREQUEST, OAuth: "unsupported_grant_type", Message: "Unsupported grant type"}
}

// handleRefresh takes a refresh token as JSON {"refresh_token": …} or as a
// form field.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	httpsec.NoStore(w)
	var rt string
	if isForm(r) {
		form, err := readForm(r)
		if err != nil {
			return err
		}
		rt = form.Get("refresh_token")
	} else {
		var body struct {
			RefreshToken *string `json:"refresh_token"`
		}
		if err := readJSON(r, &body); err != nil {
			return err
		}
		if body.RefreshToken != nil {
			rt = *body.RefreshToken
		}
	}
	if rt == "" {
		return missing("refresh_token")
	}
	return s.refresh(w, r, rt)
}

// refresh rotates rt, within the per-client limit on refreshes; the auth
// service applies the per-session one (contract §12).
func (s *Server) refresh(w http.ResponseWriter, r *http.Request, rt string) error {
	if err := s.checkRefreshIP(w, r); err != nil {
		return err
	}
	pair, err := s.auth.Refresh(r.Context(), rt)
	if err != nil {
		return err
	}
	writeTokens(w, pair)
	return nil
}

// userJSON is the contract's user object (§4).
type userJSON struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	Email       *string   `json:"email"`
	FullName    *string   `json:"full_name"`
	Disabled    bool      `json:"disabled"`
	Role        string    `json:"role"`
	Permissions []string  `json:"permissions"`
	TOTPEnabled bool      `json:"totp_enabled"`
	CreatedAt   time.Time `json:"created_at"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toUserJSON(u *gatehouse.User) userJSON {
	perms := rbac.EffectivePermissions(u)
	if perms == nil {
		perms = []string{}
	}
	return userJSON{ID: u.ID, Username: u.Username, Email: nullable(u.Email), FullName: nullable(u.FullName),
		Disabled: u.Disabled, Role: string(u.Role), Permissions: perms, TOTPEnabled: u.TOTPEnabled,
		CreatedAt: u.CreatedAt.UTC().Truncate(time.Second)}
}

func principal(r *http.Request) *gatehouse.Principal {
	p, _ := gatehouse.PrincipalFrom(r.Context())
	return p
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	httpsec.NoStore(w)
	body, err := meJSON(principal(r))
	if err != nil {
		return err
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// meJSON returns the JSON of /users/me for p, memoised with the
// principal's gatehouse.UserSnapshot, which cannot change, so the JSON made
// from it is right for as long as it lives, and goes with it when the auth
// cache drops that version of the user (about 170 bytes a cached user that
// called /users/me). It saves 15–20% of a whole /users/me request in
// process (BenchmarkGuardedRequest); kept per snapshot rather than in a map
// of its own, it holds for every active user, not only the last 10,000.
func meJSON(p *gatehouse.Principal) ([]byte, error) {
	if p.Snapshot == nil { // not from the auth service: nothing to key on
		return encodeMe(p.User)
	}
	return p.Snapshot.Memo(encodeMe)
}

func encodeMe(u *gatehouse.User) ([]byte, error) {
	b, err := json.Marshal(toUserJSON(u))
	if err != nil {
		return nil, fmt.Errorf("encode user: %w", err)
	}
	return append(b, '\n'), nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.auth.Logout(r.Context(), principal(r)); err != nil {
		return err
	}
	httperror.JSON(w, http.StatusOK, map[string]string{"message": "Successfully logged out"})
	return nil
}
