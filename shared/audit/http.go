package audit

import (
	"net/http"

	"workbench/shared/httpapi"
)

// Admins wraps the routes for admins only and tells which tenant a request
// is for.
type Admins interface {
	RequireAdmin(h httpapi.HandlerFunc) httpapi.HandlerFunc
}

// HTTP serves the audit log to a tenant's admins.
type HTTP struct {
	Log    *Log
	Admins Admins
}

// DefaultPage and MaxPage bound a page of the list.
const (
	DefaultPage = 50
	MaxPage     = 100
)

// Register adds the audit routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("GET /v1/admin/audit-log", h.Admins.RequireAdmin(h.list))
	r.Handle("GET /v1/admin/audit-log/verify", h.Admins.RequireAdmin(h.verify))
}

func (h *HTTP) list(w http.ResponseWriter, r *http.Request) error {
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	actor, _ := ActorOf(r.Context())
	items, next, err := h.Log.List(r.Context(), actor.TenantID, f)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[Entry]{Items: items, NextCursor: next})
	return nil
}

func (h *HTTP) verify(w http.ResponseWriter, r *http.Request) error {
	actor, _ := ActorOf(r.Context())
	rep, err := h.Log.Verify(r.Context(), actor.TenantID)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, rep)
	return nil
}

// ParseFilter reads the list's query: actor, action, target, from, to
// (RFC 3339), cursor and limit (1–100).
func ParseFilter(q map[string][]string) (Filter, error) {
	get := func(k string) string { return httpapi.QueryValue(q, k) }
	f := Filter{Actor: get("actor"), Action: get("action"), Target: get("target"), Cursor: get("cursor")}
	var err error
	if f.From, f.To, err = httpapi.Period(q); err != nil {
		return f, err
	}
	f.Limit, err = httpapi.Limit(q, DefaultPage, MaxPage)
	return f, err
}
