package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
)

// The admin console (contract §11): users (search, pages, create, role,
// disable, reset 2FA, sign out everywhere) and the audit log. Every page
// needs the admin role and the permission the JSON admin API asks for
// the same action (Handler.admin).

const (
	usersPerPage  = 50
	eventsPerPage = 50
)

type usersData struct {
	Query   string
	Users   []*gatehouse.User
	Next    string // the next page's URL, "" on the last
	Roles   []string
	Create  createForm
	Errors  map[string]string
	Created bool
}

type createForm struct{ Username, Email, Role string }

var roles = []string{string(gatehouse.RoleUser), string(gatehouse.RoleModerator), string(gatehouse.RoleAdmin)}

func (h *Handler) adminHome(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	n, err := h.store.CountUsers(r.Context())
	if err != nil {
		return err
	}
	// The signing keys as the store holds them: public facts only.
	keys, err := h.store.SigningKeys(r.Context())
	if err != nil {
		return err
	}
	v := h.newView(p, "Administration", "admin")
	v.Data = struct {
		Users int
		Keys  []gatehouse.SigningKey
	}{n, keys}
	h.render(w, r, http.StatusOK, "admin", v)
	return nil
}

func (h *Handler) adminUsers(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	return h.renderUsers(w, r, p, &usersData{Create: createForm{Role: string(gatehouse.RoleUser)}}, http.StatusOK, "")
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal, d *usersData, status int, errMsg string) error {
	q := r.URL.Query()
	d.Query = strings.TrimSpace(q.Get("q"))
	if len(d.Query) > 128 {
		d.Query = d.Query[:128]
	}
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	users, err := h.store.FindUsers(r.Context(), d.Query, max(after, 0), usersPerPage+1)
	if err != nil {
		return err
	}
	if len(users) > usersPerPage {
		users = users[:usersPerPage]
		next := url.Values{"after": {strconv.FormatInt(users[len(users)-1].ID, 10)}}
		if d.Query != "" {
			next.Set("q", d.Query)
		}
		d.Next = "/admin/users?" + next.Encode()
	}
	d.Users, d.Roles = users, roles
	v := h.newView(p, "Users", "admin")
	v.Notice, v.Error, v.Data = notice(r), errMsg, d
	h.render(w, r, status, "admin_users", v)
	return nil
}

func (h *Handler) adminCreateUser(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	f := createForm{Username: formValue(r, "username"), Email: formValue(r, "email"), Role: formValue(r, "role")}
	u, err := h.auth.CreateUser(r.Context(), auth.NewUser{Username: f.Username, Password: formValue(r, "password"),
		Email: f.Email, Role: gatehouse.Role(f.Role)})
	if err != nil {
		switch gatehouse.ErrorCode(err) {
		case gatehouse.EINVALID, gatehouse.ECONFLICT:
		default:
			return err
		}
		field := "username"
		if e, ok := err.(*gatehouse.Error); ok && len(e.Fields) > 0 && len(e.Fields[0].Loc) > 1 {
			field = e.Fields[0].Loc[len(e.Fields[0].Loc)-1]
		}
		d := &usersData{Create: f, Errors: map[string]string{field: gatehouse.ErrorMessage(err)}}
		return h.renderUsers(w, r, p, d, httpStatus(gatehouse.ErrorCode(err)), "The user was not created: "+lowerFirst(gatehouse.ErrorMessage(err)))
	}
	return h.see(w, r, "/admin/users/"+strconv.FormatInt(u.ID, 10), "user-created")
}

type userData struct {
	Subject  *gatehouse.User
	Sessions []sessionRow
	Roles    []string
	Self     bool
}

func (h *Handler) subject(r *http.Request) (*gatehouse.User, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	u, err := h.auth.User(r.Context(), id)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, errNotFound
	}
	return u, err
}

func (h *Handler) adminUser(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	return h.renderUser(w, r, p, http.StatusOK, "")
}

func (h *Handler) renderUser(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal, status int, errMsg string) error {
	u, err := h.subject(r)
	if err != nil {
		return err
	}
	sessions, err := h.auth.Sessions(r.Context(), u.ID)
	if err != nil {
		return err
	}
	v := h.newView(p, u.Username, "admin")
	v.Notice, v.Error = notice(r), errMsg
	v.Data = &userData{Subject: u, Sessions: h.nameClients(r.Context(), sessionRows(sessions, p.SessionID)), Roles: roles, Self: u.ID == p.User.ID}
	h.render(w, r, status, "admin_user", v)
	return nil
}

// userAction runs a change to the path's user and redirects back to its
// page, or shows the page with the refusal (the last admin, say).
func (h *Handler) userAction(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal, done string, fn func(u *gatehouse.User) error) error {
	u, err := h.subject(r)
	if err != nil {
		return err
	}
	if err := fn(u); err != nil {
		switch gatehouse.ErrorCode(err) {
		case gatehouse.EINVALID, gatehouse.EFORBIDDEN, gatehouse.ECONFLICT, gatehouse.EBADREQUEST:
			return h.renderUser(w, r, p, httpStatus(gatehouse.ErrorCode(err)), "Nothing was changed: "+lowerFirst(gatehouse.ErrorMessage(err)))
		}
		return err
	}
	return h.see(w, r, "/admin/users/"+strconv.FormatInt(u.ID, 10), done)
}

func (h *Handler) adminSetRole(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	role := gatehouse.Role(formValue(r, "role"))
	return h.userAction(w, r, p, "role", func(u *gatehouse.User) error {
		_, err := h.auth.UpdateUser(r.Context(), u.ID, auth.UserUpdate{Role: &role})
		return err
	})
}

func (h *Handler) adminSetDisabled(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	disable := formValue(r, "disabled") == "true"
	done := "enabled"
	if disable {
		done = "disabled"
	}
	return h.userAction(w, r, p, done, func(u *gatehouse.User) error {
		_, err := h.auth.UpdateUser(r.Context(), u.ID, auth.UserUpdate{Disabled: &disable})
		return err
	})
}

func (h *Handler) adminReset2FA(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	return h.userAction(w, r, p, "2fa-reset", func(u *gatehouse.User) error {
		off := false
		_, err := h.auth.UpdateUser(r.Context(), u.ID, auth.UserUpdate{TOTPEnabled: &off})
		return err
	})
}

func (h *Handler) adminSignOut(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	return h.userAction(w, r, p, "user-signed-out", func(u *gatehouse.User) error {
		keep := ""
		if u.ID == p.User.ID { // an admin signing out their own other sessions stays signed in here
			keep = p.SessionID
		}
		_, err := h.auth.EndSessions(r.Context(), u.ID, keep)
		return err
	})
}

// auditTypes are the event types the filter offers (contract §9).
var auditTypes = []string{
	gatehouse.EventLogin, gatehouse.EventLogout, gatehouse.EventRefresh, gatehouse.EventRefreshReuse,
	gatehouse.EventTwoFactorEnabled, gatehouse.EventTwoFactorUsed, gatehouse.EventTwoFactorFailed, gatehouse.EventTwoFactorDisabled,
	gatehouse.EventAPIKeyCreated, gatehouse.EventAPIKeyRevoked, gatehouse.EventAPIKeyRefused,
	gatehouse.EventUserCreated, gatehouse.EventUserChanged, gatehouse.EventUserDeleted,
	gatehouse.EventPermissionRefused, gatehouse.EventRateLimited,
	gatehouse.EventClientCreated, gatehouse.EventClientChanged, gatehouse.EventClientSecretRotated, gatehouse.EventClientDeleted,
}

type auditData struct {
	User, Type string
	Types      []string
	Events     []auditRow
	Next       string
	NoSuchUser bool
}

type auditRow struct {
	ID                                                     int64
	Time                                                   time.Time
	Type, Outcome, Username, ClientIP, Path, Detail, Agent string
	UserID, Count                                          int64
}

func (h *Handler) adminAudit(w http.ResponseWriter, r *http.Request, p *gatehouse.Principal) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := &auditData{User: strings.TrimSpace(q.Get("user")), Type: q.Get("type"), Types: auditTypes}
	f := gatehouse.AuditFilter{Limit: eventsPerPage + 1}
	if d.Type != "" {
		f.Type = d.Type
	}
	if before, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil && before > 0 {
		f.Before = before
	}
	var events []*gatehouse.AuditEvent
	if d.User != "" {
		u, err := h.store.UserByUsername(ctx, d.User)
		switch {
		case gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND:
			d.NoSuchUser = true
		case err != nil:
			return err
		default:
			f.UserID = u.ID
		}
	}
	if !d.NoSuchUser {
		var err error
		if events, err = h.store.AuditEvents(ctx, f); err != nil {
			return err
		}
	}
	if len(events) > eventsPerPage {
		events = events[:eventsPerPage]
		next := url.Values{"before": {strconv.FormatInt(events[len(events)-1].ID, 10)}}
		if d.User != "" {
			next.Set("user", d.User)
		}
		if d.Type != "" {
			next.Set("type", d.Type)
		}
		d.Next = "/admin/audit?" + next.Encode()
	}
	names := map[int64]string{}
	for _, e := range events {
		name := e.Username
		if name == "" && e.UserID != 0 {
			n, ok := names[e.UserID]
			if !ok {
				if u, err := h.store.UserByID(ctx, e.UserID); err == nil {
					n = u.Username
				}
				names[e.UserID] = n
			}
			name = n
		}
		d.Events = append(d.Events, auditRow{ID: e.ID, Time: e.Time, Type: e.Type, Outcome: e.Outcome, Username: name,
			ClientIP: e.ClientIP, Path: e.Path, Detail: e.Detail, Agent: e.UserAgent, UserID: e.UserID, Count: max(e.Count, 1)})
	}
	v := h.newView(p, "Audit log", "admin")
	v.Data = d
	h.render(w, r, http.StatusOK, "admin_audit", v)
	return nil
}
