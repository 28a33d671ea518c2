package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"workbench/shared/errs"
)

type errorResponse struct {
	Error struct {
		Code, Message, Field string
	}
}

func serve(t *testing.T, h http.Handler, method, path, body string) (*httptest.ResponseRecorder, errorResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	Serve(h).ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	var e errorResponse
	if rec.Code >= 400 {
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			t.Fatalf("error body is not JSON: %q", rec.Body.String())
		}
	}
	return rec, e
}

func TestDecode(t *testing.T) {
	type admin struct {
		Name string `json:"name"`
	}
	type item struct {
		Name string `json:"name"`
	}
	type input struct {
		Items  []item            `json:"items"`
		Labels map[string]string `json:"labels"`
		Code   string            `json:"code"`
		Count  int               `json:"count"`
		Tags   []string          `json:"tags"`
		Admin  admin             `json:"admin"`
		Boss   *admin            `json:"boss"`
		On     bool              `json:"on"`
		Parent *string           `json:"parent"`
		Fields map[string]any    `json:"fields"`
		Ext    json.RawMessage   `json:"ext"`
		IDs    []string          `json:"ids"`
	}
	tests := []struct {
		body, code, field string
	}{
		{`{"code":"x","count":1}`, "", ""},
		{``, "empty_body", ""},
		{`{"code":`, "malformed_json", ""},
		{`{"code":"x"} {"code":"y"}`, "malformed_json", ""},
		{`[1,2]`, "malformed_json", ""},
		{`{"code":1}`, "wrong_type", "code"},
		{`{"count":"1"}`, "wrong_type", "count"},
		{`{"tags":"a"}`, "wrong_type", "tags"},
		{`{"admin":{"name":5}}`, "wrong_type", "admin.name"},
		{`{"code":"x","extra":true}`, "unknown_field", "extra"},
		{`{"admin":{"nick":"x"}}`, "unknown_field", "admin.nick"},
		{`{"items":[{"name":"a"},{"name":"b","bogus":1}]}`, "unknown_field", "items[1].bogus"},
		{`{"labels":{"k":"v"},"extra":1}`, "unknown_field", "extra"},
		{`{"code":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "body_too_large", ""},
		// Text no field may hold, wherever it is.
		{`{"code":"会\u0000议"}`, "invalid_text", "code"},
		{`{"code":"会议\u202e反转"}`, "invalid_text", "code"},
		{`{"admin":{"name":"a\u2067b"}}`, "invalid_text", "admin.name"},
		{`{"items":[{"name":"ok"},{"name":"\u001b[31m"}]}`, "invalid_text", "items[1].name"},
		{`{"labels":{"k":"a\u0085b"}}`, "invalid_text", "labels.k"},
		{`{"labels":{"k\u202e":"v"}}`, "invalid_text", "labels"},
		{`{"k\u0000":1}`, "invalid_text", ""},
		{`{"fields":{"note":"\u007f"}}`, "invalid_text", "fields.note"},
		{`{"ext":{"deep":["\u2066"]}}`, "invalid_text", "ext.deep[0]"},
		{"{\"code\":\"a\xffb\"}", "invalid_text", "code"},
		{"{\"admin\":{\"name\":\"\xe4\xbc\"}}", "invalid_text", "admin.name"},
		{`{"code":"tab\tand\nnewline are the domain's to judge"}`, "", ""},
		{`{"code":"a\ud800b"}`, "invalid_text", "code"},
		{`{"admin":{"name":"\udfffx"}}`, "invalid_text", "admin.name"},
		{`{"code":"a pair \ud83d\ude00 is fine, as is \ufffd and \uFFFD and �"}`, "", ""},
		// null where the value cannot be absent.
		{`null`, "malformed_json", ""},
		{` null `, "malformed_json", ""},
		{`{"admin":null}`, "wrong_type", "admin"},
		{`{"code":null}`, "wrong_type", "code"},
		{`{"on":null}`, "wrong_type", "on"},
		{`{"count":null}`, "wrong_type", "count"},
		{`{"ids":["a",null]}`, "wrong_type", "ids[1]"},
		{`{"items":[null]}`, "wrong_type", "items[0]"},
		{`{"admin":{"name":null}}`, "wrong_type", "admin.name"},
		{`{"boss":null,"parent":null,"fields":{"note":null},"ext":null,"ids":null,"labels":null,"tags":null}`, "", ""},
		{`{"ext":{"a":null,"b":[null]}}`, "", ""},
	}
	for _, tt := range tests {
		var in input
		err := DecodeBytes([]byte(tt.body), &in)
		if tt.code == "" {
			if err != nil {
				t.Errorf("DecodeBytes(%.40q) = %v", tt.body, err)
			}
			continue
		}
		e := errs.As(err)
		if err == nil || StatusOf(err) != wantStatus(tt.code) || e.Code != tt.code || e.Field != tt.field {
			t.Errorf("DecodeBytes(%.40q) = %v; want code %s field %q", tt.body, err, tt.code, tt.field)
		}
	}
}

func TestErrorStatusTable(t *testing.T) {
	tests := []struct {
		err    error
		status int
	}{
		{errs.Invalidf("name", "invalid_name", "bad"), 400},
		{errs.E(errs.Unauthenticated, "x", "x"), 401},
		{errs.E(errs.Forbidden, "x", "x"), 403},
		{errs.NotFoundf("x", "x"), 404},
		{errs.E(errs.Conflict, "x", "x"), 409},
		{errs.E(errs.Gone, "x", "x"), 410},
		{errs.E(errs.Locked, "x", "x"), 423},
		{errs.E(errs.RateLimited, "x", "x"), 429},
		{errs.E(errs.Unavailable, "x", "x"), 503},
		{errs.E(errs.TooLarge, "x", "x"), 413},
		{errs.Wrap(http.ErrHandlerTimeout, "boom"), 500},
		{http.ErrAbortHandler, 500},
		// Transient failures are never our 500s.
		{errs.Wrap(&smithy.GenericAPIError{Code: "ThrottlingException"}, "put"), 503},
		{errs.Wrap(fmt.Errorf("query: %w", context.DeadlineExceeded), "list"), 503},
		{context.DeadlineExceeded, 503},
	}
	for _, tt := range tests {
		if got := StatusOf(tt.err); got != tt.status {
			t.Errorf("StatusOf(%v) = %d, want %d", tt.err, got, tt.status)
		}
	}
}

func TestWriteErrorBodies(t *testing.T) {
	r := NewRouter()
	r.Handle("GET /invalid", func(w http.ResponseWriter, r *http.Request) error {
		return errs.Invalidf("mobile", "invalid_mobile", "mobile must be 11 digits")
	})
	r.Handle("GET /limited", func(w http.ResponseWriter, r *http.Request) error {
		e := errs.E(errs.RateLimited, "too_many_requests", "wait")
		e.RetryAfter = 1500 * time.Millisecond
		return e
	})
	r.Handle("GET /internal", func(w http.ResponseWriter, r *http.Request) error {
		return errs.Wrap(http.ErrHandlerTimeout, "table secret-table-name")
	})
	r.Handle("GET /throttled", func(w http.ResponseWriter, r *http.Request) error {
		return errs.Wrap(&smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "table secret-table-name"}, "put")
	})
	r.Handle("GET /panic", func(w http.ResponseWriter, r *http.Request) error { panic("boom") })

	rec, e := serve(t, r, "GET", "/invalid", "")
	if rec.Code != 400 || e.Error.Code != "invalid_mobile" || e.Error.Field != "mobile" {
		t.Errorf("invalid: %d %+v", rec.Code, e)
	}
	rec, e = serve(t, r, "GET", "/limited", "")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" {
		t.Errorf("limited: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	rec, e = serve(t, r, "GET", "/throttled", "")
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" || e.Error.Code != "unavailable" || strings.Contains(rec.Body.String(), "secret-table-name") {
		t.Errorf("throttled: %d Retry-After %q %q", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	for _, path := range []string{"/internal", "/panic"} {
		rec, e = serve(t, r, "GET", path, "")
		if rec.Code != 500 || e.Error.Code != "internal" || strings.Contains(rec.Body.String(), "secret-table-name") || strings.Contains(rec.Body.String(), "boom") {
			t.Errorf("%s: %d %q leaks or is wrong", path, rec.Code, rec.Body.String())
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", path)
		}
	}
	rec, e = serve(t, r, "GET", "/nowhere", "")
	if rec.Code != 404 || e.Error.Code != "route_not_found" {
		t.Errorf("unknown route: %d %+v", rec.Code, e)
	}
	rec, e = serve(t, r, "DELETE", "/invalid", "")
	if rec.Code != 405 || e.Error.Code != "method_not_allowed" || rec.Header().Get("Allow") != "GET" || rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("wrong method: %d Allow %q %+v", rec.Code, rec.Header().Get("Allow"), e)
	}
}

func wantStatus(code string) int {
	if code == "body_too_large" {
		return 413
	}
	return 400
}

func TestRouterRefusesEncodedSlashesAndLargeBodies(t *testing.T) {
	r := NewRouter()
	var seen string
	r.Handle("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) error {
		seen = r.PathValue("id")
		return nil
	})
	r.Handle("POST /things", func(w http.ResponseWriter, r *http.Request) error {
		var in struct{ Name string }
		return Decode(r, &in)
	})
	for _, path := range []string{"/things/a%2Fb", "/things/a%2fb", "/things/%2F"} {
		rec, e := serve(t, r, "GET", path, "")
		if rec.Code != 400 || e.Error.Code != "invalid_path" || e.Error.Field != "path" || seen != "" {
			t.Errorf("GET %s: %d %+v (handler saw %q)", path, rec.Code, e, seen)
		}
	}
	if rec, _ := serve(t, r, "GET", "/things/a%20b", ""); rec.Code != 200 || seen != "a b" {
		t.Errorf("GET /things/a%%20b: %d, id %q", rec.Code, seen)
	}
	rec, e := serve(t, r, "POST", "/things", `{"name":"`+strings.Repeat("x", MaxBodyBytes)+`"}`)
	if rec.Code != 413 || e.Error.Code != "body_too_large" {
		t.Errorf("large body: %d %+v", rec.Code, e)
	}
	rec, e = serve(t, r, "PUT", "/things", `{}`)
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("PUT /things: %d Allow %q %+v", rec.Code, rec.Header().Get("Allow"), e)
	}
}

func TestServeKeepsGatewayRequestAndDropsProxyHeaders(t *testing.T) {
	var seen Request
	var header string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestOf(r.Context())
		header = r.Header.Get("X-GoLambdaProxy-ApiGw-Context")
	})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-GoLambdaProxy-ApiGw-Context", `{"requestId":"spoofed"}`)
	req = req.WithContext(WithRequest(req.Context(), Request{ID: "gw-123", SourceIP: "203.0.113.9"}))
	rec := httptest.NewRecorder()
	Serve(h).ServeHTTP(rec, req)
	if rec.Header().Get("X-Request-Id") != "gw-123" || seen.ID != "gw-123" || seen.SourceIP != "203.0.113.9" {
		t.Errorf("request id %q, seen %+v", rec.Header().Get("X-Request-Id"), seen)
	}
	if header != "" {
		t.Errorf("client-sent proxy header reached the handler: %q", header)
	}
}
