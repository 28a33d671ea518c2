package directoryhttp

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRegisterScope(t *testing.T) {
	const full = `{"tenant":"acme","invitation":"AB12","mobile":"13800000000","code":"123456","name":"周七"}`
	scope := func(method, path, body string) string {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		s := RegisterScope(r)
		if rest, _ := io.ReadAll(r.Body); string(rest) != body {
			t.Fatalf("%s %s: the handler would read %q, not the body", method, path, rest)
		}
		return s
	}
	base := scope("POST", "/v1/register", full)
	if !strings.HasPrefix(base, "register/") || strings.Contains(base, "13800000000") {
		t.Fatalf("scope %q: want an opaque register/ scope", base)
	}
	for _, tt := range []struct {
		name, method, path, body string
		want                     string // "same", "other" or "none"
	}{
		{"another code and name", "POST", "/v1/register", `{"tenant":"acme","invitation":"AB12","mobile":"13800000000","code":"000000","name":"x"}`, "same"},
		{"another mobile", "POST", "/v1/register", `{"tenant":"acme","invitation":"AB12","mobile":"13800000001","code":"123456"}`, "other"},
		{"another invitation", "POST", "/v1/register", `{"tenant":"acme","invitation":"AB13","mobile":"13800000000"}`, "other"},
		{"another tenant", "POST", "/v1/register", `{"tenant":"acme2","invitation":"AB12","mobile":"13800000000"}`, "other"},
		{"no mobile", "POST", "/v1/register", `{"tenant":"acme","invitation":"AB12","mobile":" "}`, "none"},
		{"not JSON", "POST", "/v1/register", `tenant=acme`, "none"},
		{"too large", "POST", "/v1/register", `{"tenant":"acme","invitation":"AB12","mobile":"13800000000","name":"` + strings.Repeat("x", 70<<10) + `"}`, "none"},
		{"another route", "POST", "/v1/admin/invitations", full, "none"},
	} {
		got := scope(tt.method, tt.path, tt.body)
		ok := map[string]bool{"same": got == base, "other": got != "" && got != base, "none": got == ""}[tt.want]
		if !ok {
			t.Errorf("%s: scope %q, want %s as %q", tt.name, got, tt.want, base)
		}
	}
}
