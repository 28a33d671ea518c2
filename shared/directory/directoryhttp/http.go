// Package directoryhttp serves the directory over HTTP: member CRUD (the
// members function) and departments, custom fields, invitations,
// self-registration and frequent contacts (the directory function).
package directoryhttp

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
)

// MembersHTTP serves member CRUD (the members function).
type MembersHTTP struct {
	Service *directory.Service
	Auth    *auth.Members
}

// Register adds the member routes to r.
func (h *MembersHTTP) Register(r *httpapi.Router) {
	r.Handle("POST /v1/admin/members", h.Auth.RequireAdmin(h.create))
	r.Handle("GET /v1/members", h.Auth.Require(h.list))
	r.Handle("GET /v1/members/{id}", h.Auth.Require(h.get))
	r.Handle("PATCH /v1/admin/members/{id}", h.Auth.RequireAdmin(h.update))
	r.Handle("PUT /v1/admin/members/{id}/status", h.Auth.RequireAdmin(h.status))
	r.Handle("DELETE /v1/admin/members/{id}", h.Auth.RequireAdmin(h.delete))
}

func (h *MembersHTTP) create(w http.ResponseWriter, r *http.Request) error {
	var in directory.MemberInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	m, err := h.Service.CreateMember(r.Context(), p.TenantID, p.TenantCode, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, m)
	return nil
}

// pageLimit reads the limit parameter: 1–100, 50 when absent.
func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > directory.MaxPage {
		return 0, httpapi.InvalidQuery("limit", "limit must be 1–%d", directory.MaxPage)
	}
	return n, nil
}

func (h *MembersHTTP) list(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	query := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	// An empty q (a cleared search box) lists.
	if strings.TrimSpace(query.Get("q")) != "" {
		matches, next, err := h.Service.Search(r.Context(), p.TenantID, query.Get("q"), query.Get("cursor"), limit)
		if err != nil {
			return err
		}
		page := httpapi.Page[directory.Member]{Items: make([]directory.Member, 0, len(matches)), NextCursor: next}
		for _, m := range matches {
			if d := query.Get("department"); d == "" || slices.Contains(m.Member.DepartmentIDs, d) {
				page.Items = append(page.Items, m.Member)
			}
		}
		httpapi.JSON(w, http.StatusOK, page)
		return nil
	}
	members, next, err := h.Service.ListMembers(r.Context(), p.TenantID, query.Get("department"), query.Get("cursor"), limit)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[directory.Member]{Items: members, NextCursor: next})
	return nil
}

func (h *MembersHTTP) get(w http.ResponseWriter, r *http.Request) error {
	m, err := h.Service.Member(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, m)
	return nil
}

func (h *MembersHTTP) update(w http.ResponseWriter, r *http.Request) error {
	var in directory.MemberPatch
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	m, err := h.Service.UpdateMember(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, m)
	return nil
}

func (h *MembersHTTP) status(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return errs.Invalidf("enabled", "invalid_enabled", "enabled (true or false) is required")
	}
	m, err := h.Service.SetEnabled(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"), *in.Enabled)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, m)
	return nil
}

func (h *MembersHTTP) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.DeleteMember(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

// HTTP serves departments, custom fields, invitations, self-registration
// and frequent contacts (the directory function).
type HTTP struct {
	Service  *directory.Service
	Contacts *directory.Contacts
	Auth     *auth.Members
}

// Register adds the directory routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("GET /v1/admin/directory-fields", h.Auth.RequireAdmin(h.getFields))
	r.Handle("PUT /v1/admin/directory-fields", h.Auth.RequireAdmin(h.putFields))
	r.Handle("POST /v1/admin/departments", h.Auth.RequireAdmin(h.createDepartment))
	r.Handle("GET /v1/departments", h.Auth.Require(h.departments))
	r.Handle("PATCH /v1/admin/departments/{id}", h.Auth.RequireAdmin(h.updateDepartment))
	r.Handle("DELETE /v1/admin/departments/{id}", h.Auth.RequireAdmin(h.deleteDepartment))
	r.Handle("POST /v1/admin/invitations", h.Auth.RequireAdmin(h.createInvitation))
	r.Handle("POST /v1/register", h.register)
	r.Handle("GET /v1/me/frequent-contacts", h.Auth.Require(h.frequent))
	r.Handle("PUT /v1/me/frequent-contacts/{memberId}", h.Auth.Require(h.addFrequent))
	r.Handle("DELETE /v1/me/frequent-contacts/{memberId}", h.Auth.Require(h.removeFrequent))
}

type fieldList struct {
	Items []directory.Field `json:"items"`
}

func (h *HTTP) getFields(w http.ResponseWriter, r *http.Request) error {
	f, err := h.Service.Fields(r.Context(), auth.PrincipalOf(r.Context()).TenantID)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, fieldList{Items: f})
	return nil
}

// putFields takes the definitions as a JSON array, or as {"items":[...]}
// (the shape GET returns) or {"fields":[...]}.
func (h *HTTP) putFields(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodyBytes+1))
	if err != nil {
		return errs.Invalidf("", "unreadable_body", "the request body could not be read")
	}
	// The definitions replace the tenant's whole set, so the list must be
	// given explicitly: a bare array, or {"items":[...]} (or "fields");
	// "{}" or null must not read as "delete every field".
	var in []directory.Field
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		if err := httpapi.DecodeBytes(body, &in); err != nil {
			// Name fields as the {"items":[...]} form does: items[1].bogus.
			if e := errs.As(err); strings.HasPrefix(e.Field, "[") {
				return errs.Invalidf("items"+e.Field, e.Code, "%s", strings.Replace(e.Message, e.Field, "items"+e.Field, 1))
			}
			return err
		}
	} else {
		var obj struct {
			Items  *[]directory.Field `json:"items"`
			Fields *[]directory.Field `json:"fields"`
		}
		if err := httpapi.DecodeBytes(body, &obj); err != nil {
			return err
		}
		switch {
		case obj.Items != nil && obj.Fields != nil:
			return errs.Invalidf("items", "ambiguous_fields", "give the definitions once, as items")
		case obj.Items != nil:
			in = *obj.Items
		case obj.Fields != nil:
			in = *obj.Fields
		default:
			return errs.Invalidf("items", "field_required", "the field definitions are required: a JSON array, or {\"items\":[...]} ([] deletes them all)")
		}
	}
	f, err := h.Service.PutFields(r.Context(), auth.PrincipalOf(r.Context()).TenantID, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, fieldList{Items: f})
	return nil
}

func (h *HTTP) createDepartment(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name     string `json:"name"`
		ParentID string `json:"parentId"`
	}
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	d, err := h.Service.CreateDepartment(r.Context(), auth.PrincipalOf(r.Context()).TenantID, in.Name, in.ParentID)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, d)
	return nil
}

func (h *HTTP) departments(w http.ResponseWriter, r *http.Request) error {
	tree, err := h.Service.DepartmentTree(r.Context(), auth.PrincipalOf(r.Context()).TenantID)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[*directory.Department]{Items: tree})
	return nil
}

func (h *HTTP) updateDepartment(w http.ResponseWriter, r *http.Request) error {
	var in directory.DepartmentPatch
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	d, err := h.Service.UpdateDepartment(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, d)
	return nil
}

func (h *HTTP) deleteDepartment(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.DeleteDepartment(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) createInvitation(w http.ResponseWriter, r *http.Request) error {
	var in directory.InvitationInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	inv, err := h.Service.CreateInvitation(r.Context(), p.TenantID, p.TenantCode, p.MemberID, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, inv)
	return nil
}

func (h *HTTP) register(w http.ResponseWriter, r *http.Request) error {
	var in directory.RegisterInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.Register(r.Context(), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, out)
	return nil
}

func (h *HTTP) frequent(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	list, err := h.Contacts.List(r.Context(), p.TenantID, p.MemberID)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[directory.Contact]{Items: list})
	return nil
}

func (h *HTTP) addFrequent(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	if err := h.Contacts.Add(r.Context(), p.TenantID, p.MemberID, r.PathValue("memberId")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) removeFrequent(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	if err := h.Contacts.Remove(r.Context(), p.TenantID, p.MemberID, r.PathValue("memberId")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}
