package identity_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"workbench/infra/stacktest"
)

func codeBody(tenant, mobile, purpose string) map[string]any {
	return map[string]any{"tenant": tenant, "mobile": mobile, "purpose": purpose}
}

func smsBody(tenant, mobile, code string) map[string]any {
	return map[string]any{"tenant": tenant, "method": "sms", "mobile": mobile, "code": code}
}

func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestSMSCodeRules(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)

	t.Run("cooldown", func(t *testing.T) {
		requestCode(t, s, ten.Code, ten.AdminMobile, "login")
		s.Clock.Add(20 * time.Second)
		r := s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "login"))
		want(t, "resend within 60 s", r, 429, "code_cooldown")
		if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 39 || ra > 41 {
			t.Errorf("Retry-After %q, want about 40", r.Header.Get("Retry-After"))
		}
		s.Clock.Add(41 * time.Second)
		want(t, "resend after 60 s", s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "login")), 202, "")
	})

	t.Run("a used code lifts the cooldown", func(t *testing.T) {
		code := requestCode(t, s, ten.Code, ten.AdminMobile, "login")
		want(t, "login", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 200, "")
		before := len(s.SMS(t, ten.AdminMobile))
		want(t, "next code right after a login", s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "login")), 202, "")
		code = lastCode(t, s, ten.AdminMobile, before)
		want(t, "login again", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 200, "")
		// A wrong try does not lift it.
		s.Clock.Add(61 * time.Second)
		before = len(s.SMS(t, ten.AdminMobile))
		want(t, "code", s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "login")), 202, "")
		code = lastCode(t, s, ten.AdminMobile, before)
		want(t, "wrong code", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, wrongCode(code))), 401, "")
		want(t, "resend after a wrong try", s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "login")), 429, "code_cooldown")
	})

	t.Run("expiry", func(t *testing.T) {
		code := requestCode(t, s, ten.Code, ten.AdminMobile, "login")
		s.Clock.Add(5*time.Minute + time.Second)
		want(t, "expired code", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 401, "invalid_credentials")
		code = requestCode(t, s, ten.Code, ten.AdminMobile, "login")
		s.Clock.Add(4*time.Minute + 59*time.Second)
		want(t, "code within 5 minutes", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 200, "")
	})

	t.Run("single use", func(t *testing.T) {
		code := requestCode(t, s, ten.Code, ten.AdminMobile, "login")
		want(t, "first use", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 200, "")
		want(t, "second use", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 401, "invalid_credentials")
	})

	t.Run("five wrong tries kill the code", func(t *testing.T) {
		code := requestCode(t, s, ten.Code, ten.AdminMobile, "login")
		for i := 0; i < 5; i++ {
			want(t, "wrong code", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, wrongCode(code))), 401, "invalid_credentials")
		}
		want(t, "right code after 5 wrong", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 401, "invalid_credentials")
	})

	t.Run("a code is for its purpose", func(t *testing.T) {
		code := requestCode(t, s, ten.Code, ten.AdminMobile, "admin-confirm")
		want(t, "admin-confirm code used to log in", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 401, "invalid_credentials")
	})

	t.Run("who gets an SMS", func(t *testing.T) {
		stranger := s.Mobile()
		member := addMember(t, s, ten.ID, "李四", "lisi", "member")
		for _, c := range []struct {
			tenant, mobile, purpose string
			sent                    bool
		}{
			{ten.Code, stranger, "login", false},
			{ten.Code, stranger, "admin-confirm", false},
			{ten.Code, member.Mobile, "admin-confirm", false},
			{ten.Code, member.Mobile, "login", true},
			{ten.Code, stranger, "register", true},
			{"no-such-tenant", ten.AdminMobile, "login", false},
			{ten.Code, ten.AdminMobile, "admin-confirm", true},
		} {
			s.Clock.Add(61 * time.Second)
			before := len(s.SMS(t, c.mobile))
			r := s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(c.tenant, c.mobile, c.purpose))
			want(t, c.purpose+" to "+c.mobile, r, 202, "")
			msgs := s.SMS(t, c.mobile)
			if sent := len(msgs) > before; sent != c.sent {
				t.Errorf("%s %s for %s: sent=%v, want %v", c.tenant, c.purpose, c.mobile, sent, c.sent)
			}
			if c.sent && (!strings.Contains(msgs[len(msgs)-1], "Acme 制造") || !strings.Contains(msgs[len(msgs)-1], "5 分钟")) {
				t.Errorf("SMS text %q does not name the tenant and the validity", msgs[len(msgs)-1])
			}
		}
		setEnabled(t, s, ten.ID, ten.AdminID, false)
		s.Clock.Add(61 * time.Second)
		before := len(s.SMS(t, ten.AdminMobile))
		want(t, "admin-confirm to a disabled admin", s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "admin-confirm")), 202, "")
		if len(s.SMS(t, ten.AdminMobile)) != before {
			t.Error("admin-confirm code sent to a disabled admin")
		}
		setEnabled(t, s, ten.ID, ten.AdminID, true)
	})

	t.Run("daily cap per mobile", func(t *testing.T) {
		mobile := s.Mobile()
		var r Resp
		n := 0
		for ; n < 30; n++ {
			s.Clock.Add(61 * time.Second)
			if r = s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, mobile, "register")); r.Status != 202 {
				break
			}
		}
		want(t, "over the daily cap", r, 429, "daily_limit")
		if n != 20 {
			t.Errorf("cap reached after %d codes, want 20", n)
		}
		if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra <= 0 || ra > 86400 {
			t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		// The cap is per tenant: another tenant still reaches the mobile.
		other := newTenant(t, s)
		want(t, "another tenant", s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(other.Code, mobile, "register")), 202, "")
		// A refused request counted nowhere: after a day the cap is back.
		s.Clock.Add(24 * time.Hour)
		want(t, "next day", s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, mobile, "register")), 202, "")
	})
}

func TestSMSCodeDailyCapPerSourceIP(t *testing.T) {
	s := newStack(t, stacktest.WithEnv(map[string]string{"SMS_DAILY_LIMIT_PER_IP": "8"}))
	ten := newTenant(t, s)
	n := 0
	var r Resp
	for ; n < 20; n++ {
		if r = s.Do(t, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, s.Mobile(), "login")); r.Status != 202 {
			break
		}
	}
	want(t, "over the per-address cap", r, 429, "daily_limit")
	if n != 8 {
		t.Errorf("cap reached after %d codes, want 8", n)
	}
}

func TestPasswordLockout(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	access := smsLogin(t, s, ten.Code, ten.AdminMobile).Str("accessToken")
	want(t, "set password", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": "Right-Pass-2026"}), 204, "")

	// A success resets the counter.
	for i := 0; i < 4; i++ {
		want(t, "wrong password", passwordLogin(t, s, ten.Code, ten.AdminAccount, "wrong-pass-1"), 401, "invalid_credentials")
	}
	want(t, "right password", passwordLogin(t, s, ten.Code, ten.AdminAccount, "Right-Pass-2026"), 200, "")
	for i := 0; i < 4; i++ {
		want(t, "wrong password after reset", passwordLogin(t, s, ten.Code, ten.AdminAccount, "wrong-pass-1"), 401, "invalid_credentials")
	}
	want(t, "fifth failure", passwordLogin(t, s, ten.Code, ten.AdminAccount, "wrong-pass-1"), 401, "invalid_credentials")
	r := passwordLogin(t, s, ten.Code, ten.AdminAccount, "Right-Pass-2026")
	want(t, "right password while locked", r, 423, "account_locked")
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 890 || ra > 900 {
		t.Errorf("Retry-After %q, want about 900", r.Header.Get("Retry-After"))
	}
	// SMS login still works while the password is locked.
	smsLogin(t, s, ten.Code, ten.AdminMobile)
	s.Clock.Add(15 * time.Minute)
	want(t, "after the lock", passwordLogin(t, s, ten.Code, ten.AdminAccount, "Right-Pass-2026"), 200, "")

	// Failures spread over more than 15 minutes do not lock.
	for i := 0; i < 6; i++ {
		want(t, "slow failures", passwordLogin(t, s, ten.Code, ten.AdminAccount, "wrong-pass-1"), 401, "invalid_credentials")
		s.Clock.Add(4 * time.Minute)
	}

	// Unknown accounts answer like wrong passwords, and lock alike.
	for i := 0; i < 5; i++ {
		want(t, "unknown account", passwordLogin(t, s, ten.Code, "nobody", "wrong-pass-1"), 401, "invalid_credentials")
	}
	want(t, "unknown account, locked", passwordLogin(t, s, ten.Code, "nobody", "wrong-pass-1"), 423, "account_locked")

	// So do accounts that have no password yet: the same answer as an
	// unknown account, byte for byte but the message, and the same lock.
	// SMS login is where such a member learns a password must be set.
	member := addMember(t, s, ten.ID, "赵六", "zhaoliu", "member")
	for i := 0; i < 5; i++ {
		r := passwordLogin(t, s, ten.Code, "zhaoliu", "wrong-pass-1")
		want(t, "no password yet", r, 401, "invalid_credentials")
		if unknown := passwordLogin(t, s, ten.Code, "nobody2", "wrong-pass-1"); string(unknown.Raw) != string(r.Raw) {
			t.Errorf("no password yet answers %s, an unknown account %s", r.Raw, unknown.Raw)
		}
	}
	want(t, "no password yet, locked", passwordLogin(t, s, ten.Code, "zhaoliu", "wrong-pass-1"), 423, "account_locked")
	if r := smsLogin(t, s, ten.Code, member.Mobile); r.Body["mustSetPassword"] != true {
		t.Errorf("SMS login of a member without a password: %s, want mustSetPassword true", r.Raw)
	}
	want(t, "unknown tenant", passwordLogin(t, s, "no-such-tenant", ten.AdminAccount, "Right-Pass-2026"), 401, "invalid_credentials")
	want(t, "unknown tenant by sms", s.Do(t, "POST", "/v1/auth/login", "", smsBody("no-such-tenant", ten.AdminMobile, "123456")), 401, "invalid_credentials")
}

func TestDisabledMember(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	r := smsLogin(t, s, ten.Code, ten.AdminMobile)
	access, refresh := r.Str("accessToken"), r.Str("refreshToken")
	want(t, "set password", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": "Right-Pass-2026"}), 204, "")
	code := requestCode(t, s, ten.Code, ten.AdminMobile, "login")

	setEnabled(t, s, ten.ID, ten.AdminID, false)
	want(t, "token of a disabled member", s.Do(t, "GET", "/v1/me", access, nil), 401, "account_disabled")
	want(t, "refresh of a disabled member", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": refresh}), 401, "account_disabled")
	want(t, "password login of a disabled member", passwordLogin(t, s, ten.Code, ten.AdminAccount, "Right-Pass-2026"), 403, "account_disabled")
	want(t, "sms login of a disabled member", s.Do(t, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)), 403, "account_disabled")
	// A wrong password does not reveal the status.
	want(t, "wrong password of a disabled member", passwordLogin(t, s, ten.Code, ten.AdminAccount, "wrong-pass-1"), 401, "invalid_credentials")

	setEnabled(t, s, ten.ID, ten.AdminID, true)
	want(t, "enabled again", passwordLogin(t, s, ten.Code, ten.AdminAccount, "Right-Pass-2026"), 200, "")
}

func TestBadInput(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	access := smsLogin(t, s, ten.Code, ten.AdminMobile).Str("accessToken")
	for _, c := range []struct {
		method, path string
		body         any
		field        string
	}{
		{"POST", "/v1/auth/sms-codes", `{"tenant":`, ""},
		{"POST", "/v1/auth/sms-codes", `{"tenant":"acme","mobile":"13800138000","purpose":"login","x":1}`, "x"},
		{"POST", "/v1/auth/sms-codes", `{"tenant":"acme","mobile":13800138000,"purpose":"login"}`, "mobile"},
		{"POST", "/v1/auth/sms-codes", codeBody("", "13800138000", "login"), "tenant"},
		{"POST", "/v1/auth/sms-codes", codeBody("Bad!", "13800138000", "login"), "tenant"},
		{"POST", "/v1/auth/sms-codes", codeBody(ten.Code, "1380013800", "login"), "mobile"},
		{"POST", "/v1/auth/sms-codes", codeBody(ten.Code, "138001380001", "login"), "mobile"},
		{"POST", "/v1/auth/sms-codes", codeBody(ten.Code, "1380013800a", "login"), "mobile"},
		{"POST", "/v1/auth/sms-codes", codeBody(ten.Code, "13800138000", "reset"), "purpose"},
		{"POST", "/v1/auth/sms-codes", codeBody(ten.Code, "13800138000", ""), "purpose"},
		{"POST", "/v1/auth/login", `[]`, ""},
		{"POST", "/v1/auth/login", `{"tenant":"acme","method":"password","account":"a","password":"x","extra":true}`, "extra"},
		{"POST", "/v1/auth/login", `{"tenant":"acme","method":"password","account":"a","password":12}`, "password"},
		{"POST", "/v1/auth/login", map[string]any{"tenant": ten.Code, "method": "password", "account": ten.AdminAccount, "password": ""}, "password"},
		{"POST", "/v1/auth/login", map[string]any{"tenant": ten.Code, "method": "password", "account": "", "password": "x"}, "account"},
		{"POST", "/v1/auth/login", map[string]any{"tenant": ten.Code, "method": "magic"}, "method"},
		{"POST", "/v1/auth/login", map[string]any{"tenant": ten.Code}, "method"},
		{"POST", "/v1/auth/login", map[string]any{"method": "sms", "mobile": ten.AdminMobile, "code": "123456"}, "tenant"},
		{"POST", "/v1/auth/login", smsBody(ten.Code, "12345", "123456"), "mobile"},
		{"POST", "/v1/auth/login", smsBody(ten.Code, ten.AdminMobile, "12345"), "code"},
		{"POST", "/v1/auth/login", smsBody(ten.Code, ten.AdminMobile, ""), "code"},
		{"POST", "/v1/auth/refresh", `{"refreshToken":1}`, "refreshToken"},
		{"PUT", "/v1/me/password", map[string]any{"password": ""}, "password"},
		{"PUT", "/v1/me/password", `{"password":"abcdefghijk","old":"x"}`, "old"},
		{"POST", "/v1/admin/members/" + ten.AdminID + "/password-reset", map[string]any{"code": "12"}, "code"},
		{"POST", "/v1/admin/members/" + ten.AdminID + "/password-reset", map[string]any{}, "code"},
		{"GET", "/v1/admin/login-logs?result=maybe", nil, "result"},
		{"GET", "/v1/admin/login-logs?from=yesterday", nil, "from"},
		{"GET", "/v1/admin/login-logs?cursor=notacursor", nil, "cursor"},
	} {
		token := ""
		if strings.HasPrefix(c.path, "/v1/me") || strings.HasPrefix(c.path, "/v1/admin") {
			token = access
		}
		r := s.Do(t, c.method, c.path, token, c.body)
		if r.Status != 400 || r.Field() != c.field {
			t.Errorf("%s %s %v: %d %s, want 400 naming %q", c.method, c.path, c.body, r.Status, r.Raw, c.field)
		}
	}
	// Nothing was sent, nothing was logged by bad input.
	logs := s.Do(t, "GET", "/v1/admin/login-logs", access, nil)
	if n := len(logs.Body["items"].([]any)); n != 1 {
		t.Errorf("login log after bad input has %d entries, want 1: %s", n, logs.Raw)
	}
}

// Disabling through the directory ends a member's sessions for good:
// enabling them again brings back neither the access nor the refresh token.
func TestDisablingThroughTheDirectoryEndsSessions(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	admin := smsLogin(t, s, ten.Code, ten.AdminMobile).Str("accessToken")
	mobile := stacktest.Mobile()
	created := s.Do(t, "POST", "/v1/admin/members", admin, map[string]any{"name": "钱七", "mobile": mobile})
	want(t, "create member", created, 201, "")
	id := created.Str("id")
	r := smsLogin(t, s, ten.Code, mobile)
	access, refresh := r.Str("accessToken"), r.Str("refreshToken")
	want(t, "member reads", s.Do(t, "GET", "/v1/me", access, nil), 200, "")

	status := "/v1/admin/members/" + id + "/status"
	want(t, "disable", s.Do(t, "PUT", status, admin, map[string]any{"enabled": false}), 200, "")
	want(t, "enable", s.Do(t, "PUT", status, admin, map[string]any{"enabled": true}), 200, "")
	want(t, "old access token", s.Do(t, "GET", "/v1/me", access, nil), 401, "session_revoked")
	want(t, "old refresh token", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": refresh}), 401, "session_revoked")
	fresh := smsLogin(t, s, ten.Code, mobile).Str("accessToken")
	want(t, "a new login", s.Do(t, "GET", "/v1/me", fresh, nil), 200, "")
}
