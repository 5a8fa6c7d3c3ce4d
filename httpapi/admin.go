package httpapi

import (
	"net/http"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/auth"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/gatehouse/gatehouse/httpsec"
)

// User list page sizes (GET /users).
const (
	usersDefaultLimit = 100
	usersMaxLimit     = 500
)

// routesAdmin registers the user admin API (contract §4). Each route needs
// its permission and, on the token or key used, the admin scope.
func (s *Server) routesAdmin() {
	admin := func(perm string) func(http.Handler) http.Handler {
		return s.guard.Require(guard.Permission(perm), guard.Scopes(gatehouse.ScopeAdmin))
	}
	s.handle("GET /users", admin(gatehouse.PermReadUsers)(s.wrap(s.handleListUsers)))
	s.handle("POST /users", admin(gatehouse.PermWriteUsers)(s.wrap(s.handleCreateUser)))
	s.handle("GET /users/{id}", admin(gatehouse.PermReadUsers)(s.wrap(s.handleGetUser)))
	s.handle("PATCH /users/{id}", admin(gatehouse.PermWriteUsers)(s.wrap(s.handleUpdateUser)))
	s.handle("DELETE /users/{id}", admin(gatehouse.PermDeleteUsers)(s.wrap(s.handleDeleteUser)))
}

var errUserNotFound = gatehouse.Errorf(gatehouse.ENOTFOUND, "User not found")

// handleListUsers pages through users by id; the cursor is the last id of
// the previous page, as for GET /audit.
func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := readPage(r.URL.Query(), usersDefaultLimit, usersMaxLimit)
	if err != nil {
		return err
	}
	users, err := s.store.ListUsers(r.Context(), after, limit+1) // one more tells whether another page exists
	if err != nil {
		return err
	}
	users, next := nextPage(users, limit, func(u *gatehouse.User) int64 { return u.ID })
	out := make([]userJSON, len(users))
	for i, u := range users {
		out[i] = toUserJSON(u)
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, struct {
		Users      []userJSON `json:"users"`
		NextCursor *string    `json:"next_cursor"`
	}{out, next})
	return nil
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Username    *string  `json:"username"`
		Password    *string  `json:"password"`
		Email       string   `json:"email"`
		FullName    string   `json:"full_name"`
		Role        string   `json:"role"`
		Permissions []string `json:"permissions"`
		Disabled    bool     `json:"disabled"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	switch {
	case body.Username == nil:
		return missing("username")
	case body.Password == nil:
		return missing("password")
	}
	u, err := s.auth.CreateUser(r.Context(), auth.NewUser{Username: *body.Username, Password: *body.Password,
		Email: body.Email, FullName: body.FullName, Role: gatehouse.Role(body.Role),
		Permissions: body.Permissions, Disabled: body.Disabled})
	if err != nil {
		return err // a taken name is the stores' 409 "Username already registered"
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusCreated, toUserJSON(u))
	return nil
}

// userFromPath returns the user the path's {id} names, or 404 for an id
// that names nothing, whatever its form (contract §2).
func (s *Server) userFromPath(r *http.Request) (*gatehouse.User, error) {
	id, ok := pathID(r)
	if !ok {
		return nil, errUserNotFound
	}
	u, err := s.auth.User(r.Context(), id)
	return u, notFoundAsUser(err)
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

// userPatch is PATCH /users/{id}'s body: every field optional. Role is a
// plain string here so that a wrong type is reported as "expected string".
type userPatch struct {
	Role        *string   `json:"role"`
	Permissions *[]string `json:"permissions"`
	Disabled    *bool     `json:"disabled"`
	Email       *string   `json:"email"`
	FullName    *string   `json:"full_name"`
	Password    *string   `json:"password"`
	TOTPEnabled *bool     `json:"totp_enabled"`
	TOTPCode    string    `json:"totp_code"` // with totp_enabled false on one's own account
}

func (p *userPatch) update() auth.UserUpdate {
	u := auth.UserUpdate{Permissions: p.Permissions, Disabled: p.Disabled, Email: p.Email, FullName: p.FullName,
		Password: p.Password, TOTPEnabled: p.TOTPEnabled, TOTPCode: p.TOTPCode}
	if p.Role != nil {
		u.Role = new(gatehouse.Role(*p.Role))
	}
	return u
}

// handleUpdateUser applies a PATCH: one call of the auth service, which
// validates every field before anything is written and makes the change
// in one transaction (see auth.Service.UpdateUser).
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) error {
	id, ok := pathID(r)
	if !ok {
		return errUserNotFound
	}
	var p userPatch
	if err := readJSON(r, &p); err != nil {
		return err
	}
	u, err := s.auth.UpdateUser(r.Context(), id, p.update())
	if err != nil {
		return notFoundAsUser(err)
	}
	httpsec.NoStore(w)
	httperror.JSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

// notFoundAsUser answers ENOTFOUND, whatever the store called it, as the
// user not found: the user vanished mid-request.
func notFoundAsUser(err error) error {
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return errUserNotFound
	}
	return err
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	id, ok := pathID(r)
	if !ok {
		return errUserNotFound
	}
	if err := s.auth.DeleteUser(r.Context(), id); err != nil {
		return notFoundAsUser(err)
	}
	httperror.JSON(w, http.StatusOK, map[string]string{"message": "User deleted"})
	return nil
}
