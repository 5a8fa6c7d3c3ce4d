package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/oauth"
)

// The admin console's OAuth clients (contract §11, §13): list, register
// (a confidential client's secret shown once, in the POST's own answer),
// rotate a secret (likewise), delete. The same ClientManager as the JSON
// admin API and the CLI does the work.

const clientsPerPage = 200

// SetClientManager gives the pages the ClientManager the server's admin
// API uses; without one, the OAuth clients page says it is unavailable.
func (h *Handler) SetClientManager(m *oauth.ClientManager) { h.clients = m }

func (h *Handler) clientRoutes(handle func(pattern string, handler http.Handler)) {
	read, write := gatehouse.PermReadUsers, gatehouse.PermWriteUsers
	handle("GET /admin/clients", h.page(h.admin(read, h.adminClients)))
	handle("POST /admin/clients", h.form(h.admin(write, h.adminCreateClient)))
	handle("POST /admin/clients/{id}/secret", h.form(h.admin(write, h.adminRotateClientSecret)))
	handle("POST /admin/clients/{id}/delete", h.form(h.admin(write, h.adminDeleteClient)))
}

type clientsData struct {
	Available bool
	Clients   []*gatehouse.OAuthClient
	More      bool // more clients than one page shows
	Create    clientForm
	Errors    map[string]string
	Grants    []string
	Scopes    []string
	// Issued is the client whose secret was just issued, and the secret:
	// shown in this answer only.
	Issued       *gatehouse.OAuthClient
	IssuedSecret string
}

// clientForm is the registration form as sent, to show it again with its
// errors.
type clientForm struct {
	Name, RedirectURIs, PostLogoutRedirectURIs, Scopes string
	Public, FirstParty                                 bool
	Grants                                             []string
}

func (f clientForm) HasGrant(g string) bool {
	for _, x := range f.Grants {
		if x == g {
			return true
		}
	}
	return false
}

func (h *Handler) adminClients(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	d := &clientsData{Create: clientForm{Grants: oauth.DefaultClientGrants}}
	return h.renderClients(w, r, p, d, http.StatusOK, "")
}

func (h *Handler) renderClients(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal, d *clientsData, status int, errMsg string) error {
	d.Available = h.clients != nil
	d.Grants = []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken, gatehouse.GrantClientCredentials}
	d.Scopes = oauth.ClientScopes
	if d.Available {
		list, err := h.clients.List(r.Context(), "", clientsPerPage+1)
		if err != nil {
			return err
		}
		if len(list) > clientsPerPage {
			list, d.More = list[:clientsPerPage], true
		}
		d.Clients = list
	}
	v := h.newView(p, "OAuth clients", "admin")
	v.Notice, v.Error, v.Data = notice(r), errMsg, d
	h.render(w, r, status, "admin_clients", v)
	return nil
}

// textLines splits a textarea into its non-blank lines.
func textLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// clientUnavailable refuses a change when the server has no ClientManager.
var clientUnavailable = &gatehouse.Error{Code: gatehouse.EUNAVAILABLE, Message: "OAuth clients are not available on this server"}

func (h *Handler) adminCreateClient(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	if h.clients == nil {
		return clientUnavailable
	}
	r.ParseMultipartForm(1 << 20)
	f := clientForm{Name: formValue(r, "name"), RedirectURIs: formValue(r, "redirect_uris"),
		PostLogoutRedirectURIs: formValue(r, "post_logout_redirect_uris"), Scopes: formValue(r, "scopes"),
		Public: formValue(r, "type") == "public", FirstParty: formValue(r, "first_party") == "on", Grants: r.PostForm["grant"]}
	grants := f.Grants
	if grants == nil {
		grants = []string{} // none ticked: refused, not the default
	}
	c, secret, err := h.clients.Create(r.Context(), oauth.ClientSpec{Name: f.Name, RedirectURIs: textLines(f.RedirectURIs),
		PostLogoutRedirectURIs: textLines(f.PostLogoutRedirectURIs), Public: f.Public, FirstParty: f.FirstParty,
		Grants: grants, Scopes: strings.Fields(strings.ReplaceAll(f.Scopes, ",", " "))})
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			return err
		}
		field := "name"
		if e, ok := err.(*gatehouse.Error); ok && len(e.Fields) > 0 && len(e.Fields[0].Loc) > 1 {
			field = e.Fields[0].Loc[1]
		}
		d := &clientsData{Create: f, Errors: map[string]string{field: gatehouse.ErrorMessage(err)}}
		return h.renderClients(w, r, p, d, httpStatus(gatehouse.ErrorCode(err)), "The client was not registered: "+lowerFirst(gatehouse.ErrorMessage(err)))
	}
	v := &clientsData{Create: clientForm{Grants: oauth.DefaultClientGrants}, Issued: c, IssuedSecret: secret}
	return h.renderClients(w, r, p, v, http.StatusCreated, "")
}

func (h *Handler) adminRotateClientSecret(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	if h.clients == nil {
		return clientUnavailable
	}
	c, secret, err := h.clients.RotateSecret(r.Context(), r.PathValue("id"), oauth.ClientSecretOverlap)
	switch gatehouse.ErrorCode(err) {
	case "":
	case gatehouse.ENOTFOUND:
		return errNotFound
	case gatehouse.ECONFLICT, gatehouse.EINVALID:
		d := &clientsData{Create: clientForm{Grants: oauth.DefaultClientGrants}}
		return h.renderClients(w, r, p, d, httpStatus(gatehouse.ErrorCode(err)), "Nothing was changed: "+lowerFirst(gatehouse.ErrorMessage(err)))
	default:
		return err
	}
	d := &clientsData{Create: clientForm{Grants: oauth.DefaultClientGrants}, Issued: c, IssuedSecret: secret}
	return h.renderClients(w, r, p, d, http.StatusOK, "")
}

func (h *Handler) adminDeleteClient(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	if h.clients == nil {
		return clientUnavailable
	}
	if _, err := h.clients.Delete(r.Context(), r.PathValue("id")); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
			return errNotFound
		}
		return err
	}
	return h.see(w, r, "/admin/clients", "client-deleted")
}

// nameClients fills in the client names of OAuth sessions, looked up once
// per client; a client that cannot be read keeps only its id.
func (h *Handler) nameClients(ctx context.Context, rows []sessionRow) []sessionRow {
	names := map[string]string{}
	for i, row := range rows {
		if row.ClientID == "" {
			continue
		}
		name, ok := names[row.ClientID]
		if !ok {
			if c, err := h.store.Client(ctx, row.ClientID); err == nil {
				name = c.Name
			}
			names[row.ClientID] = name
		}
		rows[i].ClientName = name
	}
	return rows
}
