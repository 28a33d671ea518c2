package tenant

import (
	"net/http"

	"workbench/shared/auth"
	"workbench/shared/httpapi"
)

// HTTP serves the operator's tenant routes.
type HTTP struct {
	Service  *Service
	Operator *auth.Operator
}

// Register adds the routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("POST /v1/platform/tenants", h.create)
	r.Handle("GET /v1/platform/tenants/{code}", h.get)
}

func (h *HTTP) create(w http.ResponseWriter, r *http.Request) error {
	if err := h.Operator.Check(r); err != nil {
		return err
	}
	var in CreateInput
	if err := httpapi.Decode(r, &in); err != nil {
		return err
	}
	out, err := h.Service.Create(r.Context(), in)
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusCreated, out)
	return nil
}

func (h *HTTP) get(w http.ResponseWriter, r *http.Request) error {
	if err := h.Operator.Check(r); err != nil {
		return err
	}
	t, err := h.Service.Get(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, t)
	return nil
}
