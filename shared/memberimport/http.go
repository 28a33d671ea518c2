package memberimport

import (
	"bytes"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"workbench/shared/auth"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
)

// HTTP serves the import and export routes, to admins only.
type HTTP struct {
	Service *Service
	Auth    *auth.Members
}

// Register adds the routes to r.
func (h *HTTP) Register(r *httpapi.Router) {
	r.Handle("POST /v1/admin/member-imports", h.Auth.RequireAdmin(h.start))
	r.Handle("GET /v1/admin/member-imports/template", h.Auth.RequireAdmin(h.template))
	r.Handle("GET /v1/admin/member-imports/{id}", h.Auth.RequireAdmin(h.status))
	r.Handle("GET /v1/admin/member-imports/{id}/errors", h.Auth.RequireAdmin(h.failures))
	r.Handle("GET /v1/admin/members/export", h.Auth.RequireAdmin(h.export))
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, httpapi.InvalidQuery(name, "%s must be true or false", name)
	}
	return b, nil
}

func (h *HTTP) start(w http.ResponseWriter, r *http.Request) error {
	var o Options
	var err error
	o.Mode = r.URL.Query().Get("mode")
	if o.CreateDepartments, err = boolParam(r, "createDepartments"); err != nil {
		return err
	}
	if o.Welcome, err = boolParam(r, "welcomeSms"); err != nil {
		return err
	}
	file, err := readFile(r)
	if err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	j, err := h.Service.Start(r.Context(), p.TenantID, p.TenantCode, p.MemberID, file, o)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/admin/member-imports/"+j.ID)
	httpapi.JSON(w, http.StatusAccepted, map[string]any{"id": j.ID, "state": j.State, "total": j.Total})
	return nil
}

var errTooLarge = errs.Invalidf("file", "file_too_large", "the file is larger than %d MiB", MaxFileBytes>>20)

// readFile reads the uploaded file: the body itself (text/csv, an XLSX
// media type or application/octet-stream), or the part "file" of a
// multipart/form-data body.
func readFile(r *http.Request) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, errs.Invalidf("Content-Type", "unsupported_media_type", "send the file as text/csv, as an XLSX file or as the field \"file\" of multipart/form-data")
	}
	switch mt {
	case "text/csv", "application/octet-stream", ContentType(FormatXLSX):
		return readAll(r.Body)
	case "multipart/form-data":
		if params["boundary"] == "" {
			return nil, errs.Invalidf("Content-Type", "unsupported_media_type", "multipart/form-data needs a boundary")
		}
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, errs.Invalidf("file", "invalid_multipart", "the multipart body could not be read")
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil, errs.Invalidf("file", "missing_file", "the form has no field \"file\"")
			}
			if err != nil {
				return nil, errs.Invalidf("file", "invalid_multipart", "the multipart body could not be read")
			}
			if part.FormName() == "file" {
				return readAll(part)
			}
		}
	}
	return nil, errs.Invalidf("Content-Type", "unsupported_media_type", "send the file as text/csv, as an XLSX file or as the field \"file\" of multipart/form-data")
}

func readAll(rd io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, MaxFileBytes+1))
	if err != nil {
		return nil, errs.Invalidf("file", "unreadable_body", "the file could not be read")
	}
	if len(b) > MaxFileBytes {
		return nil, errTooLarge
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errs.Invalidf("file", "empty_file", "the file is empty")
	}
	return b, nil
}

func (h *HTTP) status(w http.ResponseWriter, r *http.Request) error {
	st, err := h.Service.Status(r.Context(), auth.PrincipalOf(r.Context()).TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.JSON(w, http.StatusOK, st)
	return nil
}

func (h *HTTP) failures(w http.ResponseWriter, r *http.Request) error {
	var buf bytes.Buffer
	id := r.PathValue("id")
	if err := h.Service.WriteFailures(r.Context(), &buf, auth.PrincipalOf(r.Context()).TenantID, id); err != nil {
		return err
	}
	send(w, FormatCSV, "import-"+id+"-errors.csv", buf.Bytes())
	return nil
}

func (h *HTTP) template(w http.ResponseWriter, r *http.Request) error {
	format, err := CheckFormat(r.URL.Query().Get("format"))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := h.Service.WriteTemplate(r.Context(), &buf, auth.PrincipalOf(r.Context()).TenantID, format); err != nil {
		return err
	}
	send(w, format, "member-import-template."+format, buf.Bytes())
	return nil
}

func (h *HTTP) export(w http.ResponseWriter, r *http.Request) error {
	format, err := CheckFormat(r.URL.Query().Get("format"))
	if err != nil {
		return err
	}
	p := auth.PrincipalOf(r.Context())
	// Buffered: a failure half-way must still be a clean error answer, and
	// an HTTP API Lambda answers in one piece anyway.
	var buf bytes.Buffer
	n, err := h.Service.Export(r.Context(), &buf, p.TenantID, format)
	if err != nil {
		return err
	}
	slog.InfoContext(r.Context(), "members exported", "tenant", p.TenantID, "by", p.MemberID, "format", format, "members", n, "bytes", buf.Len())
	send(w, format, "members."+format, buf.Bytes())
	return nil
}

func send(w http.ResponseWriter, format, filename string, body []byte) {
	w.Header().Set("Content-Type", ContentType(format))
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // the status is sent: a client that went away cannot be told more
}
