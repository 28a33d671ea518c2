package identity_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"workbench/infra/stacktest"
)

// invited makes a tenant, its admin's access token and an invitation's code.
func invited(t *testing.T, s *Stack) (ten tenantInfo, admin, code string) {
	t.Helper()
	ten = newTenant(t, s)
	admin = smsLogin(t, s, ten.Code, ten.AdminMobile).Str("accessToken")
	inv := s.Do(t, "POST", "/v1/admin/invitations", admin, map[string]any{"expiresInHours": 24})
	want(t, "invitation", inv, 201, "")
	return ten, admin, inv.Str("code")
}

// TestSelfRegistrationVerifiesCodes drives Directory's POST /v1/register
// with identity's verifier wired in: a "register" code sent to a stranger
// lets them join once.
func TestSelfRegistrationVerifiesCodes(t *testing.T) {
	s := newStack(t)
	ten, _, inv := invited(t, s)
	mobile := s.Mobile()
	code := requestCode(t, s, ten.Code, mobile, "register")
	body := func(code string) map[string]any {
		return map[string]any{"tenant": ten.Code, "invitation": inv, "mobile": mobile, "code": code, "name": "周七"}
	}
	want(t, "wrong code", s.Do(t, "POST", "/v1/register", "", body(wrongCode(code))), 400, "invalid_code")
	r := s.Do(t, "POST", "/v1/register", "", body(code))
	want(t, "register", r, 200, "")
	if r.Str("result") != "joined" {
		t.Fatalf("register: %s", r.Raw)
	}
	want(t, "the same code again", s.Do(t, "POST", "/v1/register", "", body(code)), 400, "invalid_code")
	// The new member has no password: SMS login, mustSetPassword.
	if r := smsLogin(t, s, ten.Code, mobile); r.Body["mustSetPassword"] != true {
		t.Fatalf("login of the registered member: %s", r.Raw)
	}
}

// TestRegisterIdempotencyKey: a registration retried with its
// Idempotency-Key and body (after a timeout, say) gets the first answer
// again instead of invalid_code for the used SMS code, and writes no
// second member; the key with another body is 422. The key is scoped by
// the tenant, invitation and mobile, and an answer goes only to the same
// body, SMS code included.
func TestRegisterIdempotencyKey(t *testing.T) {
	s := newStack(t)
	ten, admin, inv := invited(t, s)
	members := func() int {
		r := s.Do(t, "GET", "/v1/members", admin, nil)
		want(t, "members", r, 200, "")
		items, _ := r.Body["items"].([]any)
		return len(items)
	}
	before := members()
	mobile := s.Mobile()
	body := map[string]any{"tenant": ten.Code, "invitation": inv, "mobile": mobile, "code": requestCode(t, s, ten.Code, mobile, "register"), "name": "周七"}
	key := "register-7d2e"

	status, first, h := postWithKey(t, s, "/v1/register", key, body)
	if status != 200 || h.Get("Idempotent-Replayed") != "" || !strings.Contains(string(first), `"joined"`) {
		t.Fatalf("register = %d %s %v", status, first, h)
	}
	status, again, h := postWithKey(t, s, "/v1/register", key, body)
	if status != 200 || !bytes.Equal(again, first) || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry = %d %s %v; want the first answer %s replayed", status, again, h, first)
	}
	other := maps.Clone(body)
	other["name"] = "周八"
	if status, out, _ := postWithKey(t, s, "/v1/register", key, other); status != 422 || !strings.Contains(string(out), "idempotency_key_reused") {
		t.Fatalf("the key with another body = %d %s; want 422 idempotency_key_reused", status, out)
	}
	// Another mobile is another scope: the key is new there and runs.
	stranger := maps.Clone(body)
	stranger["mobile"] = s.Mobile()
	stranger["code"] = "000000"
	if status, out, _ := postWithKey(t, s, "/v1/register", key, stranger); status != 400 || !strings.Contains(string(out), "invalid_code") {
		t.Fatalf("the key for another mobile = %d %s; want 400 invalid_code", status, out)
	}
	if n := members(); n != before+1 {
		t.Fatalf("%d members after a retried registration, want %d", n, before+1)
	}
	if sms := s.SMS(t, mobile); len(sms) != 2 { // the code, then one welcome
		t.Fatalf("SMS to the registered mobile %q; want the code and one welcome", sms)
	}
}

// postWithKey sends an anonymous JSON POST with an Idempotency-Key.
func postWithKey(t *testing.T, s *Stack, path, key string, body any) (int, []byte, http.Header) {
	t.Helper()
	payload, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", s.URL+path, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	stacktest.CheckResponse(t, "POST", path, resp.StatusCode, resp.Header, out)
	return resp.StatusCode, out, resp.Header
}
