package httpapi

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/httperror"
	"github.com/microcosm-cc/bluemonday"
)

// Limits on the guide's example resources.
const (
	maxItemName        = 200
	maxItemDescription = 5000
	maxItemsListed     = 1000
)

// routesExamples registers the guide's example resources (contract §7).
func (s *Server) routesExamples() {
	s.handle("GET /items", s.guard.Require(guard.Scopes(gatehouse.ScopeReadItems))(s.wrap(s.handleListItems)))
	s.handle("POST /items", s.guard.Require(guard.Scopes(gatehouse.ScopeWriteItems))(s.wrap(s.handleCreateItem)))
	s.handle("POST /moderate", s.guard.Require(guard.MinRole(gatehouse.RoleModerator))(s.wrap(s.handleModerate)))
	// Open to all, as in the guide: it stores nothing and only sanitises.
	s.handle("POST /comments", s.wrap(commentHandler(bluemonday.StrictPolicy())))
}

// itemJSON is an item as the API shows it.
type itemJSON struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	Price       *float64  `json:"price"`
	OwnerID     int64     `json:"owner_id"`
	CreatedAt   time.Time `json:"created_at"`
}

func toItemJSON(it *gatehouse.Item) itemJSON {
	return itemJSON{ID: it.ID, Name: it.Name, Description: nullable(it.Description), Price: it.Price,
		OwnerID: it.OwnerID, CreatedAt: it.CreatedAt.UTC().Truncate(time.Second)}
}

// handleListItems lists the caller's own items, oldest first.
func (s *Server) handleListItems(w http.ResponseWriter, r *http.Request) error {
	items, err := s.store.ItemsByOwner(r.Context(), principal(r).User.ID, maxItemsListed)
	if err != nil {
		return err
	}
	out := make([]itemJSON, len(items))
	for i, it := range items {
		out[i] = toItemJSON(it)
	}
	httperror.JSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

func (s *Server) handleCreateItem(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name        *string  `json:"name"`
		Description *string  `json:"description"`
		Price       *float64 `json:"price"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.Name == nil {
		return missing("name")
	}
	it := &gatehouse.Item{OwnerID: principal(r).User.ID, Name: *body.Name, Price: body.Price}
	if body.Description != nil {
		it.Description = *body.Description
	}
	switch {
	case strings.TrimSpace(it.Name) == "" || utf8.RuneCountInString(it.Name) > maxItemName:
		return gatehouse.Invalid([]string{"body", "name"}, "Must be 1 to 200 characters", "value_error")
	case utf8.RuneCountInString(it.Description) > maxItemDescription:
		return gatehouse.Invalid([]string{"body", "description"}, "Must be at most 5000 characters", "value_error")
	}
	if err := s.store.CreateItem(r.Context(), it); err != nil {
		return err
	}
	httperror.JSON(w, http.StatusOK, map[string]any{"item": toItemJSON(it)})
	return nil
}

func (s *Server) handleModerate(w http.ResponseWriter, r *http.Request) error {
	httperror.JSON(w, http.StatusOK, map[string]string{"message": "Content moderated"})
	return nil
}

// commentHandler answers POST /comments with the content sanitised by
// bluemonday's strict policy: no element or attribute survives, and the
// contents of script and style go with their elements.
//
// The result stays HTML-escaped ("&" → "&amp;", "<" → "&lt;"), as the
// guide's bleach.clean returns it, and is not unescaped: the output is
// meant to be put into a page, and unescaping would turn text such as
// "&lt;script&gt;" back into a live element.
func commentHandler(policy *bluemonday.Policy) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var body struct {
			Content *string `json:"content"`
		}
		if err := readJSON(r, &body); err != nil {
			return err
		}
		if body.Content == nil {
			return missing("content")
		}
		httperror.JSON(w, http.StatusOK, map[string]string{"content": policy.Sanitize(*body.Content)})
		return nil
	}
}
