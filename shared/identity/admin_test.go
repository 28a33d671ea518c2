package identity_test

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var otpInSMS = regexp.MustCompile(`临时密码 (\S+)，`)

func TestAdminResetsPassword(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	admin := smsLogin(t, s, ten.Code, ten.AdminMobile).Str("accessToken")
	member := addMember(t, s, ten.ID, "李四", "lisi", "member")
	memberLogin := smsLogin(t, s, ten.Code, member.Mobile)
	memberAccess := memberLogin.Str("accessToken")
	want(t, "member sets a password", s.Do(t, "PUT", "/v1/me/password", memberAccess, map[string]any{"password": "Member-Pass-2026"}), 204, "")
	resetPath := "/v1/admin/members/" + member.ID + "/password-reset"

	// Non-admins may not.
	want(t, "member resets", s.Do(t, "POST", resetPath, memberAccess, map[string]any{"code": "123456"}), 403, "admin_only")
	want(t, "no token", s.Do(t, "POST", resetPath, "", map[string]any{"code": "123456"}), 401, "")

	// A wrong code, a code of another purpose, a code for someone else.
	code := requestCode(t, s, ten.Code, ten.AdminMobile, "admin-confirm")
	want(t, "wrong code", s.Do(t, "POST", resetPath, admin, map[string]any{"code": wrongCode(code)}), 400, "invalid_code")
	loginCode := requestCode(t, s, ten.Code, ten.AdminMobile, "login")
	want(t, "login code", s.Do(t, "POST", resetPath, admin, map[string]any{"code": loginCode}), 400, "invalid_code")
	want(t, "unknown member", s.Do(t, "POST", "/v1/admin/members/nobody/password-reset", admin, map[string]any{"code": code}), 404, "member_not_found")

	before := len(s.SMS(t, member.Mobile))
	r := s.Do(t, "POST", resetPath, admin, map[string]any{"code": code})
	want(t, "reset", r, 202, "")
	if strings.Contains(r.Raw, "临时") || len(r.Raw) > 200 {
		t.Errorf("reset answer %s", r.Raw)
	}
	want(t, "code reused", s.Do(t, "POST", resetPath, admin, map[string]any{"code": code}), 400, "invalid_code")
	msgs := s.SMS(t, member.Mobile)
	if len(msgs) != before+1 {
		t.Fatalf("member got %d new SMS, want 1", len(msgs)-before)
	}
	m := otpInSMS.FindStringSubmatch(msgs[len(msgs)-1])
	if m == nil || len(m[1]) < 12 {
		t.Fatalf("no one-time password of 12+ characters in %q", msgs[len(msgs)-1])
	}
	otp := m[1]
	if strings.Contains(strings.Join(s.SMS(t, ten.AdminMobile), "\n"), otp) {
		t.Fatal("the admin got the one-time password")
	}

	// The member's sessions are gone; the old password is gone.
	want(t, "member's old session", s.Do(t, "GET", "/v1/me", memberAccess, nil), 401, "session_revoked")
	want(t, "member's old refresh", s.Do(t, "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": memberLogin.Str("refreshToken")}), 401, "session_revoked")
	want(t, "old password", passwordLogin(t, s, ten.Code, "lisi", "Member-Pass-2026"), 401, "invalid_credentials")
	want(t, "admin's own session lives", s.Do(t, "GET", "/v1/me", admin, nil), 200, "")

	// The one-time password logs in, with mustSetPassword, and the member
	// sets a new one without the old.
	r = passwordLogin(t, s, ten.Code, "lisi", otp)
	want(t, "one-time password", r, 200, "")
	if r.Body["mustSetPassword"] != true {
		t.Fatalf("mustSetPassword after reset: %s", r.Raw)
	}
	access := r.Str("accessToken")
	want(t, "one-time password reused as the new one", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": otp}), 400, "password_reused")
	want(t, "new password", s.Do(t, "PUT", "/v1/me/password", access, map[string]any{"password": "Member-Pass-2027"}), 204, "")
	want(t, "one-time password after the new one", passwordLogin(t, s, ten.Code, "lisi", otp), 401, "invalid_credentials")
	r = passwordLogin(t, s, ten.Code, "lisi", "Member-Pass-2027")
	want(t, "new password login", r, 200, "")
	if r.Body["mustSetPassword"] != false {
		t.Fatalf("mustSetPassword after setting: %s", r.Raw)
	}

	// A one-time password stops working after 24 hours.
	code = requestCode(t, s, ten.Code, ten.AdminMobile, "admin-confirm")
	want(t, "second reset", s.Do(t, "POST", resetPath, admin, map[string]any{"code": code}), 202, "")
	msgs = s.SMS(t, member.Mobile)
	otp = otpInSMS.FindStringSubmatch(msgs[len(msgs)-1])[1]
	s.Clock.Add(24*time.Hour + time.Second)
	want(t, "one-time password after 24 h", passwordLogin(t, s, ten.Code, "lisi", otp), 401, "invalid_credentials")
	// SMS login still gets the member in, to set a password.
	if r := smsLogin(t, s, ten.Code, member.Mobile); r.Body["mustSetPassword"] != true {
		t.Fatalf("sms login after an expired reset: %s", r.Raw)
	}
}

func TestCrossTenant(t *testing.T) {
	s := newStack(t)
	a, b := newTenant(t, s), newTenant(t, s)
	adminA := smsLogin(t, s, a.Code, a.AdminMobile).Str("accessToken")
	adminB := smsLogin(t, s, b.Code, b.AdminMobile).Str("accessToken")
	memberA := addMember(t, s, a.ID, "王五", "wangwu", "member")
	smsLogin(t, s, a.Code, memberA.Mobile)

	// B's admin cannot reset A's member, even with a valid code of B.
	code := requestCode(t, s, b.Code, b.AdminMobile, "admin-confirm")
	before := len(s.SMS(t, memberA.Mobile))
	want(t, "reset across tenants", s.Do(t, "POST", "/v1/admin/members/"+memberA.ID+"/password-reset", adminB, map[string]any{"code": code}), 404, "member_not_found")
	if len(s.SMS(t, memberA.Mobile)) != before {
		t.Error("a cross-tenant reset sent an SMS")
	}
	// B's logs hold nothing of A, also when filtered by A's member.
	for _, q := range []string{"", "?member=" + memberA.ID, "?member=" + a.AdminID} {
		r := s.Do(t, "GET", "/v1/admin/login-logs"+q, adminB, nil)
		want(t, "B's logs", r, 200, "")
		for _, it := range r.Body["items"].([]any) {
			if id := it.(map[string]any)["memberId"]; id != b.AdminID {
				t.Errorf("B's logs%s hold %v", q, it)
			}
		}
	}
	// A's cursor does not page B's logs.
	r := s.Do(t, "GET", "/v1/admin/login-logs?limit=1", adminA, nil)
	if cur := r.Str("nextCursor"); cur == "" {
		t.Fatalf("no cursor: %s", r.Raw)
	} else {
		want(t, "A's cursor in B", s.Do(t, "GET", "/v1/admin/login-logs?cursor="+cur, adminB, nil), 400, "invalid_cursor")
	}
	// An SMS code of A does not log in to B.
	codeA := requestCode(t, s, a.Code, a.AdminMobile, "login")
	want(t, "A's code at B", s.Do(t, "POST", "/v1/auth/login", "", smsBody(b.Code, a.AdminMobile, codeA)), 401, "invalid_credentials")
	// /v1/me is the caller's own tenant.
	if me := s.Do(t, "GET", "/v1/me", adminB, nil); me.Body["id"] != b.AdminID || me.Body["tenant"].(map[string]any)["id"] != b.ID {
		t.Errorf("me of B: %s", me.Raw)
	}
}

func TestLoginLogs(t *testing.T) {
	s := newStack(t)
	ten := newTenant(t, s)
	start := s.Clock.Now()
	admin := smsLogin(t, s, ten.Code, ten.AdminMobile).Str("accessToken")
	want(t, "set password", s.Do(t, "PUT", "/v1/me/password", admin, map[string]any{"password": "Admin-Pass-2026"}), 204, "")
	member := addMember(t, s, ten.ID, "赵六", "zhaoliu", "member")
	s.Clock.Add(time.Minute)
	want(t, "wrong password", passwordLogin(t, s, ten.Code, ten.AdminAccount, "Wrong-Pass-0000"), 401, "")
	s.Clock.Add(time.Minute)
	want(t, "unknown account", passwordLogin(t, s, ten.Code, "ghost", "Wrong-Pass-0000"), 401, "")
	s.Clock.Add(time.Minute)
	want(t, "password not set", passwordLogin(t, s, ten.Code, "zhaoliu", "Wrong-Pass-0000"), 401, "invalid_credentials")
	mid := s.Clock.Now()
	s.Clock.Add(time.Minute)
	memberAccess := smsLogin(t, s, ten.Code, member.Mobile).Str("accessToken")
	s.Clock.Add(time.Minute)
	want(t, "right password", passwordLogin(t, s, ten.Code, ten.AdminAccount, "Admin-Pass-2026"), 200, "")

	want(t, "member reads logs", s.Do(t, "GET", "/v1/admin/login-logs", memberAccess, nil), 403, "admin_only")
	r := s.Do(t, "GET", "/v1/admin/login-logs", admin, nil)
	want(t, "logs", r, 200, "")
	items := r.Body["items"].([]any)
	type row struct{ member, account, method, result, reason string }
	var got []row
	var last string
	for _, it := range items {
		m := it.(map[string]any)
		str := func(k string) string { v, _ := m[k].(string); return v }
		got = append(got, row{str("memberId"), str("account"), str("method"), str("result"), str("reason")})
		if last != "" && str("at") > last {
			t.Errorf("logs not newest first: %s after %s", str("at"), last)
		}
		last = str("at")
		if str("ip") != "127.0.0.1" || str("userAgent") == "" {
			t.Errorf("log without ip/user agent: %v", m)
		}
	}
	wantRows := []row{
		{ten.AdminID, maskAcc(ten.AdminAccount), "password", "success", ""},
		{member.ID, member.Mobile[:3] + "****" + member.Mobile[7:], "sms", "success", ""},
		{member.ID, maskAcc("zhaoliu"), "password", "failure", "password_not_set"},
		{"", maskAcc("ghost"), "password", "failure", "invalid_credentials"},
		{ten.AdminID, maskAcc(ten.AdminAccount), "password", "failure", "invalid_credentials"},
		{ten.AdminID, ten.AdminMobile[:3] + "****" + ten.AdminMobile[7:], "sms", "success", ""},
	}
	if len(got) != len(wantRows) {
		t.Fatalf("logs: %s", r.Raw)
	}
	for i := range wantRows {
		if got[i] != wantRows[i] {
			t.Errorf("log %d = %+v, want %+v", i, got[i], wantRows[i])
		}
	}
	for _, secret := range []string{"Admin-Pass-2026", "Wrong-Pass-0000", ten.AdminMobile, member.Mobile, "accessToken", "eyJ"} {
		if strings.Contains(r.Raw, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}

	count := func(q string) int {
		r := s.Do(t, "GET", "/v1/admin/login-logs"+q, admin, nil)
		want(t, "logs"+q, r, 200, "")
		return len(r.Body["items"].([]any))
	}
	for q, n := range map[string]int{
		"?result=failure":                          3,
		"?result=success":                          3,
		"?member=" + member.ID:                     2,
		"?member=" + member.ID + "&result=success": 1,
		"?member=" + ten.AdminID:                   3,
		"?from=" + mid.Format(time.RFC3339):        3, // mid is the instant of the password_not_set attempt
		"?to=" + mid.Format(time.RFC3339):          4,
		"?from=" + start.Add(-time.Hour).Format(time.RFC3339) + "&to=" + start.Add(-time.Minute).Format(time.RFC3339): 0,
	} {
		if got := count(q); got != n {
			t.Errorf("logs%s: %d items, want %d", q, got, n)
		}
	}

	// Paging: two at a time, newest first, no repeats, no cursor at the end.
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := s.Do(t, "GET", "/v1/admin/login-logs"+q, admin, nil)
		want(t, "page", r, 200, "")
		for _, it := range r.Body["items"].([]any) {
			id := it.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("log %s on two pages", id)
			}
			seen[id] = true
		}
		pages++
		if cursor = r.Str("nextCursor"); cursor == "" || pages > 10 {
			break
		}
	}
	if len(seen) != 6 {
		t.Errorf("paging saw %d logs, want 6", len(seen))
	}
}

func maskAcc(a string) string {
	if len(a) <= 4 {
		return a[:1] + strings.Repeat("*", len(a)-1)
	}
	return a[:2] + strings.Repeat("*", len(a)-3) + a[len(a)-1:]
}
