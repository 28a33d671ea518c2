package partner_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"workbench/infra/stacktest"
)

// TestWalkthroughOnTheStack is the README walkthrough on the whole stack:
// the gateway, member authentication, the directory's routes and the sync
// function, against the real TLS test partner reached through the local
// overrides.
func TestWalkthroughOnTheStack(t *testing.T) {
	clk := stacktest.NewClock(time.Now().UTC())
	p := newTestPartner(t, clk.Now)
	s := stacktest.New(t, stacktest.WithClock(clk.Now), stacktest.WithEnv(map[string]string{
		"PARTNER_EXTRA_CA":     p.caPEM,
		"PARTNER_RESOLVE":      partnerHost + ":443=" + p.srv.Listener.Addr().String(),
		"PARTNER_SYNC_TRIGGER": "inline",
	}))
	var created struct{ PartnerID, PartnerKey, AccessKey string }
	if st := s.DoJSON(t, "POST", "/v1/platform/partners", s.OperatorKey(), map[string]any{"name": "Demo ISV"}, &created); st != 201 {
		t.Fatalf("create partner = %d", st)
	}
	p.setAccessKey(created.AccessKey)
	var e struct{ Error struct{ Code, Field string } }
	if st := s.DoJSON(t, "POST", "/v1/partner/apps", created.PartnerKey, map[string]any{
		"name": "Demo", "productionUrl": "https://10.0.0.1/isv", "publicKey": p.publicPEM,
	}, &e); st != 400 || e.Error.Code != "url_ip_host" || e.Error.Field != "productionUrl" {
		t.Fatalf("IP URL = %d %+v", st, e)
	}
	var app struct{ AppID string }
	if st := s.DoJSON(t, "POST", "/v1/partner/apps", created.PartnerKey, map[string]any{
		"name": "Demo", "productionUrl": "https://" + partnerHost + "/isv", "publicKey": p.publicPEM,
	}, &app); st != 201 {
		t.Fatalf("register = %d", st)
	}

	tn := s.NewTenant(t)
	admin := tn.Admin.Token
	if st, body, _ := s.Do(t, "POST", "/v1/admin/apps/"+app.AppID+"/binding", "", nil); st != 401 {
		t.Fatalf("binding without a token = %d %s", st, body)
	}
	p.failNext(2, "")
	if st, body, _ := s.Do(t, "POST", "/v1/admin/apps/"+app.AppID+"/binding", admin, nil); st != 201 {
		t.Fatalf("bind = %d %s", st, body)
	}
	if n := len(p.received()); n != 0 {
		t.Fatalf("%d calls went through a failing partner", n)
	}
	clk.Advance(7 * time.Second)
	s.Invoke(t, "PartnerSyncFunction", map[string]any{"source": "aws.events"})
	if n := len(p.received()); n != 0 {
		t.Fatalf("second attempt should fail too; %d calls", n)
	}
	clk.Advance(40 * time.Second)
	s.Invoke(t, "PartnerSyncFunction", map[string]any{"source": "aws.events"})
	got := p.received()
	if k := kinds(got); !reflect.DeepEqual(k, []string{"tenantSync", "applicationSync", "allOrgSync"}) {
		t.Fatalf("calls = %v", k)
	}
	if got[0].Body["tenantCode"] != tn.Code || len(got[1].Secret) < 43 {
		t.Fatalf("tenantSync %v, secret %q", got[0].Body, got[1].Secret)
	}

	var dept struct{ ID string }
	if st := s.DoJSON(t, "POST", "/v1/admin/departments", admin, map[string]any{"name": "研发部"}, &dept); st != 201 {
		t.Fatalf("department = %d", st)
	}
	var m struct{ ID string }
	if st := s.DoJSON(t, "POST", "/v1/admin/members", admin, map[string]any{"name": "张三", "mobile": s.Mobile(), "departmentIds": []string{dept.ID}}, &m); st != 201 {
		t.Fatalf("member = %d", st)
	}
	if st, body, _ := s.Do(t, "PUT", "/v1/admin/apps/"+app.AppID+"/extension", admin, map[string]any{"members": map[string]any{m.ID: map[string]any{"badge": "B-17"}}}); st != 200 {
		t.Fatalf("extension = %d %s", st, body)
	}
	if st, body, _ := s.Do(t, "PUT", "/v1/admin/apps/"+app.AppID+"/visibility", admin, map[string]any{"departmentIds": []string{dept.ID}}); st != 200 {
		t.Fatalf("visibility = %d %s", st, body)
	}
	got = p.received()[3:]
	if k := kinds(got); !reflect.DeepEqual(k, []string{"allOrgSync", "authSync"}) {
		t.Fatalf("scope calls = %v", k)
	}
	u := got[1].Body["userList"].([]any)[0].(map[string]any)
	if u["name"] != "张三" || u["extension"].(map[string]any)["badge"] != "B-17" || u["orgCode"] != dept.ID {
		t.Fatalf("user = %v", u)
	}

	var logs struct {
		Items []struct {
			Event    string
			Status   string
			Attempts int
			History  []struct {
				HTTPStatus int
				ResultCode string
				RequestID  string
			}
		}
	}
	if st := s.DoJSON(t, "GET", "/v1/admin/apps/"+app.AppID+"/sync-logs", admin, nil, &logs); st != 200 {
		t.Fatalf("logs = %d", st)
	}
	first := logs.Items[len(logs.Items)-1]
	if first.Event != "tenantSync" || first.Status != "sent" || first.Attempts != 3 ||
		first.History[0].HTTPStatus != 503 || first.History[1].HTTPStatus != 503 || first.History[2].HTTPStatus != 200 ||
		first.History[2].ResultCode != "000000" || first.History[0].RequestID == "" {
		raw, _ := json.Marshal(first)
		t.Fatalf("tenantSync log = %s", raw)
	}

	// A directory change inside the scope reaches the partner at the next run.
	if st, body, _ := s.Do(t, "PATCH", "/v1/admin/members/"+m.ID, admin, map[string]any{"position": "架构师"}); st != 200 {
		t.Fatalf("patch member = %d %s", st, body)
	}
	clk.Advance(6 * time.Second)
	s.Invoke(t, "PartnerSyncFunction", map[string]any{"source": "aws.events"})
	got = p.received()[5:]
	if len(got) != 1 || got[0].Kind != "authSync" || got[0].Body["flag"] != 2.0 {
		t.Fatalf("directory change calls = %v", kinds(got))
	}

	// The partner reads the same log with its key; another partner cannot.
	var plogs struct{ Items []struct{ Event string } }
	if st := s.DoJSON(t, "GET", "/v1/partner/apps/"+app.AppID+"/tenants/"+tn.ID+"/sync-logs", created.PartnerKey, nil, &plogs); st != 200 || len(plogs.Items) != len(logs.Items)+1 {
		t.Fatalf("partner's log = %d, %d entries", st, len(plogs.Items))
	}
	var other2 struct{ PartnerKey string }
	s.DoJSON(t, "POST", "/v1/platform/partners", s.OperatorKey(), map[string]any{"name": "Other ISV"}, &other2)
	if st, _, _ := s.Do(t, "GET", "/v1/partner/apps/"+app.AppID+"/tenants/"+tn.ID+"/sync-logs", other2.PartnerKey, nil); st != 404 {
		t.Fatalf("another partner's view = %d", st)
	}

	// The log pages two at a time, every entry once; a cursor it did not
	// return is refused, not read as the first page.
	logsPath := "/v1/admin/apps/" + app.AppID + "/sync-logs"
	type logPage struct {
		Items      []json.RawMessage
		NextCursor string
	}
	var all logPage
	s.DoJSON(t, "GET", logsPath+"?limit=100", admin, nil, &all)
	var auditPage logPage
	s.DoJSON(t, "GET", "/v1/admin/audit-log?limit=1", admin, nil, &auditPage)
	var paged []json.RawMessage
	for cursor, pages := "", 0; pages == 0 || cursor != ""; pages++ {
		var pg logPage
		if st := s.DoJSON(t, "GET", logsPath+"?limit=2&cursor="+cursor, admin, nil, &pg); st != 200 {
			t.Fatalf("log page = %d", st)
		}
		paged, cursor = append(paged, pg.Items...), pg.NextCursor
		if pages > len(all.Items) {
			t.Fatal("more pages than entries")
		}
	}
	if len(all.Items) < 3 || fmt.Sprintf("%s", paged) != fmt.Sprintf("%s", all.Items) {
		t.Fatalf("paged log\n%s\nwant\n%s", paged, all.Items)
	}
	for _, bad := range []string{"!!!", "0000000001", auditPage.NextCursor} {
		stacktest.Want(t, s.Call(t, "GET", logsPath+"?cursor="+bad, admin, nil), 400, "invalid_cursor", "cursor")
	}

	// Another tenant sees none of it.
	other := s.NewTenant(t)
	if st, _, _ := s.Do(t, "GET", "/v1/admin/apps/"+app.AppID+"/sync-logs", other.Admin.Token, nil); st != 404 {
		t.Fatalf("other tenant's logs = %d", st)
	}
	member := s.Token(t, tn.ID, tn.Code, m.ID)
	if st, _, _ := s.Do(t, "GET", "/v1/admin/apps", member, nil); st != 403 {
		t.Fatalf("member reading apps = %d", st)
	}

	// The admin's app actions are in the tenant's audit log, oldest last.
	var audited struct {
		Items []struct{ Action, Target string }
	}
	if st := s.DoJSON(t, "GET", "/v1/admin/audit-log?target=app/"+app.AppID, admin, nil, &audited); st != 200 {
		t.Fatalf("audit log = %d", st)
	}
	var actions []string
	for _, e := range audited.Items {
		actions = append(actions, e.Action)
	}
	if got, want := strings.Join(actions, ","), "app.visibility_update,app.extension_update,app.bind"; got != want {
		t.Fatalf("audited app actions %s, want %s", got, want)
	}
}
