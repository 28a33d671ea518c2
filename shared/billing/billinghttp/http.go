// Package billinghttp serves the subscription routes: the operator's
// PUT /v1/platform/tenants/{code}/subscription and the admins' subscription
// and expiry notice settings. It is apart from package billing because it
// needs package auth, which itself calls billing on every request.
package billinghttp

import (
	"net/http"

	"workbench/shared/auth"
	"workbench/shared/billing"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/tenant"
)

// HTTP serves the routes.
type HTTP struct {
	Service  *billing.Service
	Operator *auth.Operator
	Members  *auth.Members
}

// Register adds the routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("PUT /v1/platform/tenants/{code}/subscription", h.set)
	r.Handle("GET /v1/admin/subscription", h.Members.RequireAdmin(h.get))
	r.Handle("GET /v1/admin/expiry-notice-settings", h.Members.RequireAdmin(h.settings))
	r.Handle("PUT /v1/admin/expiry-notice-settings", h.Members.RequireAdmin(h.saveSettings))
}

func (h *HTTP) set(w http.ResponseWriter, r *http.Request) error {
	if err := h.Operator.Check(r); err != nil {
		return err
	}
	code, err := tenant.NormalizeCode("code", r.PathValue("code"))
	if err != nil {
		return errs.NotFoundf("tenant_not_found", "no tenant with this code")
	}
	var in billing.SetInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	v, err := h.Service.Set(r.Context(), code, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, v)
	return nil
}

func (h *HTTP) get(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	v, err := h.Service.Get(r.Context(), p.TenantID, p.TenantCode)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, v)
	return nil
}

func (h *HTTP) settings(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	st, err := h.Service.Settings(r.Context(), p.TenantID, p.TenantCode)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, st)
	return nil
}

func (h *HTTP) saveSettings(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	var in billing.Settings
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	st, err := h.Service.SaveSettings(r.Context(), p.TenantID, p.TenantCode, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, st)
	return nil
}
