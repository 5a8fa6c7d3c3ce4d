package httpapi

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
	"github.com/gatehouse/gatehouse/oauth"
)

// Client list page sizes (GET /clients).
const (
	clientsDefaultLimit = 100
	clientsMaxLimit     = 500
)

// clientsAPI is the OAuth client admin API (contract §13).
type clientsAPI struct {
	m *oauth.ClientManager
}

// routesClients registers the OAuth client admin API: admins only, and
// on the token or key used, the admin scope.
func (s *Server) routesClients() {
	a := &clientsAPI{m: oauth.NewClientManager(oauth.ClientManagerConfig{Store: s.store, Auth: s.auth, Auditor: s.audit, Now: s.now})}
	if s.web != nil {
		s.web.SetClientManager(a.m) // the admin page's OAuth clients: web/clients.go
	}
	admin := s.guard.Require(guard.MinRole(gatehouse.RoleAdmin), guard.Scopes(gatehouse.ScopeAdmin))
	s.handle("GET /clients", admin(s.wrap(a.handleList)))
	s.handle("POST /clients", admin(s.wrap(a.handleCreate)))
	s.handle("GET /clients/{id}", admin(s.wrap(a.handleGet)))
	s.handle("PATCH /clients/{id}", admin(s.wrap(a.handleUpdate)))
	s.handle("DELETE /clients/{id}", admin(s.wrap(a.handleDelete)))
	s.handle("POST /clients/{id}/secret", admin(s.wrap(a.handleRotate)))
}

// clientBody is POST /clients's body and PATCH /clients/{id}'s: every
// field optional for PATCH; name required for POST.
type clientBody struct {
	Name                   *string   `json:"name"`
	RedirectURIs           *[]string `json:"redirect_uris"`
	PostLogoutRedirectURIs *[]string `json:"post_logout_redirect_uris"`
	Public                 *bool     `json:"public"`
	FirstParty             *bool     `json:"first_party"`
	Grants                 *[]string `json:"grants"`
	Scopes                 *[]string `json:"scopes"`
	IDTokenAlg             *string   `json:"id_token_alg"`
}

func clientField[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

func (a *clientsAPI) handleCreate(w http.ResponseWriter, r *http.Request) error {
	var b clientBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if b.Name == nil {
		return missing("name")
	}
	c, secret, err := a.m.Create(r.Context(), oauth.ClientSpec{Name: *b.Name, RedirectURIs: clientField(b.RedirectURIs),
		PostLogoutRedirectURIs: clientField(b.PostLogoutRedirectURIs), Public: clientField(b.Public), FirstParty: clientField(b.FirstParty),
		Grants: clientField(b.Grants), Scopes: clientField(b.Scopes), IDTokenAlg: clientField(b.IDTokenAlg)})
	if err != nil {
		return err
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusCreated, oauth.NewClientInfo(c, secret))
	return nil
}

// handleList pages through clients by id; the cursor is opaque (base64url
// of the last id of the previous page).
func (a *clientsAPI) handleList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, _, err := readPage(map[string][]string{"limit": q["limit"]}, clientsDefaultLimit, clientsMaxLimit)
	if err != nil {
		return err
	}
	var after string
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) == 0 || len(b) > 128 {
			return gatehouse.Invalid([]string{"query", "cursor"}, "Invalid cursor", "value_error")
		}
		after = string(b)
	}
	list, err := a.m.List(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	var next *string
	if len(list) > limit {
		list = list[:limit]
		next = new(base64.RawURLEncoding.EncodeToString([]byte(list[limit-1].ID)))
	}
	out := make([]oauth.ClientInfo, len(list))
	for i, c := range list {
		out[i] = oauth.NewClientInfo(c, "")
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, struct {
		Clients    []oauth.ClientInfo `json:"clients"`
		NextCursor *string            `json:"next_cursor"`
	}{out, next})
	return nil
}

func (a *clientsAPI) handleGet(w http.ResponseWriter, r *http.Request) error {
	c, err := a.m.Client(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, oauth.NewClientInfo(c, ""))
	return nil
}

func (a *clientsAPI) handleUpdate(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	// An unknown client is 404 whatever the body.
	c, err := a.m.Client(r.Context(), id)
	if err != nil {
		return err
	}
	var b clientBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if b.Public != nil && *b.Public != c.Public {
		return gatehouse.Invalid([]string{"body", "public"},
			"Whether a client is public is fixed when it is registered; register a new client instead", "value_error")
	}
	c, err = a.m.Update(r.Context(), id, oauth.ClientChange{Name: b.Name, RedirectURIs: b.RedirectURIs,
		PostLogoutRedirectURIs: b.PostLogoutRedirectURIs, Grants: b.Grants, Scopes: b.Scopes, FirstParty: b.FirstParty,
		IDTokenAlg: b.IDTokenAlg})
	if err != nil {
		return err
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, oauth.NewClientInfo(c, ""))
	return nil
}

func (a *clientsAPI) handleDelete(w http.ResponseWriter, r *http.Request) error {
	n, err := a.m.Delete(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httperror.JSON(w, http.StatusOK, struct {
		Message       string `json:"message"`
		SessionsEnded int    `json:"sessions_ended"`
	}{"Client deleted", n})
	return nil
}

// handleRotate issues a new secret, shown once in the answer; the old
// ones keep working for overlap_seconds (default one day, 0: end now).
func (a *clientsAPI) handleRotate(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		OverlapSeconds *int64 `json:"overlap_seconds"`
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err, "Unreadable body")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := readJSON(r, &b); err != nil {
			return err
		}
	}
	overlap := oauth.ClientSecretOverlap
	if b.OverlapSeconds != nil {
		// Bounded before the multiplication, so that it cannot overflow.
		if s := *b.OverlapSeconds; s < 0 || s > int64(oauth.ClientSecretOverlapMax/time.Second) {
			overlap = -1 // refused by RotateSecret, with the field named
		} else {
			overlap = time.Duration(s) * time.Second
		}
	}
	c, secret, err := a.m.RotateSecret(r.Context(), r.PathValue("id"), overlap)
	if err != nil {
		return err
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, oauth.NewClientInfo(c, secret))
	return nil
}
