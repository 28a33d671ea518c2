package memberimport_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"workbench/infra/stacktest"
	"workbench/shared/memberimport"
)

// TestImportCSVThenAgainThenExport drives the routes end to end: a CSV with
// a BOM and Chinese headers, departments created on the way, a custom
// field, rows that fail with what POST /v1/admin/members answers for them,
// an idempotent re-upload, create-only, the error report and the export
// imported back unchanged.
func TestImportCSVThenAgainThenExport(t *testing.T) {
	st := newStack(t)
	tn := st.NewTenant(t)
	tok := tn.Admin.Token
	stacktest.Want(t, st.Call(t, "PUT", "/v1/admin/directory-fields", tok, []map[string]any{
		{"code": "level", "name": "职级", "type": "single", "options": []string{"P5", "P6"}},
		{"code": "skills", "name": "技能", "type": "multi", "options": []string{"焊接", "装配"}},
	}), 200)

	bad := []struct{ name, mobile string }{{"王五😀", "13900003333"}, {"赵六", "139"}, {"钱七", tn.Admin.Mobile + "x"}}
	file := "\ufeff姓名,手机号,部门,职位,职级,技能,role\n" +
		"张一,13600000001,总装车间/一班,组长,P6,焊接;装配,\n" +
		"张二,13600000002,总装车间/一班;总装车间/二班,,P5,,member\n" +
		",,,,,,\n" + // blank: numbered, not counted
		bad[0].name + "," + bad[0].mobile + ",,,,,\n" +
		bad[1].name + "," + bad[1].mobile + ",,,,,\n" +
		"张三,13600000003,质检部,,P9,,\n" +
		bad[2].name + "," + bad[2].mobile + ",,,,,\n"
	id := start(t, st, tn.ID, tok, "?createDepartments=true&welcomeSms=true", file)
	s := follow(t, st, tok, id)
	if s.State != "done" || s.Total != 6 || s.Processed != 6 || s.Created != 2 || s.Failed != 4 || s.Updated != 0 || s.Skipped != 0 {
		t.Fatalf("first import: %+v", s)
	}
	// Each failure is what POST /v1/admin/members answers for the row.
	wantRows := []int{4, 5, 6, 7}
	posts := []map[string]any{
		{"name": bad[0].name, "mobile": bad[0].mobile},
		{"name": bad[1].name, "mobile": bad[1].mobile},
		{"name": "张三", "mobile": "13600000003", "fields": map[string]any{"level": "P9"}},
		{"name": bad[2].name, "mobile": bad[2].mobile},
	}
	for i, f := range s.Failures {
		r := st.Call(t, "POST", "/v1/admin/members", tok, posts[i])
		code, field := r.ErrorCode()
		if f.Row != wantRows[i] || f.Code != code || f.Field != field || code == "" {
			t.Errorf("failure %d = %+v; POST answers %d %s", i, f, r.Status, r.Body)
		}
	}
	if sms := st.SMS(t, "13600000001"); len(sms) != 1 {
		t.Errorf("welcome SMS to 张一: %d", len(sms))
	}
	var tree struct {
		Items []struct {
			Name     string
			Children []struct {
				Name        string
				MemberCount int
			}
		}
	}
	st.Call(t, "GET", "/v1/departments", tok, nil).Decode(t, &tree)
	// 质检部 is created although its row then fails: departments are made
	// as rows name them.
	if len(tree.Items) != 2 || tree.Items[0].Name != "总装车间" || len(tree.Items[0].Children) != 2 || tree.Items[0].Children[0].MemberCount != 2 {
		t.Errorf("departments after the import: %+v", tree)
	}
	var found struct {
		Items []struct {
			Name, Position string
			Fields         map[string]any
		}
	}
	st.Call(t, "GET", "/v1/members?q=13600000001", tok, nil).Decode(t, &found)
	if len(found.Items) != 1 || found.Items[0].Name != "张一" || found.Items[0].Position != "组长" || len(found.Items[0].Fields["skills"].([]any)) != 2 {
		t.Errorf("张一 as imported: %+v", found)
	}

	// The same file again: nothing is created twice, nothing changes.
	s = follow(t, st, tok, start(t, st, tn.ID, tok, "?createDepartments=true", file))
	if s.Created != 0 || s.Updated != 0 || s.Skipped != 2 || s.Failed != 4 {
		t.Errorf("re-upload: %+v", s)
	}
	// A changed row updates its member (matched by mobile); create-only skips it.
	changed := "姓名,手机号,职位,部门\n张一,13600000001,班长,质检部\n"
	if s = follow(t, st, tok, start(t, st, tn.ID, tok, "?mode=create-only", changed)); s.Skipped != 1 || s.Updated != 0 {
		t.Errorf("create-only: %+v", s)
	}
	if s = follow(t, st, tok, start(t, st, tn.ID, tok, "", changed)); s.Updated != 1 || s.Created != 0 {
		t.Errorf("update: %+v", s)
	}

	// The error report.
	r := st.Call(t, "GET", "/v1/admin/member-imports/"+id+"/errors", tok, nil)
	stacktest.Want(t, r, 200)
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.Body, []byte("\ufeff")))).ReadAll()
	if err != nil || len(recs) != 5 || strings.Join(recs[0], ",") != "row,field,code,message" || recs[1][0] != "4" || recs[1][2] != "invalid_name" {
		t.Errorf("error report: %v %q", err, r.Body)
	}

	// The export holds every member, in columns the import reads back.
	r = st.Call(t, "GET", "/v1/admin/members/export?format=csv", tok, nil)
	stacktest.Want(t, r, 200)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("export content type %q", ct)
	}
	recs, err = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(r.Body, []byte("\ufeff")))).ReadAll()
	if err != nil || len(recs) != 4 { // header, the admin, 张一, 张二
		t.Fatalf("export: %v %q", err, r.Body)
	}
	if !strings.Contains(string(r.Body), ",总装车间/一班;总装车间/二班,") {
		t.Errorf("export lacks 张二's departments: %s", r.Body)
	}
	if s = follow(t, st, tok, start(t, st, tn.ID, tok, "", string(r.Body))); s.Skipped != 3 || s.Created+s.Updated+s.Failed != 0 {
		t.Errorf("export imported back: %+v", s)
	}

	// Members only: a member's token is refused.
	if code, _ := upload(t, st, st.Token(t, tn.ID, tn.Code, tn.Admin.ID+"x"), "", "text/csv", []byte(file)); code != 401 && code != 403 {
		t.Errorf("upload by a non-admin = %d", code)
	}
}

// TestImportXLSXTemplateAndBadFiles takes the XLSX template, fills it and
// uploads it as multipart/form-data; bad files are 400s naming the problem.
func TestImportXLSXTemplateAndBadFiles(t *testing.T) {
	st := newStack(t)
	tn := st.NewTenant(t)
	tok := tn.Admin.Token
	r := st.Call(t, "GET", "/v1/admin/member-imports/template?format=xlsx", tok, nil)
	stacktest.Want(t, r, 200)
	f, err := excelize.OpenReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	sheet := f.GetSheetList()[0]
	head, _ := f.GetRows(sheet)
	if len(head) != 1 || strings.Join(head[0], ",") != "姓名,手机号,账号,邮箱,部门,职位,工号,角色" {
		t.Fatalf("template header %v", head)
	}
	for cell, row := range map[string]*[]any{
		"A2": {"李雷", "13700000001", "lilei", "lilei@example.com", "", "", "E-1", "管理员"},
		"A3": {"韩梅梅", "13700000002"},
	} {
		if err := f.SetSheetRow(sheet, cell, row); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	ct, body := multipartFile(t, "members.xlsx", buf.Bytes())
	code, out := upload(t, st, tok, "", ct, body)
	if code != 202 {
		t.Fatalf("xlsx upload = %d %s", code, out)
	}
	id := string(out[strings.Index(string(out), `"id":"`)+6:])
	id = id[:strings.IndexByte(id, '"')]
	run(t, st, tn.ID, id)
	if s := follow(t, st, tok, id); s.Created != 2 || s.Failed != 0 {
		t.Fatalf("xlsx import: %+v", s)
	}
	var m struct {
		Items []struct{ Account, Role, EmployeeNo string }
	}
	st.Call(t, "GET", "/v1/members?q=lilei", tok, nil).Decode(t, &m)
	if len(m.Items) != 1 || m.Items[0].Role != "admin" || m.Items[0].EmployeeNo != "E-1" {
		t.Errorf("李雷 as imported: %+v", m)
	}

	for _, tc := range []struct {
		ct, body, query, code string
	}{
		{"text/csv", "姓名,手机号,生日\n张三,13600000001,x\n", "", "unknown_column"},
		{"text/csv", "姓名,邮箱\n张三,a@b.cn\n", "", "missing_column"},
		{"text/csv", "姓名,手机号\n", "", "no_rows"},
		{"text/csv", "\xd5\xc5\xc8\xfd,mobile\n", "", "invalid_encoding"},
		{"application/json", `{"name":"x"}`, "", "unsupported_media_type"},
		{"text/csv", "name,mobile\n张三,13600000001\n", "?mode=merge", "invalid_mode"},
		{"text/csv", "name,mobile\n张三,13600000001\n", "?createDepartments=maybe", "invalid_query"},
		{"text/csv", strings.Repeat("name,mobile\n", 1) + strings.Repeat("张三,13600000001\n", memberimport.MaxRows+1), "", "too_many_rows"},
	} {
		code, out := upload(t, st, tok, tc.query, tc.ct, []byte(tc.body))
		if code != 400 || !strings.Contains(string(out), `"code":"`+tc.code+`"`) {
			t.Errorf("upload %q = %d %s, want 400 %s", tc.body[:min(len(tc.body), 30)], code, out, tc.code)
		}
	}
	stacktest.Want(t, st.Call(t, "GET", "/v1/admin/member-imports/nope", tok, nil), 404, "import_not_found")
	stacktest.Want(t, st.Call(t, "GET", "/v1/admin/member-imports/template?format=pdf", tok, nil), 400, "invalid_format")
	_ = context.Background
}
