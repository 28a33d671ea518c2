package stacktest_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"workbench/infra/stacktest"
)

// The input rules of every function, through the real gateway and handlers
// (and, through Do, against docs/openapi.yaml).
func TestInputHardening(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	op := st.OperatorKey()
	tenant := func(name string, admin any) string {
		return `{"code":"hard-` + strings.ToLower(stacktest.Mobile()[5:]) + `","name":"` + name + `","admin":` + toJSON(admin) + `}`
	}
	admin := map[string]string{"name": "张三", "mobile": st.Mobile()}
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code, field               string
	}{
		{"null body", "POST", "/v1/admin/invitations", tn.Admin.Token, "null", 400, "malformed_json", ""},
		{"null object", "POST", "/v1/platform/tenants", op, tenant("Acme", nil), 400, "wrong_type", "admin"},
		{"null required value", "POST", "/v1/platform/tenants", op, `{"code":"nulls","name":null,"admin":{"name":"张三","mobile":"13900000000"}}`, 400, "wrong_type", "name"},
		{"NUL and bidi override", "POST", "/v1/platform/tenants", op, tenant(`会\u0000议\u202e反转`, admin), 400, "invalid_text", "name"},
		{"bidi override alone", "POST", "/v1/platform/tenants", op, tenant(`会议\u202e反转`, admin), 400, "invalid_text", "name"},
		{"isolate in a nested field", "POST", "/v1/platform/tenants", op, tenant("Acme", map[string]string{"name": "张\u2066三", "mobile": st.Mobile()}), 400, "invalid_text", "admin.name"},
		{"newline in a name", "POST", "/v1/platform/tenants", op, tenant(`Acme\n制造`, admin), 400, "invalid_text", "name"},
		{"invalid UTF-8", "POST", "/v1/platform/tenants", op, []byte(tenant("Acme \xff\xfe", admin)), 400, "invalid_text", "name"},
		{"meeting title for an SMS", "POST", "/v1/calendar", tn.Admin.Token, `{"kind":"meeting","title":"会\u0000议\u202e反转","start":"2030-01-07T09:00:00+08:00","end":"2030-01-07T10:00:00+08:00","smsReminder":true}`, 400, "invalid_text", "title"},
		{"meeting title on two lines", "POST", "/v1/calendar", tn.Admin.Token, `{"kind":"meeting","title":"周会\n改期","start":"2030-01-07T09:00:00+08:00","end":"2030-01-07T10:00:00+08:00"}`, 400, "invalid_text", "title"},
		{"a newline where multi-line text is", "POST", "/v1/calendar", tn.Admin.Token, `{"kind":"meeting","title":"周会","description":"议程：\n1. 回顾\t(10 分钟)","start":"2030-01-07T09:00:00+08:00","end":"2030-01-07T10:00:00+08:00"}`, 201, "", ""},
		{"C1 control in a department", "POST", "/v1/admin/departments", tn.Admin.Token, `{"name":"研发\u0085部"}`, 400, "invalid_text", "name"},
		{"body over the limit", "POST", "/v1/admin/departments", tn.Admin.Token, `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "body_too_large", ""},
		{"encoded slash in an id", "GET", "/v1/members/a%2Fb", tn.Admin.Token, nil, 400, "invalid_path", "path"},
		{"wrong method", "DELETE", "/v1/health", "", nil, 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		r := st.Call(t, tt.method, tt.path, tt.token, tt.body)
		code, field := r.ErrorCode()
		if r.Status != tt.status || code != tt.code || field != tt.field {
			t.Errorf("%s: %d %s", tt.name, r.Status, r.Body)
		}
		if r.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", tt.name)
		}
	}
	if r := st.Call(t, "PUT", "/v1/health", "", nil); r.Header.Get("Allow") != "GET" {
		t.Errorf("405 Allow %q", r.Header.Get("Allow"))
	}

	// A NUL in a header: refused before any handler runs, in the API's shape.
	u, _ := url.Parse(st.URL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /v1/health HTTP/1.1\r\nHost: " + u.Host + "\r\nX-Note: a\x00b\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw := make([]byte, 512)
	n, _ := resp.Body.Read(raw)
	r := stacktest.Response{Status: resp.StatusCode, Body: raw[:n], Header: resp.Header}
	stacktest.Want(t, r, 400, "bad_request")
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("NUL header: no X-Request-Id")
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
