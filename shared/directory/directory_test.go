package directory_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/directory"
)

func createDepartment(tb testing.TB, s *testStack, token, name, parent string) directory.Department {
	tb.Helper()
	r := s.do(tb, "POST", "/v1/admin/departments", token, map[string]any{"name": name, "parentId": parent})
	stacktest.Want(tb, r, http.StatusCreated)
	var d directory.Department
	r.Decode(tb, &d)
	return d
}

func TestDepartments(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	hq := createDepartment(t, s, tn.Token, "总部", "")
	rd := createDepartment(t, s, tn.Token, "研发部", hq.ID)
	be := createDepartment(t, s, tn.Token, "后端组", rd.ID)
	sales := createDepartment(t, s, tn.Token, "销售部", hq.ID)

	stacktest.Want(t, s.do(t, "POST", "/v1/admin/departments", tn.Token, map[string]any{"name": ""}), http.StatusBadRequest, "invalid_department_name")
	stacktest.Want(t, s.do(t, "POST", "/v1/admin/departments", tn.Token, map[string]any{"name": strings.Repeat("部", 31)}), http.StatusBadRequest, "invalid_department_name")
	stacktest.Want(t, s.do(t, "POST", "/v1/admin/departments", tn.Token, map[string]any{"name": "x", "parentId": "nope"}), http.StatusBadRequest, "department_not_found")

	var tree struct {
		Items []*directory.Department
	}
	r := s.do(t, "GET", "/v1/departments", tn.Token, nil)
	stacktest.Want(t, r, http.StatusOK)
	r.Decode(t, &tree)
	// Children are ordered by name: 研发部 (U+7814) before 销售部 (U+9500).
	if len(tree.Items) != 1 || tree.Items[0].ID != hq.ID || len(tree.Items[0].Sub) != 2 ||
		tree.Items[0].Sub[0].ID != rd.ID || len(tree.Items[0].Sub[0].Sub) != 1 || tree.Items[0].Sub[0].Sub[0].ID != be.ID ||
		tree.Items[0].Sub[1].ID != sales.ID {
		t.Fatalf("tree %s", r.Body)
	}
	// Moves that make a cycle are 400.
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/departments/"+hq.ID, tn.Token, map[string]any{"parentId": be.ID}), http.StatusBadRequest, "department_cycle")
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/departments/"+rd.ID, tn.Token, map[string]any{"parentId": rd.ID}), http.StatusBadRequest, "department_cycle")
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/departments/"+rd.ID, tn.Token, map[string]any{"parentId": "nope"}), http.StatusBadRequest, "department_not_found")
	// Rename and move.
	r = s.do(t, "PATCH", "/v1/admin/departments/"+be.ID, tn.Token, map[string]any{"name": "服务端组", "parentId": sales.ID})
	stacktest.Want(t, r, http.StatusOK)
	var moved directory.Department
	r.Decode(t, &moved)
	if moved.Name != "服务端组" || moved.ParentID != sales.ID {
		t.Fatalf("moved %+v", moved)
	}
	// A move under a sibling, whose ancestor is the old parent.
	x := createDepartment(t, s, tn.Token, "临时组", hq.ID)
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/departments/"+x.ID, tn.Token, map[string]any{"parentId": sales.ID}), http.StatusOK)
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/departments/"+x.ID, tn.Token, map[string]any{"parentId": ""}), http.StatusOK)
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/departments/"+x.ID, tn.Token, nil), http.StatusNoContent)
	// Members belong to departments; list by department.
	m := createMember(t, s, tn.Token, map[string]any{"name": "吴九", "mobile": s.mobile(), "departmentIds": []string{rd.ID, be.ID}})
	createMember(t, s, tn.Token, map[string]any{"name": "郑十", "mobile": s.mobile(), "departmentIds": []string{sales.ID}})
	var page struct{ Items []directory.Member }
	s.do(t, "GET", "/v1/members?department="+rd.ID, tn.Token, nil).Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != m.ID {
		t.Fatalf("members of rd: %+v", page.Items)
	}
	// A department with members or children cannot be deleted.
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/departments/"+rd.ID, tn.Token, nil), http.StatusConflict, "department_not_empty")
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/departments/"+sales.ID, tn.Token, nil), http.StatusConflict, "department_not_empty")
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"departmentIds": []string{be.ID}}), http.StatusOK)
	s.do(t, "GET", "/v1/members?department="+rd.ID, tn.Token, nil).Decode(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("rd still lists %+v", page.Items)
	}
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/departments/"+rd.ID, tn.Token, nil), http.StatusNoContent)
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/departments/"+rd.ID, tn.Token, nil), http.StatusNotFound)
	// Members may not join departments that do not exist (any more).
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"departmentIds": []string{rd.ID}}), http.StatusBadRequest, "department_not_found")
	// Members cannot manage departments.
	token := s.token(t, tn.ID, tn.Code, m.ID)
	stacktest.Want(t, s.do(t, "POST", "/v1/admin/departments", token, map[string]any{"name": "x"}), http.StatusForbidden, "admin_only")
	stacktest.Want(t, s.do(t, "GET", "/v1/departments", token, nil), http.StatusOK)
}

func TestCustomFields(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	defs := []map[string]any{
		{"code": "hired", "name": "入职日期", "type": "date", "required": true},
		{"code": "level", "name": "职级", "type": "single", "options": []string{"P5", "P6"}},
		{"code": "skills", "name": "技能", "type": "multi", "options": []string{"Go", "SQL"}},
		{"code": "note", "name": "备注", "type": "text", "description": "自由文本"},
	}
	r := s.do(t, "PUT", "/v1/admin/directory-fields", tn.Token, defs)
	stacktest.Want(t, r, http.StatusOK)
	var got struct{ Items []directory.Field }
	s.do(t, "GET", "/v1/admin/directory-fields", tn.Token, nil).Decode(t, &got)
	if len(got.Items) != 4 || got.Items[1].Options[1] != "P6" || !got.Items[0].Required {
		t.Fatalf("fields %+v", got.Items)
	}
	bad := []struct {
		defs  any
		code  string
		field string
	}{
		{[]map[string]any{{"code": "a b", "name": "x", "type": "text"}}, "invalid_field_code", "items[0].code"},
		{[]map[string]any{{"code": strings.Repeat("a", 65), "name": "x", "type": "text"}}, "invalid_field_code", "items[0].code"},
		{[]map[string]any{{"code": "a", "name": strings.Repeat("名", 16), "type": "text"}}, "invalid_field_name", "items[0].name"},
		{[]map[string]any{{"code": "a", "name": "x", "type": "number"}}, "invalid_field_type", "items[0].type"},
		{[]map[string]any{{"code": "a", "name": "职\n级", "type": "text"}}, "invalid_text", "items[0].name"},
		{[]map[string]any{{"code": "a", "name": "x", "type": "single", "options": []string{"P5", "P\t6"}}}, "invalid_text", "items[0].options[1]"},
		{[]map[string]any{{"code": "a", "name": "x", "type": "single", "options": []string{"P5", "P\u202e6"}}}, "invalid_text", "items[0].options[1]"},
		{[]map[string]any{{"code": "a", "name": "x", "type": "single"}}, "invalid_field_options", "items[0].options"},
		{[]map[string]any{{"code": "a", "name": "x", "type": "text", "description": strings.Repeat("d", 257)}}, "invalid_field_description", "items[0].description"},
		{[]map[string]any{{"code": "a", "name": "x", "type": "text"}, {"code": "a", "name": "y", "type": "text"}}, "duplicate_field_code", "items[1].code"},
		{[]map[string]any{{"code": "level", "name": "职级", "type": "text"}}, "field_type_immutable", "items[0].type"},
		// An object without the list, or null, never reads as "delete them all".
		{map[string]any{}, "field_required", "items"},
		{json.RawMessage(`null`), "malformed_json", ""}, // the decoder refuses a null body
		{map[string]any{"items": []any{}, "fields": []any{}}, "ambiguous_fields", "items"},
		{[]map[string]any{{"code": "a", "name": "x", "type": "text", "bogus": 1}}, "unknown_field", "items[0].bogus"},
		{map[string]any{"items": []map[string]any{{"code": "a", "name": "x", "type": "text", "bogus": 1}}}, "unknown_field", "items[0].bogus"},
	}
	for _, tt := range bad {
		r := s.do(t, "PUT", "/v1/admin/directory-fields", tn.Token, tt.defs)
		code, field := r.ErrorCode()
		if r.Status != 400 || code != tt.code || field != tt.field {
			t.Errorf("%v: %d %s, want %s %s", tt.defs, r.Status, r.Body, tt.code, tt.field)
		}
	}
	many := make([]map[string]any, 51)
	for i := range many {
		many[i] = map[string]any{"code": "f" + strings.Repeat("x", i), "name": "x", "type": "text"}
	}
	stacktest.Want(t, s.do(t, "PUT", "/v1/admin/directory-fields", tn.Token, many), http.StatusBadRequest, "too_many_fields")

	mobile := s.mobile()
	values := []struct {
		fields map[string]any
		code   string
		field  string
	}{
		{map[string]any{}, "field_required", "fields.hired"},
		{map[string]any{"hired": "2024-13-01"}, "invalid_field_value", "fields.hired"},
		{map[string]any{"hired": 20240101}, "invalid_field_value", "fields.hired"},
		{map[string]any{"hired": "2024-01-01", "level": "P9"}, "invalid_field_value", "fields.level"},
		{map[string]any{"hired": "2024-01-01", "skills": []string{"Go", "Rust"}}, "invalid_field_value", "fields.skills"},
		{map[string]any{"hired": "2024-01-01", "skills": "Go"}, "invalid_field_value", "fields.skills"},
		{map[string]any{"hired": "2024-01-01", "age": "3"}, "unknown_field", "fields.age"},
	}
	for _, tt := range values {
		r := s.do(t, "POST", "/v1/admin/members", tn.Token, map[string]any{"name": "冯十一", "mobile": mobile, "fields": tt.fields})
		code, field := r.ErrorCode()
		if r.Status != 400 || code != tt.code || field != tt.field {
			t.Errorf("%v: %d %s, want %s %s", tt.fields, r.Status, r.Body, tt.code, tt.field)
		}
	}
	m := createMember(t, s, tn.Token, map[string]any{"name": "冯十一", "mobile": mobile,
		"fields": map[string]any{"hired": "2024-01-01", "level": "P6", "skills": []string{"Go", "SQL"}, "note": "hi"}})
	if m.Fields["level"] != "P6" || len(m.Fields["skills"].([]any)) != 2 {
		t.Fatalf("fields %+v", m.Fields)
	}
	r = s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"fields": map[string]any{"note": nil, "level": "P5"}})
	stacktest.Want(t, r, http.StatusOK)
	var patched directory.Member
	r.Decode(t, &patched)
	if patched.Fields["level"] != "P5" || patched.Fields["note"] != nil || patched.Fields["hired"] != "2024-01-01" {
		t.Fatalf("patched fields %+v", patched.Fields)
	}
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"fields": map[string]any{"hired": nil}}), http.StatusBadRequest, "field_required")
	// Members cannot see or change the definitions.
	token := s.token(t, tn.ID, tn.Code, m.ID)
	stacktest.Want(t, s.do(t, "GET", "/v1/admin/directory-fields", token, nil), http.StatusForbidden, "admin_only")
}

func TestInvitationAndRegister(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	r := s.do(t, "POST", "/v1/admin/invitations", tn.Token, map[string]any{"expiresInHours": 24})
	stacktest.Want(t, r, http.StatusCreated)
	var inv directory.Invitation
	r.Decode(t, &inv)
	if inv.Code == "" || inv.URL != "https://"+tn.Code+".workbench.example.com/join?code="+inv.Code || time.Until(inv.ExpiresAt) < 23*time.Hour {
		t.Fatalf("invitation %+v", inv)
	}
	stacktest.Want(t, s.do(t, "POST", "/v1/admin/invitations", tn.Token, map[string]any{"expiresInHours": 0}), http.StatusBadRequest, "invalid_expiry")
	stacktest.Want(t, s.do(t, "POST", "/v1/admin/invitations", tn.Token, map[string]any{"maxUses": 0}), http.StatusBadRequest, "invalid_max_uses")

	mobile := s.mobile()
	reg := map[string]any{"tenant": tn.Code, "invitation": inv.Code, "mobile": mobile, "code": "123456", "name": "陈十二"}
	bad := map[string]any{"tenant": tn.Code, "invitation": inv.Code, "mobile": mobile, "code": "000000", "name": "陈十二"}
	stacktest.Want(t, s.do(t, "POST", "/v1/register", "", bad), http.StatusBadRequest, "invalid_code", "code")
	reg["code"] = s.registerCode(t, tn.Code, mobile)
	for _, tt := range []struct{ key, value, code string }{
		{"mobile", "123", "invalid_mobile"}, {"name", "陈!", "invalid_name"}, {"invitation", "", "invalid_invitation"},
	} {
		b := map[string]any{}
		for k, v := range reg {
			b[k] = v
		}
		b[tt.key] = tt.value
		stacktest.Want(t, s.do(t, "POST", "/v1/register", "", b), http.StatusBadRequest, tt.code)
	}
	stacktest.Want(t, s.do(t, "POST", "/v1/register", "", map[string]any{"tenant": "nope-tenant", "invitation": inv.Code, "mobile": mobile, "code": "123456", "name": "陈十二"}), http.StatusNotFound)
	stacktest.Want(t, s.do(t, "POST", "/v1/register", "", map[string]any{"tenant": tn.Code, "invitation": "WRONG", "mobile": mobile, "code": "123456", "name": "陈十二"}), http.StatusNotFound, "invitation_not_found")

	r = s.do(t, "POST", "/v1/register", "", reg)
	stacktest.Want(t, r, http.StatusOK)
	var out directory.Registered
	r.Decode(t, &out)
	if out.Result != "joined" || out.Member.Account != "chenshier" || !out.Member.Enabled || out.Member.Mobile != mobile {
		t.Fatalf("register %s", r.Body)
	}
	sms := s.SMS.to(mobile) // the code, then the welcome
	if len(sms) != 2 || !strings.Contains(sms[1], "chenshier") || !strings.Contains(sms[1], tn.Code+".workbench.example.com/login") {
		t.Fatalf("SMS %q", sms)
	}
	reg["code"] = s.registerCode(t, tn.Code, mobile)
	r = s.do(t, "POST", "/v1/register", "", reg)
	stacktest.Want(t, r, http.StatusOK)
	r.Decode(t, &out)
	if out.Result != "already_member" || out.Member.ID == "" {
		t.Fatalf("second register %s", r.Body)
	}
	// The admin's own mobile is already a member too.
	reg2 := map[string]any{"tenant": tn.Code, "invitation": inv.Code, "mobile": tn.AdminMobile, "code": s.registerCode(t, tn.Code, tn.AdminMobile), "name": "管理员"}
	s.do(t, "POST", "/v1/register", "", reg2).Decode(t, &out)
	if out.Result != "already_member" {
		t.Fatalf("admin registers: %+v", out)
	}

	// Use limits: a one-use invitation serves one new member, then 410.
	r = s.do(t, "POST", "/v1/admin/invitations", tn.Token, map[string]any{"maxUses": 1})
	stacktest.Want(t, r, http.StatusCreated)
	var once directory.Invitation
	r.Decode(t, &once)
	m1, m2 := s.mobile(), s.mobile()
	stacktest.Want(t, s.do(t, "POST", "/v1/register", "", map[string]any{"tenant": tn.Code, "invitation": once.Code, "mobile": m1, "code": s.registerCode(t, tn.Code, m1), "name": "楚一"}), http.StatusOK)
	stacktest.Want(t, s.do(t, "POST", "/v1/register", "", map[string]any{"tenant": tn.Code, "invitation": once.Code, "mobile": m2, "code": s.registerCode(t, tn.Code, m2), "name": "楚二"}), http.StatusGone, "invitation_used_up")

	// Expiry: 410 once the clock passes it.
	s.advance(25 * time.Hour)
	stacktest.Want(t, s.do(t, "POST", "/v1/register", "", map[string]any{"tenant": tn.Code, "invitation": inv.Code, "mobile": s.mobile(), "code": "123456", "name": "楚三"}), http.StatusGone, "invitation_expired")
}

func search(tb testing.TB, s *testStack, token, q string) []directory.Member {
	tb.Helper()
	r := s.do(tb, "GET", "/v1/members?q="+url.QueryEscape(q), token, nil)
	stacktest.Want(tb, r, http.StatusOK)
	var page struct{ Items []directory.Member }
	r.Decode(tb, &page)
	return page.Items
}

func names(ms []directory.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestSearch(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	zs := createMember(t, s, tn.Token, map[string]any{"name": "张三", "mobile": "13912345678"})
	createMember(t, s, tn.Token, map[string]any{"name": "张三丰", "mobile": s.mobile()})
	createMember(t, s, tn.Token, map[string]any{"name": "李小三", "mobile": s.mobile()})
	createMember(t, s, tn.Token, map[string]any{"name": "曾阿牛", "mobile": s.mobile(), "account": "aniu"})
	createMember(t, s, tn.Token, map[string]any{"name": "欧阳娜娜", "mobile": s.mobile()})
	createMember(t, s, tn.Token, map[string]any{"name": "Alice_Wang", "mobile": s.mobile(), "account": "alice"})

	tests := []struct {
		q     string
		first string
		all   []string
	}{
		{"zs", "张三", []string{"张三", "张三丰"}},
		{"zhangsan", "张三", []string{"张三", "张三丰"}},
		{"zhang", "张三", []string{"张三", "张三丰"}},
		{"zhangsanfeng", "张三丰", []string{"张三丰"}},
		{"zsf", "张三丰", []string{"张三丰"}},
		{"三", "", []string{"张三", "张三丰", "李小三"}},
		{"张三", "张三", []string{"张三", "张三丰"}},
		{"小三", "李小三", []string{"李小三"}},
		{"5678", "张三", []string{"张三"}},
		{"345678", "张三", []string{"张三"}},
		{"13912345678", "张三", []string{"张三"}},
		{"+8613912345678", "张三", []string{"张三"}},
		{"aniu", "曾阿牛", []string{"曾阿牛"}},
		{"zeng", "曾阿牛", []string{"曾阿牛"}}, // 曾 is polyphonic: zeng and ceng
		{"ceng", "曾阿牛", []string{"曾阿牛"}},
		{"oynn", "欧阳娜娜", []string{"欧阳娜娜"}},
		{"ouyangnana", "欧阳娜娜", []string{"欧阳娜娜"}},
		{"欧阳娜", "欧阳娜娜", []string{"欧阳娜娜"}},
		{"ALICE", "Alice_Wang", []string{"Alice_Wang"}},
		{"alice_w", "Alice_Wang", []string{"Alice_Wang"}},
		{"王", "", nil},
		{"1234", "", nil},
	}
	for _, tt := range tests {
		got := search(t, s, tn.Token, tt.q)
		gotNames := names(got)
		if len(gotNames) != len(tt.all) {
			t.Errorf("q=%s: %v, want %v", tt.q, gotNames, tt.all)
			continue
		}
		for _, w := range tt.all {
			if !strings.Contains(strings.Join(gotNames, ","), w) {
				t.Errorf("q=%s: %v, want %v", tt.q, gotNames, tt.all)
			}
		}
		if tt.first != "" && gotNames[0] != tt.first {
			t.Errorf("q=%s: first %s, want %s (%v)", tt.q, gotNames[0], tt.first, gotNames)
		}
	}
	// Renaming moves the search tokens.
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+zs.ID, tn.Token, map[string]any{"name": "钱多多", "mobile": "13987654321"}), http.StatusOK)
	if got := names(search(t, s, tn.Token, "5678")); len(got) != 0 {
		t.Fatalf("old mobile still found: %v", got)
	}
	if got := names(search(t, s, tn.Token, "qdd")); len(got) != 1 || got[0] != "钱多多" {
		t.Fatalf("new name: %v", got)
	}
	if got := names(search(t, s, tn.Token, "zs")); len(got) != 1 || got[0] != "张三丰" {
		t.Fatalf("old name: %v", got)
	}
	stacktest.Want(t, s.do(t, "GET", "/v1/members?q="+url.QueryEscape(strings.Repeat("a", 65)), tn.Token, nil), http.StatusBadRequest)
	if got := search(t, s, tn.Token, " "); len(got) != 7 {
		t.Fatalf("an empty q lists every member: %v", names(got))
	}
	stacktest.Want(t, s.do(t, "GET", "/v1/members?limit=0", tn.Token, nil), http.StatusBadRequest)
	stacktest.Want(t, s.do(t, "GET", "/v1/members?cursor=zzz", tn.Token, nil), http.StatusBadRequest, "invalid_cursor")
}

func TestListPages(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	for i := 0; i < 5; i++ {
		createMember(t, s, tn.Token, map[string]any{"name": "成员" + string(rune('甲'+i)), "mobile": s.mobile()})
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		r := s.do(t, "GET", "/v1/members?limit=2&cursor="+cursor, tn.Token, nil)
		stacktest.Want(t, r, http.StatusOK)
		var page struct {
			Items      []directory.Member
			NextCursor string
		}
		r.Decode(t, &page)
		for _, m := range page.Items {
			seen[m.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
		if pages > 5 {
			t.Fatal("too many pages")
		}
	}
	if len(seen) != 6 {
		t.Fatalf("listed %d members, want 6", len(seen))
	}
}

func TestFrequentContacts(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	a := createMember(t, s, tn.Token, map[string]any{"name": "甲", "mobile": s.mobile()})
	b := createMember(t, s, tn.Token, map[string]any{"name": "乙", "mobile": s.mobile()})
	c := createMember(t, s, tn.Token, map[string]any{"name": "丙", "mobile": s.mobile()})
	ctx := context.Background()
	now := time.Now()
	// b: often but long ago; c: a little, recently.
	for i := 0; i < 4; i++ {
		if err := s.Contacts.Touch(ctx, tn.ID, tn.AdminID, []string{b.ID, tn.AdminID}, now.Add(-60*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Contacts.Touch(ctx, tn.ID, tn.AdminID, []string{c.ID}, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	var list struct{ Items []directory.Contact }
	r := s.do(t, "GET", "/v1/me/frequent-contacts", tn.Token, nil)
	stacktest.Want(t, r, http.StatusOK)
	r.Decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].Member.ID != c.ID || list.Items[1].Member.ID != b.ID || list.Items[1].Count != 4 {
		t.Fatalf("ranked %s", r.Body)
	}
	// Frequency counts too: many recent contacts beat one.
	for i := 0; i < 3; i++ {
		if err := s.Contacts.Touch(ctx, tn.ID, tn.AdminID, []string{b.ID}, now.Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	s.do(t, "GET", "/v1/me/frequent-contacts", tn.Token, nil).Decode(t, &list)
	if list.Items[0].Member.ID != b.ID {
		t.Fatalf("after more contacts with b: %+v", names([]directory.Member{list.Items[0].Member, list.Items[1].Member}))
	}
	// By hand.
	stacktest.Want(t, s.do(t, "PUT", "/v1/me/frequent-contacts/"+a.ID, tn.Token, nil), http.StatusNoContent)
	stacktest.Want(t, s.do(t, "PUT", "/v1/me/frequent-contacts/nope", tn.Token, nil), http.StatusNotFound)
	stacktest.Want(t, s.do(t, "PUT", "/v1/me/frequent-contacts/"+tn.AdminID, tn.Token, nil), http.StatusBadRequest, "invalid_contact")
	s.do(t, "GET", "/v1/me/frequent-contacts", tn.Token, nil).Decode(t, &list)
	if len(list.Items) != 3 || list.Items[0].Member.ID != a.ID || !list.Items[0].Manual {
		t.Fatalf("after manual add: %+v", list.Items)
	}
	stacktest.Want(t, s.do(t, "DELETE", "/v1/me/frequent-contacts/"+a.ID, tn.Token, nil), http.StatusNoContent)
	s.do(t, "GET", "/v1/me/frequent-contacts", tn.Token, nil).Decode(t, &list)
	if len(list.Items) != 2 {
		t.Fatalf("after removal: %+v", list.Items)
	}
	// Another member's list is their own.
	token := s.token(t, tn.ID, tn.Code, a.ID)
	s.do(t, "GET", "/v1/me/frequent-contacts", token, nil).Decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("a's list: %+v", list.Items)
	}
	// Top 20 only.
	var many []string
	for i := 0; i < 22; i++ {
		m := createMember(t, s, tn.Token, map[string]any{"name": "多" + string(rune('甲'+i)), "mobile": s.mobile()})
		many = append(many, m.ID)
	}
	if err := s.Contacts.Touch(ctx, tn.ID, a.ID, many, now); err != nil {
		t.Fatal(err)
	}
	s.do(t, "GET", "/v1/me/frequent-contacts", token, nil).Decode(t, &list)
	if len(list.Items) != 20 {
		t.Fatalf("%d frequent contacts, want the top 20", len(list.Items))
	}
}

// scan returns every item of a table.
func scan(tb testing.TB, s *testStack, table string) []map[string]types.AttributeValue {
	tb.Helper()
	var out []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		res, err := s.DB.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, res.Items...)
		if start = res.LastEvaluatedKey; start == nil {
			return out
		}
	}
}

func TestNoPlaintextPersonalData(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	mobile := s.mobile()
	m := createMember(t, s, tn.Token, map[string]any{"name": "慕容复", "mobile": mobile, "email": "murong.fu@example.com"})
	d := createDepartment(t, s, tn.Token, "燕子坞", "")
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"departmentIds": []string{d.ID}}), http.StatusOK)
	if err := s.Contacts.Touch(context.Background(), tn.ID, tn.AdminID, []string{m.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := s.do(t, "POST", "/v1/admin/invitations", tn.Token, map[string]any{})
	var inv directory.Invitation
	r.Decode(t, &inv)
	regMobile := s.mobile()
	stacktest.Want(t, s.do(t, "POST", "/v1/register", "", map[string]any{"tenant": tn.Code, "invitation": inv.Code, "mobile": regMobile, "code": s.registerCode(t, tn.Code, regMobile), "name": "王语嫣"}), http.StatusOK)

	// The account is a login name, stored as it is (it is not among the
	// personal data SPEC.md §7 seals).
	secrets := []string{"慕容复", "慕容", mobile, mobile[3:], mobile[7:], "murong.fu", "example.com",
		"王语嫣", regMobile, regMobile[7:], tn.AdminMobile, "管理员"}
	items := 0
	for _, table := range s.Tables {
		for _, it := range scan(t, s, table) {
			items++
			var plain map[string]any
			if err := attributevalue.UnmarshalMap(it, &plain); err != nil {
				t.Fatal(err)
			}
			dump := strings.ToLower(strings.Join(flatten(plain), "\x00"))
			for _, secret := range secrets {
				if strings.Contains(dump, strings.ToLower(secret)) {
					t.Errorf("table %s holds %q in plain text: %v", table, secret, plain)
				}
			}
		}
	}
	if items < 20 {
		t.Fatalf("only %d items scanned", items)
	}
	// The data is there, sealed: the API reads it back.
	var got directory.Member
	s.do(t, "GET", "/v1/members/"+m.ID, tn.Token, nil).Decode(t, &got)
	if got.Name != "慕容复" || got.Mobile != mobile || got.Email != "murong.fu@example.com" {
		t.Fatalf("read back %+v", got)
	}
}

func flatten(v any) []string {
	switch x := v.(type) {
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, k)
			out = append(out, flatten(e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	case string:
		return []string{x}
	}
	return nil
}

func TestEventsWrittenWithChanges(t *testing.T) {
	s := newStack(t)
	tn := s.newTenant(t)
	d := createDepartment(t, s, tn.Token, "财务部", "")
	m := createMember(t, s, tn.Token, map[string]any{"name": "段誉", "mobile": s.mobile(), "departmentIds": []string{d.ID}})
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/members/"+m.ID, tn.Token, map[string]any{"departmentIds": []string{}}), http.StatusOK)
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/members/"+m.ID, tn.Token, nil), http.StatusNoContent)
	stacktest.Want(t, s.do(t, "PATCH", "/v1/admin/departments/"+d.ID, tn.Token, map[string]any{"name": "财务中心"}), http.StatusOK)
	stacktest.Want(t, s.do(t, "DELETE", "/v1/admin/departments/"+d.ID, tn.Token, nil), http.StatusNoContent)
	// A refused change writes no event.
	stacktest.Want(t, s.do(t, "POST", "/v1/admin/members", tn.Token, map[string]any{"name": "x", "mobile": tn.AdminMobile}), http.StatusConflict)

	res, err := s.DB.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 aws.String(s.Tables["DirectoryTable"]),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: directory.EventPK(tn.ID)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var events []directory.Event
	if err := attributevalue.UnmarshalListOfMaps(res.Items, &events); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Type)
	}
	wantTypes := "member.created department.created member.created member.updated member.deleted department.updated department.deleted"
	if strings.Join(got, " ") != wantTypes {
		t.Fatalf("events %v, want %s", got, wantTypes)
	}
	if upd := events[3]; upd.MemberID != m.ID || len(upd.DepartmentIDs) != 1 || upd.DepartmentIDs[0] != d.ID {
		t.Fatalf("member.updated event %+v", upd)
	}
}
