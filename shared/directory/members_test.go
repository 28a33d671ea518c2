package directory_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"workbench/infra/stacktest"
	"workbench/shared/directory"
)

func createMember(tb testing.TB, s *testStack, token string, body map[string]any) directory.Member {
	tb.Helper()
	r := s.do(tb, "POST", "/v1/admin/members", token, body)
	stacktest.Want(tb, r, http.StatusCreated)
	var m directory.Member
	r.Decode(tb, &m)
	return m
}

func TestCreateMember(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	mobile := s.mobile()
	m := createMember(t, s, tn.Token, map[string]any{
		"name": " 张三 ", "mobile": "+86" + mobile, "email": "zs@Example.com", "position": "工程师", "employeeNo": "E-001",
	})
	if m.Name != "张三" || m.Mobile != mobile || m.Account != "zhangsan" || m.Email != "zs@example.com" ||
		m.Role != "member" || !m.Enabled || m.TenantID != tn.ID || m.Position != "工程师" || m.EmployeeNo != "E-001" {
		t.Fatalf("created %+v", m)
	}
	sms := s.SMS.to(mobile)
	if len(sms) != 1 || !strings.Contains(sms[0], "https://"+tn.Code+".workbench.example.com/login") || !strings.Contains(sms[0], "zhangsan") {
		t.Fatalf("SMS to the new member: %q", sms)
	}
	r := s.do(t, "GET", "/v1/members/"+m.ID, tn.Token, nil)
	stacktest.Want(t, r, http.StatusOK)
	var got directory.Member
	r.Decode(t, &got)
	if got.Name != "张三" || got.Mobile != mobile || got.Account != "zhangsan" {
		t.Fatalf("read back %+v", got)
	}

	// A second 张三 gets a numbered account; a given account is kept (lower case).
	m2 := createMember(t, s, tn.Token, map[string]any{"name": "张三", "mobile": s.mobile()})
	if m2.Account != "zhangsan2" {
		t.Fatalf("second generated account %q, want zhangsan2", m2.Account)
	}
	m3 := createMember(t, s, tn.Token, map[string]any{"name": "李四", "mobile": s.mobile(), "account": "Li_Si-1", "role": "admin"})
	if m3.Account != "li_si-1" || m3.Role != "admin" {
		t.Fatalf("given account/role: %+v", m3)
	}
}

func TestCreateMemberRejectsBadInput(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	long := strings.Repeat("张", 21)
	tests := []struct {
		body        map[string]any
		code, field string
	}{
		{map[string]any{"mobile": "13800000001"}, "invalid_name", "name"},
		{map[string]any{"name": long, "mobile": "13800000001"}, "invalid_name", "name"},
		{map[string]any{"name": "张三😀", "mobile": "13800000001"}, "invalid_name", "name"},
		{map[string]any{"name": "张三!", "mobile": "13800000001"}, "invalid_name", "name"},
		{map[string]any{"name": "张三"}, "invalid_mobile", "mobile"},
		{map[string]any{"name": "张三", "mobile": "1380000000"}, "invalid_mobile", "mobile"},
		{map[string]any{"name": "张三", "mobile": "23800000001"}, "invalid_mobile", "mobile"},
		{map[string]any{"name": "张三", "mobile": "1380000000a"}, "invalid_mobile", "mobile"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "account": "zhang san"}, "invalid_account", "account"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "account": strings.Repeat("a", 21)}, "invalid_account", "account"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "email": "not-an-email"}, "invalid_email", "email"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "role": "owner"}, "invalid_role", "role"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "employeeNo": "E 1"}, "invalid_employee_no", "employeeNo"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "position": strings.Repeat("x", 65)}, "invalid_position", "position"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "departmentIds": []string{"nope"}}, "department_not_found", "departmentIds"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "fields": map[string]any{"x": "y"}}, "unknown_field", "fields.x"},
		{map[string]any{"name": "张三", "mobile": "13800000001", "nickname": "x"}, "unknown_field", "nickname"},
		{map[string]any{"name": 12, "mobile": "13800000001"}, "", "name"},
	}
	for _, tt := range tests {
		r := s.do(t, "POST", "/v1/admin/members", tn.Token, tt.body)
		code, field := r.ErrorCode()
		if r.Status != http.StatusBadRequest || (tt.code != "" && code != tt.code) || field != tt.field {
			t.Errorf("%v: %d %s, want 400 %s naming %q", tt.body, r.Status, r.Body, tt.code, tt.field)
		}
	}
	// Nothing half-written: the mobile is still free.
	createMember(t, s, tn.Token, map[string]any{"name": "张三", "mobile": "13800000001"})
}

func TestUniqueMobileAndAccount(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	mobile := s.mobile()
	a := createMember(t, s, tn.Token, map[string]any{"name": "王五", "mobile": mobile, "account": "wangwu"})
	r := s.do(t, "POST", "/v1/admin/members", tn.Token, map[string]any{"name": "王五", "mobile": mobile})
	stacktest.Want(t, r, http.StatusConflict, "mobile_taken")
	r = s.do(t, "POST", "/v1/admin/members", tn.Token, map[string]any{"name": "王五", "mobile": s.mobile(), "account": "WangWu"})
	stacktest.Want(t, r, http.StatusConflict, "account_taken")
	// The admin's mobile is reserved too (tenant creation goes through CreateItems).
	r = s.do(t, "POST", "/v1/admin/members", tn.Token, map[string]any{"name": "王五", "mobile": tn.AdminMobile})
	stacktest.Want(t, r, http.StatusConflict, "mobile_taken")

	// Changing the mobile and account moves their reservations.
	newMobile := s.mobile()
	r = s.do(t, "PATCH", "/v1/admin/members/"+a.ID, tn.Token, map[string]any{"mobile": newMobile, "account": "wang5"})
	stacktest.Want(t, r, http.StatusOK)
	createMember(t, s, tn.Token, map[string]any{"name": "赵六", "mobile": mobile, "account": "wangwu"})
	r = s.do(t, "POST", "/v1/admin/members", tn.Token, map[string]any{"name": "赵六", "mobile": newMobile})
	stacktest.Want(t, r, http.StatusConflict, "mobile_taken")
	r = s.do(t, "POST", "/v1/admin/members", tn.Token, map[string]any{"name": "赵六", "mobile": s.mobile(), "account": "Wang5"})
	stacktest.Want(t, r, http.StatusConflict, "account_taken")
	// A change onto a taken value is a 409 and changes nothing.
	r = s.do(t, "PATCH", "/v1/admin/members/"+a.ID, tn.Token, map[string]any{"mobile": mobile, "name": "王五五"})
	stacktest.Want(t, r, http.StatusConflict, "mobile_taken")
	var got directory.Member
	s.do(t, "GET", "/v1/members/"+a.ID, tn.Token, nil).Decode(t, &got)
	if got.Name != "王五" || got.Mobile != newMobile || got.Account != "wang5" {
		t.Fatalf("after refused change: %+v", got)
	}
}

// retried sends a request as a well-behaved client does: a 503 (the
// stack too busy to answer in time; the write may or may not have
// committed) is sent again after its Retry-After, a bounded number of
// times. It returns the first answer and the last.
func retried(tb testing.TB, s *testStack, method, path, token string, body any) (first, last stacktest.Response) {
	tb.Helper()
	first = s.do(tb, method, path, token, body)
	last = first
	for try := 0; last.Status == http.StatusServiceUnavailable && try < 10; try++ {
		wait, err := strconv.Atoi(last.Header.Get("Retry-After"))
		if err != nil || wait < 1 {
			tb.Fatalf("%s %s: 503 without Retry-After: %s", method, path, last.Body)
		}
		time.Sleep(time.Duration(wait) * time.Second)
		last = s.do(tb, method, path, token, body)
	}
	return first, last
}

// race sends n requests at once, body(i) for the i-th, each retried on
// 503, and counts the final answers by status. It fails the test on any
// status but those wanted, and returns the first and the final answers.
func race(t *testing.T, s *testStack, token string, n int, body func(i int) map[string]any, want ...int) (firsts, finals []stacktest.Response) {
	t.Helper()
	finals = make([]stacktest.Response, n)
	firsts = make([]stacktest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			firsts[i], finals[i] = retried(t, s, "POST", "/v1/admin/members", token, body(i))
		}()
	}
	wg.Wait()
	for i, r := range finals {
		if !slices.Contains(want, r.Status) {
			t.Fatalf("request %d: status %d (first %d), want one of %v: %s", i, r.Status, firsts[i].Status, want, r.Body)
		}
	}
	return firsts, finals
}

// count returns how many of rs have status.
func count(rs []stacktest.Response, status int) int {
	n := 0
	for _, r := range rs {
		if r.Status == status {
			n++
		}
	}
	return n
}

// members lists the tenant's members matching q, retrying a busy stack.
func members(t *testing.T, s *testStack, token, q string) []directory.Member {
	t.Helper()
	_, r := retried(t, s, "GET", "/v1/members?q="+url.QueryEscape(q), token, nil)
	stacktest.Want(t, r, http.StatusOK)
	var page struct{ Items []directory.Member }
	r.Decode(t, &page)
	return page.Items
}

// Concurrent creations of one mobile or one account have one winner. On a
// loaded machine some requests wait past the function's timeout behind the
// local emulator and answer 503 (their write may have committed): the test
// retries them as a client would, and proves the single winner by what the
// table holds, not only by counting 201s.
func TestConcurrentDuplicateCreation(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	mobile := s.mobile()
	const n = 6
	firsts, finals := race(t, s, tn.Token, n, func(i int) map[string]any {
		return map[string]any{"name": fmt.Sprintf("并发%d", i), "mobile": mobile}
	}, http.StatusCreated, http.StatusConflict)
	created := count(finals, http.StatusCreated)
	if created > 1 || created == 0 && count(firsts, http.StatusServiceUnavailable) == 0 {
		t.Fatalf("%d creations of one mobile answered 201, want exactly 1 (or none when a winner's answer was a 503)", created)
	}
	if got := members(t, s, tn.Token, mobile); len(got) != 1 {
		t.Fatalf("members with the mobile: %d", len(got))
	}

	// The same for an account, given in different cases.
	firsts, finals = race(t, s, tn.Token, n, func(i int) map[string]any {
		account := "Dup"
		if i%2 == 0 {
			account = "dUP"
		}
		return map[string]any{"name": "并发", "mobile": s.mobile(), "account": account}
	}, http.StatusCreated, http.StatusConflict)
	created = count(finals, http.StatusCreated)
	if created > 1 || created == 0 && count(firsts, http.StatusServiceUnavailable) == 0 {
		t.Fatalf("%d creations of one account answered 201, want exactly 1 (or none when a winner's answer was a 503)", created)
	}
	if got := members(t, s, tn.Token, "dup"); len(got) != 1 || !strings.EqualFold(got[0].Account, "dup") {
		t.Fatalf("members with the account: %+v", got)
	}

	// Generated accounts under concurrency: all succeed, all distinct. A
	// retried create whose first try committed answers mobile_taken; the
	// listing shows every member either way.
	mobiles := make([]string, n)
	for i := range mobiles {
		mobiles[i] = s.mobile()
	}
	firsts, finals = race(t, s, tn.Token, n, func(i int) map[string]any {
		return map[string]any{"name": "同名", "mobile": mobiles[i]}
	}, http.StatusCreated, http.StatusConflict)
	for i, r := range finals {
		code, _ := r.ErrorCode()
		if r.Status == http.StatusConflict && (code != "mobile_taken" || firsts[i].Status != http.StatusServiceUnavailable) {
			t.Fatalf("generated account %d: %d after %d: %s", i, r.Status, firsts[i].Status, r.Body)
		}
	}
	seen := map[string]bool{}
	for _, m := range mobiles {
		got := members(t, s, tn.Token, m)
		if len(got) != 1 {
			t.Fatalf("members with mobile %s: %d", m, len(got))
		}
		if seen[got[0].Account] {
			t.Fatalf("account %q given twice", got[0].Account)
		}
		seen[got[0].Account] = true
	}
}

func TestLastAdmin(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	r := s.do(t, "PATCH", "/v1/admin/members/"+tn.AdminID, tn.Token, map[string]any{"role": "member"})
	stacktest.Want(t, r, http.StatusConflict, "last_admin")
	r = s.do(t, "PUT", "/v1/admin/members/"+tn.AdminID+"/status", tn.Token, map[string]any{"enabled": false})
	stacktest.Want(t, r, http.StatusConflict, "last_admin")
	r = s.do(t, "DELETE", "/v1/admin/members/"+tn.AdminID, tn.Token, nil)
	stacktest.Want(t, r, http.StatusConflict, "last_admin")

	other := createMember(t, s, tn.Token, map[string]any{"name": "副管理员", "mobile": s.mobile(), "role": "admin"})
	r = s.do(t, "PATCH", "/v1/admin/members/"+tn.AdminID, tn.Token, map[string]any{"role": "member"})
	stacktest.Want(t, r, http.StatusOK)
	// The demoted admin is a member now: admin routes are 403.
	r = s.do(t, "POST", "/v1/admin/members", tn.Token, map[string]any{"name": "某人", "mobile": s.mobile()})
	stacktest.Want(t, r, http.StatusForbidden, "admin_only")
	otherToken := s.token(t, tn.ID, tn.Code, other.ID)
	r = s.do(t, "PUT", "/v1/admin/members/"+other.ID+"/status", otherToken, map[string]any{"enabled": false})
	stacktest.Want(t, r, http.StatusConflict, "last_admin")
	// Disabled admins do not count: re-promote, disable one, the other is last.
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+tn.AdminID, otherToken, map[string]any{"role": "admin"}), http.StatusOK)
	stacktest.Want(t, s.do(t, "PUT", "/v1/admin/members/"+tn.AdminID+"/status", otherToken, map[string]any{"enabled": false}), http.StatusOK)
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/members/"+other.ID, otherToken, nil), http.StatusConflict, "last_admin")
	// The disabled admin's token stops working.
	stacktest.Want(t, s.do(t, "GET", "/v1/members", tn.Token, nil), http.StatusUnauthorized, "account_disabled")
}

func TestMemberStatusUpdateDelete(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	m := createMember(t, s, tn.Token, map[string]any{"name": "孙七", "mobile": s.mobile()})
	token := s.token(t, tn.ID, tn.Code, m.ID)
	stacktest.Want(t, s.do(t, "GET", "/v1/members/"+m.ID, token, nil), http.StatusOK)
	stacktest.Want(t, s.do(t, "POST", "/v1/admin/members", token, map[string]any{"name": "x", "mobile": s.mobile()}), http.StatusForbidden, "admin_only")
	stacktest.Want(t, s.do(t, "PUT", "/v1/admin/members/"+m.ID+"/status", tn.Token, map[string]any{}), http.StatusBadRequest, "invalid_enabled")
	r := s.do(t, "PUT", "/v1/admin/members/"+m.ID+"/status", tn.Token, map[string]any{"enabled": false})
	stacktest.Want(t, r, http.StatusOK)
	stacktest.Want(t, s.do(t, "GET", "/v1/members/"+m.ID, token, nil), http.StatusUnauthorized, "account_disabled")
	stacktest.Want(t, s.do(t, "PUT", "/v1/admin/members/"+m.ID+"/status", tn.Token, map[string]any{"enabled": true}), http.StatusOK)
	// Disabling ended the old session for good; a new login works.
	stacktest.Want(t, s.do(t, "GET", "/v1/members/"+m.ID, token, nil), http.StatusUnauthorized, "session_revoked")
	token = s.token(t, tn.ID, tn.Code, m.ID)
	stacktest.Want(t, s.do(t, "GET", "/v1/members/"+m.ID, token, nil), http.StatusOK)

	r = s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"name": "孙八", "email": "s8@example.com", "position": "经理"})
	stacktest.Want(t, r, http.StatusOK)
	var got directory.Member
	r.Decode(t, &got)
	if got.Name != "孙八" || got.Email != "s8@example.com" || got.Position != "经理" || got.Account != m.Account {
		t.Fatalf("patched %+v", got)
	}
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"name": ""}), http.StatusBadRequest, "invalid_name")
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"account": ""}), http.StatusBadRequest, "invalid_account")
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/nope", tn.Token, map[string]any{"name": "x"}), http.StatusNotFound, "member_not_found")

	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/members/"+m.ID, tn.Token, nil), http.StatusNoContent)
	stacktest.Want(t, s.do(t, "GET", "/v1/members/"+m.ID, tn.Token, nil), http.StatusNotFound, "member_not_found")
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/members/"+m.ID, tn.Token, nil), http.StatusNotFound)
	// Its mobile and account are free again, and search no longer finds it.
	createMember(t, s, tn.Token, map[string]any{"name": "孙九", "mobile": m.Mobile, "account": m.Account})
	var page struct{ Items []directory.Member }
	s.do(t, "GET", "/v1/members?q=孙八", tn.Token, nil).Decode(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("deleted member still found: %+v", page.Items)
	}
}

func TestCrossTenantIsolation(t *testing.T) {
	s := newStack(t)
	a, b := s.newTenant(t), s.newTenant(t)
	m := createMember(t, s, a.Token, map[string]any{"name": "周八", "mobile": s.mobile()})
	stacktest.Want(t, s.do(t, "GET", "/v1/members/"+m.ID, b.Token, nil), http.StatusNotFound)
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+m.ID, b.Token, map[string]any{"name": "x"}), http.StatusNotFound)
	stacktest.Want(t, s.do(t, "PUT", "/v1/admin/members/"+m.ID+"/status", b.Token, map[string]any{"enabled": false}), http.StatusNotFound)
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/members/"+m.ID, b.Token, nil), http.StatusNotFound)
	stacktest.Want(t, s.do(t, "PUT", "/v1/me/frequent-contacts/"+m.ID, b.Token, nil), http.StatusNotFound)
	var page struct{ Items []directory.Member }
	s.do(t, "GET", "/v1/members?q=周八", b.Token, nil).Decode(t, &page)
	if len(page.Items) != 0 {
		t.Fatal("tenant b finds tenant a's member")
	}
	s.do(t, "GET", "/v1/members", b.Token, nil).Decode(t, &page)
	for _, x := range page.Items {
		if x.TenantID != b.ID {
			t.Fatalf("tenant b lists %+v", x)
		}
	}
	// The same mobile may be in both tenants.
	createMember(t, s, b.Token, map[string]any{"name": "周八", "mobile": m.Mobile})
	// Departments are per tenant.
	r := s.do(t, "POST", "/v1/admin/departments", a.Token, map[string]any{"name": "研发部"})
	stacktest.Want(t, r, http.StatusCreated)
	var d directory.Department
	r.Decode(t, &d)
	stacktest.Want(t, s.do(t, "POST", "/v1/admin/members", b.Token, map[string]any{"name": "x", "mobile": s.mobile(), "departmentIds": []string{d.ID}}), http.StatusBadRequest, "department_not_found")
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/departments/"+d.ID, b.Token, nil), http.StatusNotFound)
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/departments/"+d.ID, b.Token, map[string]any{"name": "x"}), http.StatusNotFound)
	// No token, a bad token.
	stacktest.Want(t, s.do(t, "GET", "/v1/members", "", nil), http.StatusUnauthorized)
	stacktest.Want(t, s.do(t, "GET", "/v1/members", "garbage", nil), http.StatusUnauthorized)
}
