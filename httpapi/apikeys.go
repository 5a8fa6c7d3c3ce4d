package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
)

// routesAPIKeys registers /api-keys and /protected (contract §5).
//
// Keys are managed with a token login only: a key that could mint or list
// keys would let whoever leaked it make itself a successor.
func (s *Server) routesAPIKeys() {
	byToken := s.guard.Require(tokenLogin)
	s.handle("POST /api-keys", byToken(s.wrap(s.handleCreateAPIKey)))
	s.handle("GET /api-keys", byToken(s.wrap(s.handleListAPIKeys)))
	s.handle("DELETE /api-keys/{id}", byToken(s.wrap(s.handleRevokeAPIKey)))
	s.handle("GET /protected", s.guard.RequireKey()(s.wrap(s.handleProtected)))
}

// keyAuthenticator is what the guard uses for X-API-Key.
func (s *Server) keyAuthenticator() guard.KeyAuthenticator { return s.auth }

// tokenLogin refuses principals that authenticated with an API key.
func tokenLogin(p *gatehouse.Principal) error {
	if p.APIKeyID != 0 {
		return gatehouse.Errorf(gatehouse.EFORBIDDEN, "API keys cannot manage API keys; use a token")
	}
	return nil
}

// apiKeyJSON is an API key as the API shows it; Key is set only in the
// answer to its creation.
type apiKeyJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Key        string     `json:"key,omitempty"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	IsActive   bool       `json:"is_active"`
}

func toAPIKeyJSON(k *gatehouse.APIKey, key string) apiKeyJSON {
	j := apiKeyJSON{ID: k.ID, Name: k.Name, Key: key, Prefix: apikey.Prefix + k.LookupID, Scopes: strings.Fields(k.Scope),
		CreatedAt: k.CreatedAt.UTC().Truncate(time.Second), ExpiresAt: optionalTime(k.ExpiresAt),
		LastUsedAt: optionalTime(k.LastUsedAt), IsActive: k.Active}
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	return j
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

// scopeList is a request's scopes: a space-separated string, as OAuth2
// writes them (RFC 6749 §3.3), or a JSON array of strings.
type scopeList struct {
	set   bool
	value string
}

func (l *scopeList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" { // as if left out
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		l.set, l.value = true, strings.Join(list, " ")
		return nil
	}
	if err := json.Unmarshal(b, &l.value); err != nil {
		return &json.UnmarshalTypeError{Value: "neither string nor list of strings", Type: reflect.TypeFor[string]()}
	}
	l.set = true
	return nil
}

func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name      *string   `json:"name"`
		Scopes    scopeList `json:"scopes"`
		ExpiresAt *string   `json:"expires_at"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Name == nil {
		return missing("name")
	}
	scopes := body.Scopes.value
	if body.Scopes.set && strings.TrimSpace(scopes) == "" {
		return gatehouse.Invalid([]string{"body", "scopes"}, "Must name at least one scope, or be left out", "value_error")
	}
	var expires time.Time
	if body.ExpiresAt != nil {
		var err error
		if expires, err = time.Parse(time.RFC3339, *body.ExpiresAt); err != nil {
			return gatehouse.Invalid([]string{"body", "expires_at"}, "Must be an RFC 3339 time (2027-01-02T15:04:05Z)", "value_error.datetime")
		}
	}
	key, k, err := s.auth.CreateAPIKey(r.Context(), principal(r), *body.Name, scopes, expires)
	if err != nil {
		return err
	}
	httpsec.NoStore(w) // the key is shown this once (contract §8)
	httperror.JSON(w, http.StatusCreated, toAPIKeyJSON(k, key))
	return nil
}

func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.auth.ListAPIKeys(r.Context(), principal(r).User.ID)
	if err != nil {
		return err
	}
	out := make([]apiKeyJSON, len(keys))
	for i, k := range keys {
		out[i] = toAPIKeyJSON(k, "")
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, map[string]any{"api_keys": out})
	return nil
}

func (s *Server) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	id, ok := pathID(r)
	if !ok {
		return gatehouse.Errorf(gatehouse.ENOTFOUND, "API key not found")
	}
	if err := s.auth.RevokeAPIKey(r.Context(), principal(r), id); err != nil {
		return err
	}
	httperror.JSON(w, http.StatusOK, map[string]string{"message": "API key revoked"})
	return nil
}

// pathID reads the {id} of a path; anything but a positive decimal number
// names nothing (contract §2: 404 whatever its form).
func pathID(r *http.Request) (int64, bool) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != v {
		return 0, false
	}
	return id, true
}

func (s *Server) handleProtected(w http.ResponseWriter, r *http.Request) error {
	httperror.JSON(w, http.StatusOK, map[string]string{"message": "Access granted", "key_name": principal(r).KeyName})
	return nil
}
