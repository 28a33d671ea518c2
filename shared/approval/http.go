package approval

import (
	"context"
	"net/http"
	"strconv"

	"workbench/shared/auth"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
)

// HTTP serves /v1/approvals/...
type HTTP struct {
	Service *Service
	Members *auth.Members
}

// Register adds the routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("GET /v1/approvals/chains/{form}", h.Members.Require(h.getChain))
	r.Handle("PUT /v1/approvals/chains/{form}", h.Members.RequireAdmin(h.putChain))
	r.Handle("POST /v1/approvals", h.Members.Require(h.submit))
	r.Handle("GET /v1/approvals/todo", h.Members.Require(h.list(h.Service.Store.ListTodo)))
	r.Handle("GET /v1/approvals/submitted", h.Members.Require(h.list(h.Service.Store.ListSubmitted)))
	r.Handle("GET /v1/approvals/cc", h.Members.Require(h.list(h.Service.Store.ListCC)))
	r.Handle("GET /v1/approvals/{id}", h.Members.Require(h.get))
	r.Handle("POST /v1/approvals/{id}/approve", h.Members.Require(h.decide(h.Service.Approve)))
	r.Handle("POST /v1/approvals/{id}/reject", h.Members.Require(h.decide(h.Service.Reject)))
	r.Handle("POST /v1/approvals/{id}/withdraw", h.Members.Require(h.withdraw))
}

func (h *HTTP) getChain(w http.ResponseWriter, r *http.Request) error {
	c, err := h.Service.GetChain(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("form"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, c)
	return nil
}

func (h *HTTP) putChain(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Approvers []Approver `json:"approvers"`
		CC        []string   `json:"cc"`
	}
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	c, err := h.Service.PutChain(r.Context(), auth.PrincipalOf(r.Context()).TenantID,
		Chain{Form: r.PathValue("form"), Approvers: in.Approvers, CC: in.CC})
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, c)
	return nil
}

func (h *HTTP) submit(w http.ResponseWriter, r *http.Request) error {
	var in SubmitInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	a, err := h.Service.Submit(r.Context(), p.TenantID, p.MemberID, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, a)
	return nil
}

type lister func(ctx context.Context, tenantID, memberID, cursor string, limit int) ([]Summary, string, error)

func (h *HTTP) list(f lister) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		limit, err := limitOf(r)
		if err != nil {
			return err
		}
		p := auth.PrincipalOf(r.Context())
		items, next, err := f(r.Context(), p.TenantID, p.MemberID, r.URL.Query().Get("cursor"), limit)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, httpapi.Page[Summary]{Items: items, NextCursor: next})
		return nil
	}
}

func (h *HTTP) get(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	a, err := h.Service.Get(r.Context(), p.TenantID, p.MemberID, p.IsAdmin(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, a)
	return nil
}

func (h *HTTP) decide(f func(ctx context.Context, tenantID, memberID, id string, d Decision) (*Approval, error)) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var d Decision
		if r.ContentLength != 0 {
			if err := httpapi.Decode(r, &d); err != nil {
				return err
			}
		}
		p := auth.PrincipalOf(r.Context())
		a, err := f(r.Context(), p.TenantID, p.MemberID, r.PathValue("id"), d)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, a)
		return nil
	}
}

func (h *HTTP) withdraw(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	a, err := h.Service.Withdraw(r.Context(), p.TenantID, p.MemberID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, a)
	return nil
}

// limitOf reads ?limit= (1–100, default 20).
func limitOf(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 20, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 100 {
		return 0, errs.Invalidf("limit", "invalid_limit", "limit must be 1 to 100")
	}
	return n, nil
}
