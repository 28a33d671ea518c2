package identity

import (
	"net/http"

	"workbench/shared/auth"
	"workbench/shared/httpapi"
)

// CodesHTTP serves POST /v1/auth/sms-codes.
type CodesHTTP struct {
	Codes *Codes
}

// Register adds the route to r.
func (h *CodesHTTP) Register(r *httpapi.Router) {
	r.Handle("POST /v1/auth/sms-codes", h.request)
}

func (h *CodesHTTP) request(w http.ResponseWriter, r *http.Request) error {
	var in CodeRequest
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	if err := h.Codes.Request(r.Context(), in); err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusAccepted, map[string]any{"status": "accepted", "expiresIn": int(CodeTTL.Seconds()), "resendAfter": int(CodeCooldown.Seconds())})
	return nil
}

// HTTP serves the login, session, password and login-log routes.
type HTTP struct {
	Service *Service
	Members *auth.Members
}

// Register adds the routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("POST /v1/auth/login", h.login)
	r.Handle("POST /v1/auth/refresh", h.refresh)
	r.Handle("POST /v1/auth/logout", h.Members.RequireInRetention(h.logout))
	r.Handle("GET /v1/me", h.Members.Require(h.me))
	r.Handle("PUT /v1/me/password", h.Members.RequireInRetention(h.setPassword))
	r.Handle("POST /v1/admin/members/{id}/password-reset", h.Members.RequireAdmin(h.reset))
	r.Handle("GET /v1/admin/login-logs", h.Members.RequireAdmin(h.logs))
}

func (h *HTTP) login(w http.ResponseWriter, r *http.Request) error {
	var in LoginInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.Login(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.JSON(w, http.StatusOK, out)
	return nil
}

func (h *HTTP) refresh(w http.ResponseWriter, r *http.Request) error {
	var in RefreshInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.Refresh(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.JSON(w, http.StatusOK, out)
	return nil
}

func (h *HTTP) logout(w http.ResponseWriter, r *http.Request) error {
	if err := h.Service.Logout(r.Context(), auth.PrincipalOf(r.Context())); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) me(w http.ResponseWriter, r *http.Request) error {
	me, err := h.Service.Me(r.Context(), auth.PrincipalOf(r.Context()))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, me)
	return nil
}

func (h *HTTP) setPassword(w http.ResponseWriter, r *http.Request) error {
	var in SetPasswordInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	if err := h.Service.SetPassword(r.Context(), auth.PrincipalOf(r.Context()), in); err != nil {
		return err
	}
	httpapi.NoContent(w)
	return nil
}

func (h *HTTP) reset(w http.ResponseWriter, r *http.Request) error {
	var in ResetInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.ResetPassword(r.Context(), auth.PrincipalOf(r.Context()), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusAccepted, out)
	return nil
}

func (h *HTTP) logs(w http.ResponseWriter, r *http.Request) error {
	f, err := ParseLogFilter(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := h.Service.Logs(r.Context(), auth.PrincipalOf(r.Context()).TenantID, f)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, page)
	return nil
}
