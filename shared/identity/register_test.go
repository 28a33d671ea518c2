package identity_test

import "testing"

// TestSelfRegistrationVerifiesCodes drives Directory's POST /v1/register
// with identity's verifier wired in: a "register" code sent to a stranger
// lets them join once.
func TestSelfRegistrationVerifiesCodes(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	admin := smsLogin(t, s, ten.Code, ten.AdminMobile).Str("accessToken")
	inv := s.Do(t, "POST", "/v1/admin/invitations", admin, map[string]any{"expiresInHours": 24})
	want(t, "invitation", inv, 201, "")
	mobile := s.Mobile()
	code := requestCode(t, s, ten.Code, mobile, "register")
	body := func(code string) map[string]any {
		return map[string]any{"tenant": ten.Code, "invitation": inv.Str("code"), "mobile": mobile, "code": code, "name": "周七"}
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
