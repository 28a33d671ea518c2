package stacktest

import (
	"net/http"
	"strings"
	"testing"
)

func TestContractChecksStatusAndSchema(t *testing.T) {
	c, err := sharedContract()
	if err != nil {
		t.Fatal(err)
	}
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	errBody := `{"error":{"code":"x","message":"y"}}`
	tests := []struct {
		name, method, target string
		status               int
		body                 string
		bad                  string // a part of the error, "" if the response is fine
	}{
		{"documented", "GET", "/v1/health", 200, `{"status":"ok"}`, ""},
		{"wrong value", "GET", "/v1/health", 200, `{"status":"nope"}`, "status"},
		{"undocumented status", "GET", "/v1/platform/tenants/acme", 409, errBody, "does not allow"},
		{"error body of the wrong shape", "GET", "/v1/platform/tenants/acme", 404, `{"code":"x"}`, "error"},
		{"missing required property", "GET", "/v1/platform/tenants/acme", 200, `{"id":"t1","code":"acme"}`, "name"},
		{"path id with query", "GET", "/v1/platform/tenants/acme?x=1", 404, errBody, ""},
		{"every operation may answer 405", "DELETE", "/v1/health", 405, errBody, ""},
		{"every operation may answer 413", "POST", "/v1/platform/tenants", 413, errBody, ""},
		{"but in the error shape", "POST", "/v1/platform/tenants", 413, `too big`, "413"},
		{"an unknown route's 404", "GET", "/v1/nowhere", 404, errBody, ""},
		{"an unknown route that answers", "GET", "/v1/nowhere", 200, `{}`, "not in docs/openapi.yaml"},
		{"local routes are not the contract", "GET", "/_local/sms?mobile=1", 200, `{}`, ""},
	}
	for _, tt := range tests {
		err := c.Check(tt.method, tt.target, tt.status, jsonHeader, []byte(tt.body))
		switch {
		case tt.bad == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)):
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.bad)
		}
	}
}
