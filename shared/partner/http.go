package partner

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"workbench/shared/auth"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
)

// Guard authenticates a tenant's admins (auth.Members in production).
type Guard interface {
	RequireAdmin(h httpapi.HandlerFunc) httpapi.HandlerFunc
}

// HTTP serves the partner routes of API.md.
type HTTP struct {
	Service  *Service
	Operator *auth.Operator
	Admins   Guard
	// Marketplace verifies marketplace callbacks; without it the route is
	// not served.
	Marketplace *Verifier
}

// Register adds the routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	if h.Operator != nil {
		r.Handle("POST /v1/platform/partners", h.createPartner)
	}
	r.Handle("POST /v1/partner/apps", h.registerApp)
	r.Handle("GET /v1/partner/apps/{appId}/tenants/{tenantId}/sync-logs", h.partnerSyncLogs)
	if h.Admins != nil {
		r.Handle("GET /v1/admin/apps", h.Admins.RequireAdmin(h.listApps))
		r.Handle("POST /v1/admin/apps/{appId}/binding", h.Admins.RequireAdmin(h.bind))
		r.Handle("DELETE /v1/admin/apps/{appId}/binding", h.Admins.RequireAdmin(h.unbind))
		r.Handle("PUT /v1/admin/apps/{appId}/visibility", h.Admins.RequireAdmin(h.visibility))
		r.Handle("PUT /v1/admin/apps/{appId}/extension", h.Admins.RequireAdmin(h.extension))
		r.Handle("GET /v1/admin/apps/{appId}/sync-logs", h.Admins.RequireAdmin(h.syncLogs))
		r.Handle("POST /v1/admin/apps/{appId}/sync-logs/{id}/retry", h.Admins.RequireAdmin(h.retry))
	}
	if h.Marketplace != nil {
		r.Handle("POST /v1/marketplace/instances", h.instances)
	}
}

// IdempotencyScope scopes the Idempotency-Key of a request carrying a
// partner key to that partner and key ("" for any other request): the key's
// hash is part of it, so only the same key ever gets a stored answer back,
// and the route authenticates the key itself before writing anything.
func IdempotencyScope(r *http.Request) string {
	key := auth.BearerToken(r)
	id, ok := partnerIDOf(key)
	if !ok {
		return ""
	}
	return "partner/" + id + "/" + hashKey(key)
}

func (h *HTTP) createPartner(w http.ResponseWriter, r *http.Request) error {
	if err := h.Operator.Check(r); err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.CreatePartner(r.Context(), in.Name)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, out)
	return nil
}

func (h *HTTP) registerApp(w http.ResponseWriter, r *http.Request) error {
	p, err := h.Service.AuthenticatePartner(r.Context(), auth.BearerToken(r))
	if err != nil {
		return err
	}
	var in RegisterInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.RegisterApp(r.Context(), p, in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, out)
	return nil
}

// partnerSyncLogs shows a partner the sync log of one of its apps' bindings
// (the tenant id comes in every call it receives).
func (h *HTTP) partnerSyncLogs(w http.ResponseWriter, r *http.Request) error {
	p, err := h.Service.AuthenticatePartner(r.Context(), auth.BearerToken(r))
	if err != nil {
		return err
	}
	app, err := h.Service.Store.GetApp(r.Context(), r.PathValue("appId"))
	if errs.KindOf(err) == errs.NotFound || err == nil && app.PartnerID != p.ID {
		return errs.NotFoundf("app_not_found", "no such app of this partner")
	}
	if err != nil {
		return err
	}
	r.SetPathValue("appId", app.ID)
	return h.logs(w, r, r.PathValue("tenantId"))
}

func (h *HTTP) listApps(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	apps, err := h.Service.ListApps(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	for i := range apps {
		if apps[i].Binding != nil {
			v := apps[i].Binding.view(h.Service.Now())
			apps[i].Binding = &v
		}
	}
	httpapi.JSON(w, http.StatusOK, httpapi.Page[AppView]{Items: apps})
	return nil
}

func (h *HTTP) bind(w http.ResponseWriter, r *http.Request) error {
	p := auth.PrincipalOf(r.Context())
	b, err := h.Service.Bind(r.Context(), p.TenantID, p.TenantCode, r.PathValue("appId"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, b)
	return nil
}

func (h *HTTP) unbind(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Unbind(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("appId")); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) visibility(w http.ResponseWriter, r *http.Request) error {
	var in Scope
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.SetVisibility(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("appId"), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, out)
	return nil
}

func (h *HTTP) extension(w http.ResponseWriter, r *http.Request) error {
	var in ExtensionInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.SetExtension(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("appId"), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, out)
	return nil
}

func (h *HTTP) syncLogs(w http.ResponseWriter, r *http.Request) error {
	return h.logs(w, r, auth.PrincipalOf(r.Context()).TenantID)
}

func (h *HTTP) logs(w http.ResponseWriter, r *http.Request, tenantID string) error {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errs.Invalidf("limit", "invalid_limit", "limit must be 1 to 100")
		}
		limit = n
	}
	page, err := h.Service.SyncLogs(r.Context(), tenantID, r.PathValue("appId"), q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, page)
	return nil
}

func (h *HTTP) retry(w http.ResponseWriter, r *http.Request) error {
	e, err := h.Service.Resend(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("appId"), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusAccepted, e)
	return nil
}

// decodeInstance reads a marketplace callback. The marketplace's protocol
// is not ours to close: fields we do not use are ignored rather than
// refused; the ones we use are decoded by the one JSON decoder.
func decodeInstance(raw []byte) (InstanceInput, error) {
	var all map[string]json.RawMessage
	if err := httpapi.DecodeBytes(raw, &all); err != nil {
		return InstanceInput{}, err
	}
	known := map[string]json.RawMessage{}
	for _, k := range []string{"activity", "orderId", "instanceId", "appId", "tenantCode", "expireTime", "testFlag", "timeStamp"} {
		// A null is the marketplace saying "none": absent, as for a field
		// it leaves out (the decoder refuses null for a string).
		if v, ok := all[k]; ok && string(bytes.TrimSpace(v)) != "null" {
			known[k] = v
		}
	}
	b, _ := json.Marshal(known)
	var in InstanceInput
	err := httpapi.DecodeBytes(b, &in)
	return in, err
}

// resultCodes maps our error kinds to the protocol's result codes.
func resultCode(k errs.Kind) string {
	switch k {
	case errs.Unauthenticated:
		return "000001"
	case errs.Invalid, errs.Conflict:
		return "000002"
	case errs.NotFound:
		return "000003"
	}
	return "000005"
}

// instances serves marketplace callbacks. Answers carry the protocol's
// resultCode body; errors carry our error object beside it.
func (h *HTTP) instances(w http.ResponseWriter, r *http.Request) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil {
		return errs.Invalidf("", "unreadable_body", "the request body could not be read")
	}
	fail := func(err error) error {
		e := errs.As(err)
		if e.Kind == errs.Internal {
			slog.ErrorContext(r.Context(), "marketplace callback", "error", err)
		}
		msg := e.Message
		if e.Kind == errs.Internal {
			msg = "internal error"
		}
		detail := map[string]string{"code": e.Code, "message": msg}
		if e.Field != "" {
			detail["field"] = e.Field
		}
		httpapi.JSON(w, httpapi.StatusOf(e), map[string]any{
			"resultCode": resultCode(e.Kind), "resultMsg": msg, "error": detail,
		})
		return nil
	}
	if err := h.Marketplace.Verify(r.Context(), r.Header, raw); err != nil {
		return fail(err)
	}
	in, err := decodeInstance(raw)
	if err != nil {
		return fail(err)
	}
	out, err := h.Service.Instance(r.Context(), in)
	if err != nil {
		return fail(err)
	}
	httpapi.JSON(w, http.StatusOK, out)
	return nil
}
