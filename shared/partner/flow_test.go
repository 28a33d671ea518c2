package partner_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"workbench/shared/directory"
	"workbench/shared/partner"
)

func TestRegistrationRules(t *testing.T) {
	w := newWorld(t)
	if code, out := w.do("POST", "/v1/platform/partners", "", map[string]any{"name": "x"}); code != 401 {
		t.Fatalf("partner without operator key = %d %v", code, out)
	}
	p := w.mustDo(201, "POST", "/v1/platform/partners", "operator", map[string]any{"name": "ISV"})
	for _, k := range []string{"partnerId", "partnerKey", "accessKey"} {
		if s, _ := p[k].(string); len(s) < 16 {
			t.Fatalf("%s = %v", k, p[k])
		}
	}
	key := "partner:" + p["partnerKey"].(string)
	if code, _ := w.do("POST", "/v1/partner/apps", "partner:wbp_"+p["partnerId"].(string)+"_forged", map[string]any{}); code != 401 {
		t.Fatalf("forged partner key = %d", code)
	}
	good := map[string]any{"name": "App", "productionUrl": "https://isv.example.com/cb", "publicKey": w.partner.publicPEM}
	for _, tc := range []struct {
		url, code string
	}{
		{"https://10.0.0.1", "url_ip_host"},
		{"https://[::1]", "url_ip_host"},
		{"https://0x7f.1", "url_ip_host"},
		{"https://2130706433", "url_ip_host"},
		{"https://0177.0.0.1", "url_ip_host"},
		{"https://localhost", "url_localhost"},
		{"http://isv.example.com", "url_not_https"},
		{"https://isv.example.com:8443", "url_port_not_443"},
		{"https://u:p@isv.example.com", "url_has_userinfo"},
		{"https://isv.example.com/?a=1", "url_has_query"},
		{"https://isv.example.com/#x", "url_has_fragment"},
	} {
		in := map[string]any{"name": "App", "productionUrl": tc.url, "publicKey": w.partner.publicPEM}
		code, out := w.do("POST", "/v1/partner/apps", key, in)
		e, _ := out["error"].(map[string]any)
		if code != 400 || e["code"] != tc.code || e["field"] != "productionUrl" {
			t.Errorf("%s: %d %v, want 400 %s", tc.url, code, out, tc.code)
		}
	}
	short := map[string]any{"name": "App", "productionUrl": "https://isv.example.com", "publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}
	if code, out := w.do("POST", "/v1/partner/apps", key, short); code != 400 || out["error"].(map[string]any)["field"] != "publicKey" {
		t.Fatalf("bad key = %d %v", code, out)
	}
	if n := w.countItems("APP#"); n != 0 {
		t.Fatalf("%d apps stored after refusals", n)
	}
	a := w.mustDo(201, "POST", "/v1/partner/apps", key, good)
	if a["appId"] == "" || !strings.HasPrefix(a["clientId"].(string), "wbc_") {
		t.Fatalf("app = %v", a)
	}
	if _, ok := a["clientSecret"]; ok {
		t.Fatal("clientSecret returned in clear")
	}
}

// binding sets up a tenant with a small tree and an app bound to it, and
// delivers the binding's first calls.
//
//	d1 研发部 ─ d2 后端组 ─ d3 存储小队
//	d4 销售部
type fixture struct {
	w      *world
	tenant string
	app    string
}

func newFixture(t testing.TB) *fixture {
	w := newWorld(t)
	tn := w.newTenant("acme")
	w.seed(tn.ID, []partner.Department{
		{ID: "d1", Name: "研发部"}, {ID: "d2", Name: "后端组", ParentID: "d1"},
		{ID: "d3", Name: "存储小队", ParentID: "d2"}, {ID: "d4", Name: "销售部"},
	}, []directory.Member{
		member(tn.ID, "m1", "张三", "zhangsan", "d1"),
		member(tn.ID, "m2", "李四", "lisi", "d2"),
		member(tn.ID, "m3", "王五", "wangwu", "d3"),
		member(tn.ID, "m4", "赵六", "zhaoliu", "d4"),
	})
	app := w.setupApp()
	return &fixture{w: w, tenant: tn.ID, app: app}
}

func (f *fixture) bind() {
	f.w.mustDo(201, "POST", "/v1/admin/apps/"+f.app+"/binding", "admin:acme", nil)
}

func TestBindingSendsTenantApplicationAndOrgSyncInOrder(t *testing.T) {
	f := newFixture(t)
	w := f.w
	apps := w.mustDo(200, "GET", "/v1/admin/apps", "admin:acme", nil)["items"].([]any)
	if len(apps) != 1 || apps[0].(map[string]any)["bound"] != false {
		t.Fatalf("apps before binding = %v", apps)
	}
	b := w.mustDo(201, "POST", "/v1/admin/apps/"+f.app+"/binding", "admin:acme", nil)
	if b["source"] != "registry" || b["state"] != "active" || b["instanceId"] == "" {
		t.Fatalf("binding = %v", b)
	}
	if code, _ := w.do("POST", "/v1/admin/apps/"+f.app+"/binding", "admin:acme", nil); code != 409 {
		t.Fatalf("second binding = %d", code)
	}
	if code, _ := w.do("POST", "/v1/admin/apps/nope/binding", "admin:acme", nil); code != 404 {
		t.Fatalf("unknown app = %d", code)
	}
	st := w.sweep()
	if st.Sent != 3 {
		t.Fatalf("sweep = %+v", st)
	}
	got := w.partner.received()
	if k := kinds(got); !reflect.DeepEqual(k, []string{"tenantSync", "applicationSync", "allOrgSync"}) {
		t.Fatalf("calls = %v", k)
	}
	ts := got[0].Body
	if got[0].Path != "/isv/produceAPI/v2/tenantSync" || ts["flag"] != 1.0 || ts["tenantCode"] != "acme" ||
		ts["tenantId"] != f.tenant || ts["instanceId"] != b["instanceId"] || ts["domainName"] != "acme.workbench.example.com" ||
		ts["name"] != "企业acme" || ts["testFlag"] != 0.0 || ts["timeStamp"] == nil {
		t.Fatalf("tenantSync = %v", ts)
	}
	as := got[1].Body
	if as["clientId"] == "" || as["appId"] != f.app || as["flag"] != 1.0 || len(got[1].Secret) < 43 {
		t.Fatalf("applicationSync = %v secret %q", as, got[1].Secret)
	}
	if strings.Contains(string(got[1].Raw), got[1].Secret) {
		t.Fatal("client secret travels in clear")
	}
	if orgs := got[2].Body["orgInfoList"].([]any); len(orgs) != 0 {
		t.Fatalf("allOrgSync of an empty scope = %v", orgs)
	}
	if st := w.sweep(); st.Sent != 0 || len(w.partner.received()) != 3 {
		t.Fatalf("second sweep sent again: %+v", st)
	}
	apps = w.mustDo(200, "GET", "/v1/admin/apps", "admin:acme", nil)["items"].([]any)
	if apps[0].(map[string]any)["bound"] != true {
		t.Fatalf("apps after binding = %v", apps)
	}
	defer func() {
		// Unbinding sends tenantSync flag 0 and the app can be bound again.
		w.mustDo(204, "DELETE", "/v1/admin/apps/"+f.app+"/binding", "admin:acme", nil)
		if code, _ := w.do("DELETE", "/v1/admin/apps/"+f.app+"/binding", "admin:acme", nil); code != 404 {
			t.Fatalf("second unbind = %d", code)
		}
		w.sweep()
		got := w.partner.received()
		if last := got[len(got)-1]; last.Kind != "tenantSync" || last.Body["flag"] != 0.0 {
			t.Fatalf("unbind sent %v", last.Body)
		}
		w.mustDo(201, "POST", "/v1/admin/apps/"+f.app+"/binding", "admin:acme", nil)
		w.sweep()
		if k := kinds(w.partner.received()[len(got):]); !reflect.DeepEqual(k, []string{"tenantSync", "applicationSync", "allOrgSync"}) {
			t.Fatalf("re-bind calls = %v", k)
		}
	}()
	logs := w.mustDo(200, "GET", "/v1/admin/apps/"+f.app+"/sync-logs", "admin:acme", nil)["items"].([]any)
	if len(logs) != 3 || logs[0].(map[string]any)["event"] != "allOrgSync" || logs[2].(map[string]any)["event"] != "tenantSync" {
		t.Fatalf("logs = %v", logs)
	}
	l := logs[0].(map[string]any)
	if l["status"] != "sent" || l["attempts"] != 1.0 || l["lastStatus"] != 200.0 || l["response"] != "000000" {
		t.Fatalf("log entry = %v", l)
	}
}

func userNames(r received) []string {
	var out []string
	for _, u := range r.Body["userList"].([]any) {
		out = append(out, u.(map[string]any)["userName"].(string))
	}
	return out
}

func TestScopeChangesEnterLeaveAndSubDepartments(t *testing.T) {
	f := newFixture(t)
	w := f.w
	f.bind()
	w.sweep()
	base := len(w.partner.received())

	// Extension data set before the user enters travels with authSync.
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/extension", "admin:acme", map[string]any{
		"members": map[string]any{"m2": map[string]any{"badge": "B-17", "level": 3}},
	})
	out := w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d2"}, "memberIds": []string{"m4"}})
	if out["entered"] != 3.0 || out["left"] != 0.0 {
		t.Fatalf("scope change = %v", out)
	}
	w.sweep()
	got := w.partner.received()[base:]
	if k := kinds(got); !reflect.DeepEqual(k, []string{"allOrgSync", "authSync"}) {
		t.Fatalf("calls = %v", k)
	}
	orgs := got[0].Body["orgInfoList"].([]any)
	if len(orgs) != 2 || orgs[0].(map[string]any)["orgCode"] != "d2" || orgs[0].(map[string]any)["parentCode"] != "" ||
		orgs[1].(map[string]any)["orgCode"] != "d3" || orgs[1].(map[string]any)["parentCode"] != "d2" {
		t.Fatalf("orgInfoList = %v", orgs)
	}
	auth := got[1].Body
	if auth["flag"] != 1.0 || !reflect.DeepEqual(userNames(got[1]), []string{"lisi", "wangwu", "zhaoliu"}) {
		t.Fatalf("authSync = %v", auth)
	}
	for _, u := range auth["userList"].([]any) {
		u := u.(map[string]any)
		ext := u["extension"].(map[string]any)
		switch u["userName"] {
		case "lisi":
			if ext["badge"] != "B-17" || ext["level"] != 3.0 || u["name"] != "李四" || u["orgCode"] != "d2" ||
				u["role"] != "user" || u["enable"] != "true" || u["mobile"] == "" || u["employeeCode"] != "E-lisi" {
				t.Fatalf("user = %v", u)
			}
		default:
			if len(ext) != 0 {
				t.Fatalf("extension of %v = %v, want {}", u["userName"], ext)
			}
		}
	}
	if !strings.Contains(string(got[1].Raw), `"extension":{}`) {
		t.Fatal("an empty extension is not sent as {}")
	}

	// Narrow to d3 only: lisi (d2) and zhaoliu leave with flag 3.
	base = len(w.partner.received())
	out = w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d3"}, "memberIds": []string{}})
	if out["entered"] != 0.0 || out["left"] != 2.0 {
		t.Fatalf("narrowing = %v", out)
	}
	w.sweep()
	got = w.partner.received()[base:]
	if k := kinds(got); !reflect.DeepEqual(k, []string{"allOrgSync", "authSync"}) || got[1].Body["flag"] != 3.0 ||
		!reflect.DeepEqual(userNames(got[1]), []string{"lisi", "zhaoliu"}) {
		t.Fatalf("narrowing calls = %v %v", kinds(got), got)
	}

	// The same scope again changes nothing and sends nothing.
	base = len(w.partner.received())
	out = w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d3"}, "memberIds": []string{}})
	if out["calls"] != 0.0 {
		t.Fatalf("unchanged scope queued %v", out)
	}
	w.sweep()
	if n := len(w.partner.received()) - base; n != 0 {
		t.Fatalf("unchanged scope sent %d calls", n)
	}

	// Extension change of a user in scope: authSync flag 2.
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/extension", "admin:acme", map[string]any{"members": map[string]any{"m3": map[string]any{"seat": "A1"}}})
	w.sweep()
	got = w.partner.received()[base:]
	if len(got) != 1 || got[0].Kind != "authSync" || got[0].Body["flag"] != 2.0 {
		t.Fatalf("extension change calls = %v", got)
	}
	if ext := got[0].Body["userList"].([]any)[0].(map[string]any)["extension"].(map[string]any); ext["seat"] != "A1" {
		t.Fatalf("extension = %v", ext)
	}
}

func TestScopeInputRules(t *testing.T) {
	f := newFixture(t)
	w := f.w
	if code, _ := w.do("PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d1"}}); code != 404 {
		t.Fatalf("scope of an unbound app = %d", code)
	}
	f.bind()
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"departmentIds": []string{"nope"}}, "departmentIds"},
		{map[string]any{"memberIds": []string{"nope"}}, "memberIds"},
		{map[string]any{"memberIds": []string{""}}, "memberIds"},
		{map[string]any{"departmentIds": "d1"}, "departmentIds"},
		{map[string]any{"other": 1}, "other"},
	} {
		code, out := w.do("PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", tc.body)
		if e, _ := out["error"].(map[string]any); code != 400 || e["field"] != tc.field {
			t.Errorf("%v: %d %v", tc.body, code, out)
		}
	}
	for _, body := range []any{
		map[string]any{"members": map[string]any{"nope": map[string]any{"a": 1}}},
		map[string]any{"members": map[string]any{"m1": []int{1}}},
		map[string]any{"members": map[string]any{"m1": "text"}},
		map[string]any{"members": map[string]any{}},
	} {
		if code, out := w.do("PUT", "/v1/admin/apps/"+f.app+"/extension", "admin:acme", body); code != 400 {
			t.Errorf("extension %v = %d %v", body, code, out)
		}
	}
}

func TestRetriesBackoffOrderFailedAndResend(t *testing.T) {
	f := newFixture(t)
	w := f.w
	w.worker.Schedule = []time.Duration{5 * time.Second, 30 * time.Second}
	w.partner.failNext(2, "") // tenantSync fails twice with HTTP 503
	f.bind()
	if st := w.sweep(); st.Retried != 1 || st.Sent != 0 {
		t.Fatalf("first sweep = %+v", st)
	}
	if st := w.sweep(); st.Bindings != 0 && st.Sent+st.Retried != 0 {
		t.Fatalf("sweep before the retry is due = %+v", st)
	}
	if n := len(w.partner.received()); n != 0 {
		t.Fatalf("later calls overtook the failing one: %d", n)
	}
	w.clock.Add(5 * time.Second)
	if st := w.sweep(); st.Retried != 1 {
		t.Fatalf("second attempt = %+v", st)
	}
	w.clock.Add(29 * time.Second)
	if st := w.sweep(); st.Sent+st.Retried != 0 {
		t.Fatalf("third attempt before 30 s: %+v", st)
	}
	w.clock.Add(time.Second)
	if st := w.sweep(); st.Sent != 3 {
		t.Fatalf("third attempt = %+v", st)
	}
	if k := kinds(w.partner.received()); !reflect.DeepEqual(k, []string{"tenantSync", "applicationSync", "allOrgSync"}) {
		t.Fatalf("order = %v", k)
	}
	logs := w.mustDo(200, "GET", "/v1/admin/apps/"+f.app+"/sync-logs", "admin:acme", nil)["items"].([]any)
	first := logs[len(logs)-1].(map[string]any)
	hist := first["history"].([]any)
	if first["attempts"] != 3.0 || first["status"] != "sent" || len(hist) != 3 {
		t.Fatalf("tenantSync log = %v", first)
	}
	h0 := hist[0].(map[string]any)
	if h0["httpStatus"] != 503.0 || h0["resultCode"] != "000005" || h0["error"] == "" || h0["requestId"] == "" || h0["attempt"] != 1.0 {
		t.Fatalf("first attempt = %v", h0)
	}
	if at0, at1 := h0["at"].(string), hist[1].(map[string]any)["at"].(string); at0 == at1 {
		t.Fatal("attempts at the same time")
	}

	// A call that keeps failing ends failed after the schedule; later calls go on.
	w.partner.failNext(3, "000004")
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"memberIds": []string{"m1"}})
	w.sweep()
	w.clock.Add(5 * time.Second)
	w.sweep()
	w.clock.Add(30 * time.Second)
	if st := w.sweep(); st.Failed != 1 {
		t.Fatalf("after the schedule = %+v", st)
	}
	logs = w.mustDo(200, "GET", "/v1/admin/apps/"+f.app+"/sync-logs", "admin:acme", nil)["items"].([]any)
	var failedID string
	for _, l := range logs {
		l := l.(map[string]any)
		if l["status"] == "failed" {
			failedID = l["id"].(string)
			if l["attempts"] != 3.0 || l["response"] != "000004" {
				t.Fatalf("failed log = %v", l)
			}
		}
	}
	if failedID == "" {
		t.Fatalf("no failed call in %v", logs)
	}
	base := len(w.partner.received())
	if code, _ := w.do("POST", "/v1/admin/apps/"+f.app+"/sync-logs/9999999999/retry", "admin:acme", nil); code != 404 {
		t.Fatalf("retry unknown = %d", code)
	}
	re := w.mustDo(202, "POST", "/v1/admin/apps/"+f.app+"/sync-logs/"+failedID+"/retry", "admin:acme", nil)
	if re["resendOf"] != failedID || re["status"] != "pending" {
		t.Fatalf("resend = %v", re)
	}
	if st := w.sweep(); st.Sent < 1 {
		t.Fatalf("resend sweep = %+v", st)
	}
	got := w.partner.received()[base:]
	if len(got) == 0 || got[len(got)-1].Kind != "authSync" || !reflect.DeepEqual(userNames(got[len(got)-1]), []string{"zhangsan"}) {
		t.Fatalf("resent = %v", kinds(got))
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	f := newFixture(t)
	w := f.w
	w.partner.hangNext(3*time.Second, 1) // the client gives up after 2 s in tests
	f.bind()
	st := w.sweep()
	if st.Retried != 1 {
		t.Fatalf("sweep = %+v", st)
	}
	logs := w.mustDo(200, "GET", "/v1/admin/apps/"+f.app+"/sync-logs", "admin:acme", nil)["items"].([]any)
	h := logs[len(logs)-1].(map[string]any)["history"].([]any)[0].(map[string]any)
	if h["error"] == nil || h["httpStatus"] != 0.0 {
		t.Fatalf("timed-out attempt = %v", h)
	}
	w.clock.Add(6 * time.Second)
	if st := w.sweep(); st.Sent != 3 {
		t.Fatalf("after timeout = %+v", st)
	}
}

func TestOtherTenantNeverSeesThisTenantsData(t *testing.T) {
	f := newFixture(t)
	w := f.w
	other := w.newTenant("other")
	w.seed(other.ID, []partner.Department{{ID: "x1", Name: "外部"}}, []directory.Member{member(other.ID, "o1", "外人", "outsider", "x1")})
	f.bind()
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d1"}})
	// The other tenant cannot see or change acme's binding.
	for _, c := range []struct{ method, path string }{
		{"PUT", "/v1/admin/apps/" + f.app + "/visibility"},
		{"GET", "/v1/admin/apps/" + f.app + "/sync-logs"},
		{"POST", "/v1/admin/apps/" + f.app + "/sync-logs/0000000001/retry"},
	} {
		var body any
		if c.method == "PUT" {
			body = map[string]any{"memberIds": []string{}}
		}
		if code, out := w.do(c.method, c.path, "admin:other", body); code != 404 {
			t.Errorf("%s %s by another tenant = %d %v", c.method, c.path, code, out)
		}
	}
	// acme's scope cannot name the other tenant's people.
	if code, _ := w.do("PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"memberIds": []string{"o1"}, "departmentIds": []string{"x1"}}); code != 400 {
		t.Fatalf("foreign ids = %d", code)
	}
	// The other tenant binds the same app: its calls carry only its data.
	w.mustDo(201, "POST", "/v1/admin/apps/"+f.app+"/binding", "admin:other", nil)
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:other", map[string]any{"departmentIds": []string{"x1"}})
	w.sweep()
	for _, r := range w.partner.received() {
		raw := string(r.Raw)
		if r.Body["tenantId"] == other.ID && (strings.Contains(raw, f.tenant) || strings.Contains(raw, "zhangsan") || strings.Contains(raw, "研发部")) {
			t.Fatalf("other tenant's call carries acme's data: %s", raw)
		}
		if r.Body["tenantId"] == f.tenant && strings.Contains(raw, "outsider") {
			t.Fatalf("acme's call carries the other tenant's data: %s", raw)
		}
	}
	if n := len(w.partner.received()); n != 10 {
		t.Fatalf("received %d calls, want 10 (%v)", n, kinds(w.partner.received()))
	}
}

func TestUserListSplitsAt500(t *testing.T) {
	f := newFixture(t)
	w := f.w
	var ms []directory.Member
	for i := range 1201 {
		ms = append(ms, member(f.tenant, fmt.Sprintf("u%04d", i), "员工", fmt.Sprintf("user%04d", i), "d4"))
	}
	w.seed(f.tenant, nil, ms)
	f.bind()
	out := w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d4"}})
	if out["entered"] != 1202.0 || out["calls"] != 4.0 { // allOrgSync + 3 authSync
		t.Fatalf("scope = %v", out)
	}
	w.sweep()
	var sizes []int
	for _, r := range w.partner.received() {
		if r.Kind == "authSync" {
			sizes = append(sizes, len(r.Body["userList"].([]any)))
		}
	}
	if !reflect.DeepEqual(sizes, []int{500, 500, 202}) {
		t.Fatalf("userList sizes = %v", sizes)
	}
}

func TestLargeExtensionsSplitCalls(t *testing.T) {
	f := newFixture(t)
	w := f.w
	var ms []directory.Member
	for i := range 80 {
		ms = append(ms, member(f.tenant, fmt.Sprintf("x%03d", i), "员工", fmt.Sprintf("ext%03d", i), "d4"))
	}
	w.seed(f.tenant, nil, ms)
	f.bind()
	big := strings.Repeat("x", 4000)
	for start := 0; start < 80; start += 10 { // 64 KiB bodies
		set := map[string]any{}
		for _, m := range ms[start : start+10] {
			set[m.ID] = map[string]any{"note": big}
		}
		w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/extension", "admin:acme", map[string]any{"members": set})
	}
	if code, _ := w.do("PUT", "/v1/admin/apps/"+f.app+"/extension", "admin:acme", map[string]any{"members": map[string]any{"x000": map[string]any{"note": big + big}}}); code != 400 {
		t.Fatalf("extension over 4 KB = %d", code)
	}
	out := w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d4"}})
	if out["calls"].(float64) < 3 { // allOrgSync + at least two authSync for 81 users
		t.Fatalf("scope = %v", out)
	}
	w.sweep()
	total := 0
	for _, r := range w.partner.received() {
		if r.Kind == "authSync" {
			total += len(r.Body["userList"].([]any))
			if len(r.Raw) > 250<<10 {
				t.Fatalf("a call of %d bytes", len(r.Raw))
			}
		}
	}
	if total != 81 {
		t.Fatalf("%d users sent, want 81", total)
	}
}

func TestExtensionShapes(t *testing.T) {
	f := newFixture(t)
	w := f.w
	f.bind()
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"memberIds": []string{"m1", "m2", "m3"}})
	w.sweep()
	base := len(w.partner.received())
	for _, body := range []any{
		map[string]any{"memberId": "m1", "extension": map[string]any{"k": "one"}},
		map[string]any{"extensions": map[string]any{"m2": map[string]any{"k": "two"}}},
		map[string]any{"items": []any{map[string]any{"memberId": "m3", "extension": map[string]any{"k": "three"}}}},
	} {
		w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/extension", "admin:acme", body)
	}
	if code, _ := w.do("PUT", "/v1/admin/apps/"+f.app+"/extension", "admin:acme", map[string]any{"extension": map[string]any{"k": 1}}); code != 400 {
		t.Fatalf("extension without memberId = %d", code)
	}
	w.sweep()
	var got []string
	for _, r := range w.partner.received()[base:] {
		for _, u := range r.Body["userList"].([]any) {
			got = append(got, u.(map[string]any)["extension"].(map[string]any)["k"].(string))
		}
	}
	if !reflect.DeepEqual(got, []string{"one", "two", "three"}) {
		t.Fatalf("extensions sent = %v", got)
	}
	// null removes: the user is sent with {}.
	base = len(w.partner.received())
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/extension", "admin:acme", map[string]any{"members": map[string]any{"m1": nil}})
	w.sweep()
	if r := w.partner.received()[base:]; len(r) != 1 || !strings.Contains(string(r[0].Raw), `"extension":{}`) {
		t.Fatalf("removed extension = %v", r)
	}
}
