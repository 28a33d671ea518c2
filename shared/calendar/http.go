package calendar

import (
	"net/http"
	"strconv"

	"workbench/shared/auth"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
)

// HTTP serves /v1/calendar/...
type HTTP struct {
	Service *Service
	Members *auth.Members
}

// Register adds the routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("POST /v1/calendar", h.Members.Require(h.create))
	r.Handle("GET /v1/calendar", h.Members.Require(h.list))
	r.Handle("GET /v1/calendar/freebusy", h.Members.Require(h.freeBusy))
	r.Handle("GET /v1/calendar/{id}", h.Members.Require(h.get))
	r.Handle("DELETE /v1/calendar/{id}", h.Members.Require(h.delete))
	r.Handle("POST /v1/calendar/{id}/response", h.Members.Require(h.respond))
	r.Handle("POST /v1/calendar/{id}/confirm", h.Members.Require(h.confirm))
	r.Handle("PUT /v1/calendar/{id}/exceptions", h.Members.Require(h.exception))
}

func (h *HTTP) create(w http.ResponseWriter, r *http.Request) error {
	var in Input
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	out, err := h.Service.Create(r.Context(), p.TenantID, p.MemberID, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, out)
	return nil
}

func (h *HTTP) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, to, err := ParseRange(q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return errs.Invalidf("limit", "invalid_limit", "limit must be 1 to 500")
		}
		limit = n
	}
	p := auth.PrincipalOf(r.Context())
	items, next, err := h.Service.List(r.Context(), p.TenantID, p.MemberID, from, to, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[Item]{Items: items, NextCursor: next})
	return nil
}

func (h *HTTP) freeBusy(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, to, err := ParseRange(q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	out, err := h.Service.FreeBusy(r.Context(), auth.PrincipalOf(r.Context()).TenantID, SplitMembers(q.Get("members")), from, to)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

func (h *HTTP) get(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	e, err := h.Service.Get(r.Context(), p.TenantID, p.MemberID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, e)
	return nil
}

func (h *HTTP) delete(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	if err := h.Service.Delete(r.Context(), p.TenantID, p.MemberID, r.PathValue("id")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) respond(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Response string `json:"response"`
	}
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	e, err := h.Service.Respond(r.Context(), p.TenantID, p.MemberID, r.PathValue("id"), in.Response)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, e)
	return nil
}

func (h *HTTP) confirm(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	e, err := h.Service.Confirm(r.Context(), p.TenantID, p.MemberID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, e)
	return nil
}

func (h *HTTP) exception(w http.ResponseWriter, r *http.Request) error {
	var in ExceptionInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	e, err := h.Service.SetException(r.Context(), p.TenantID, p.MemberID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, e)
	return nil
}
