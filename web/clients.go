package web

import (
	"context"
	"net/http"
	"slices"
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
	handle("GET /admin/clients/{id}", h.page(h.admin(read, h.adminClient)))
	handle("POST /admin/clients/{id}", h.form(h.admin(write, h.adminUpdateClient)))
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

// clientFields is what the client forms' shared fields show (layout.html:
// clientfields).
type clientFields struct {
	Form           clientForm
	Errors         map[string]string
	Grants, Scopes []string
}

// Fields is the registration form's shared fields.
func (d clientsData) Fields() clientFields {
	return clientFields{Form: d.Create, Errors: d.Errors, Grants: d.Grants, Scopes: d.Scopes}
}

// Fields is the edit form's shared fields.
func (d clientData) Fields() clientFields {
	return clientFields{Form: d.Edit, Errors: d.Errors, Grants: d.Grants, Scopes: d.Scopes}
}

// clientForm is the registration form as sent, to show it again with its
// errors.
type clientForm struct {
	Name, RedirectURIs, PostLogoutRedirectURIs, Scopes string
	Public, FirstParty                                 bool
	Grants                                             []string
}

// readClientForm reads the registration (or edit) form.
func readClientForm(r *http.Request) clientForm {
	r.ParseMultipartForm(1 << 20)
	return clientForm{Name: formValue(r, "name"), RedirectURIs: formValue(r, "redirect_uris"),
		PostLogoutRedirectURIs: formValue(r, "post_logout_redirect_uris"), Scopes: formValue(r, "scopes"),
		Public: formValue(r, "type") == "public", FirstParty: formValue(r, "first_party") == "on", Grants: r.PostForm["grant"]}
}

// grantList is the grants ticked; none ticked is refused, not the default.
func (f clientForm) grantList() []string {
	if f.Grants == nil {
		return []string{}
	}
	return f.Grants
}

func (f clientForm) scopeList() []string {
	return strings.Fields(strings.ReplaceAll(f.Scopes, ",", " "))
}

// formOf is the edit form of c as stored.
func formOf(c *gatehouse.OAuthClient) clientForm {
	return clientForm{Name: c.Name, RedirectURIs: strings.Join(c.RedirectURIs, "\n"),
		PostLogoutRedirectURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"), Scopes: strings.Join(c.Scopes, " "),
		Public: c.Public, FirstParty: c.FirstParty, Grants: c.Grants}
}

// fieldError maps a 422 to the form field it names.
func fieldError(err error) map[string]string {
	field := "name"
	if e, ok := err.(*gatehouse.Error); ok && len(e.Fields) > 0 && len(e.Fields[0].Loc) > 1 {
		field = e.Fields[0].Loc[1]
	}
	return map[string]string{field: gatehouse.ErrorMessage(err)}
}

// HasGrant reports whether the form ticks grant g (the template's check).
func (f clientForm) HasGrant(g string) bool { return slices.Contains(f.Grants, g) }

func (h *Handler) adminClients(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	d := &clientsData{Create: clientForm{Grants: oauth.DefaultClientGrants}}
	return h.renderClients(w, r, p, d, http.StatusOK, "")
}

func (h *Handler) renderClients(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal, d *clientsData, status int, errMsg string) error {
	d.Available = h.clients != nil
	d.Grants = oauth.ClientGrants
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
	f := readClientForm(r)
	c, secret, err := h.clients.Create(r.Context(), oauth.ClientSpec{Name: f.Name, RedirectURIs: textLines(f.RedirectURIs),
		PostLogoutRedirectURIs: textLines(f.PostLogoutRedirectURIs), Public: f.Public, FirstParty: f.FirstParty,
		Grants: f.grantList(), Scopes: f.scopeList()})
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.EINVALID {
			return err
		}
		d := &clientsData{Create: f, Errors: fieldError(err)}
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

// clientData is the page of one client: its facts and its edit form.
type clientData struct {
	Client *gatehouse.OAuthClient
	Edit   clientForm
	Errors map[string]string
	Grants []string
	Scopes []string
}

func (h *Handler) adminClient(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	return h.renderClient(w, r, p, nil, nil, http.StatusOK, "")
}

// renderClient shows the path's client, with edit as its form (nil: as
// stored) and errs beside the fields.
func (h *Handler) renderClient(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal, edit *clientForm, errs map[string]string, status int, errMsg string) error {
	if h.clients == nil {
		return clientUnavailable
	}
	c, err := h.clients.Client(r.Context(), r.PathValue("id"))
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return errNotFound
	}
	if err != nil {
		return err
	}
	d := &clientData{Client: c, Edit: formOf(c), Errors: errs,
		Grants: oauth.ClientGrants,
		Scopes: oauth.ClientScopes}
	if edit != nil {
		d.Edit = *edit
	}
	v := h.newView(p, c.Name, "admin")
	v.Notice, v.Error, v.Data = notice(r), errMsg, d
	h.render(w, r, status, "admin_client", v)
	return nil
}

func (h *Handler) adminUpdateClient(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	if h.clients == nil {
		return clientUnavailable
	}
	f := readClientForm(r)
	redirects, logouts, grants, scopes := textLines(f.RedirectURIs), textLines(f.PostLogoutRedirectURIs), f.grantList(), f.scopeList()
	_, err := h.clients.Update(r.Context(), r.PathValue("id"), oauth.ClientChange{Name: &f.Name, RedirectURIs: &redirects,
		PostLogoutRedirectURIs: &logouts, Grants: &grants, Scopes: &scopes, FirstParty: &f.FirstParty})
	switch gatehouse.ErrorCode(err) {
	case "":
		return h.see(w, r, "/admin/clients/"+r.PathValue("id"), "client-changed")
	case gatehouse.ENOTFOUND:
		return errNotFound
	case gatehouse.EINVALID:
		return h.renderClient(w, r, p, &f, fieldError(err), httpStatus(gatehouse.EINVALID), "Nothing was changed: "+lowerFirst(gatehouse.ErrorMessage(err)))
	}
	return err
}
