package announce

import (
	"net/http"
	"strconv"

	"workbench/shared/auth"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
)

// HTTP serves /v1/announcements/...
type HTTP struct {
	Service *Service
	Members *auth.Members
}

// Register adds the routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("POST /v1/announcements", h.Members.RequireAdmin(h.publish))
	r.Handle("GET /v1/announcements", h.Members.Require(h.feed))
	r.Handle("GET /v1/announcements/{id}", h.Members.Require(h.get))
	r.Handle("PATCH /v1/announcements/{id}", h.Members.RequireAdmin(h.edit))
	r.Handle("PUT /v1/announcements/{id}/pin", h.Members.RequireAdmin(h.pin(true)))
	r.Handle("DELETE /v1/announcements/{id}/pin", h.Members.RequireAdmin(h.pin(false)))
	r.Handle("POST /v1/announcements/{id}/unpublish", h.Members.RequireAdmin(h.unpublish))
	r.Handle("POST /v1/announcements/{id}/read", h.Members.Require(h.read))
	r.Handle("GET /v1/announcements/{id}/reads", h.Members.RequireAdmin(h.reads))
}

func (h *HTTP) publish(w http.ResponseWriter, r *http.Request) error {
	var in Input
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	a, err := h.Service.Publish(r.Context(), p.TenantID, p.MemberID, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, a)
	return nil
}

func (h *HTTP) feed(w http.ResponseWriter, r *http.Request) error {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errs.Invalidf("limit", "invalid_limit", "limit must be 1 to 100")
		}
		limit = n
	}
	p := auth.PrincipalOf(r.Context())
	var list []*Announcement
	var next string
	var err error
	switch scope := r.URL.Query().Get("scope"); scope {
	case "", "feed":
		list, next, err = h.Service.Feed(r.Context(), p.TenantID, p.MemberID, p.DepartmentIDs, r.URL.Query().Get("cursor"), limit)
	case "all":
		if !p.IsAdmin() {
			return errs.E(errs.Forbidden, "admin_only", "only an admin of the tenant may list every announcement")
		}
		list, next, err = h.Service.All(r.Context(), p.TenantID, r.URL.Query().Get("cursor"), limit)
	default:
		return errs.Invalidf("scope", "invalid_scope", "scope must be feed or all")
	}
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[*Announcement]{Items: list, NextCursor: next})
	return nil
}

func (h *HTTP) get(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	a, err := h.Service.Get(r.Context(), p.TenantID, p.MemberID, p.DepartmentIDs, p.IsAdmin(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, a)
	return nil
}

func (h *HTTP) edit(w http.ResponseWriter, r *http.Request) error {
	var in Input
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	a, err := h.Service.Edit(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, a)
	return nil
}

func (h *HTTP) pin(pinned bool) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := h.Service.Pin(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"), pinned)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, a)
		return nil
	}
}

func (h *HTTP) unpublish(w http.ResponseWriter, r *http.Request) error {
	a, err := h.Service.Unpublish(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, a)
	return nil
}

func (h *HTTP) read(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	if err := h.Service.MarkRead(r.Context(), p.TenantID, p.MemberID, p.DepartmentIDs, r.PathValue("id")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) reads(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.Service.Reads(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, rep)
	return nil
}
