package partner_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"workbench/shared/directory"
)

type nopSMS struct{}

func (nopSMS) Send(context.Context, string, string) error { return nil }

// TestDirectoryChangesProduceSync drives the real directory service: its
// outbox events become authSync and singleOrgSync calls for the bindings
// whose scope they touch.
func TestDirectoryChangesProduceSync(t *testing.T) {
	f := newFixture(t)
	w := f.w
	w.svc.Events = w.svc.Directory.(interface {
		Events(ctx context.Context, tenantID, after string, limit int) ([]directory.Event, error)
	})
	dir := &directory.Service{Store: &directory.DynamoStore{DB: w.db, Codec: w.codec}, SMS: nopSMS{}, LoginURL: "https://{tenant}.example.com", Now: w.clock.Now}
	ctx := context.Background()
	f.bind()
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d2"}})
	w.sweep()
	base := len(w.partner.received())
	// Seeded departments have no counters; create real ones through the directory.
	sub, err := dir.CreateDepartment(ctx, f.tenant, "新小组", "d2")
	if err != nil {
		t.Fatal(err)
	}
	outside, err := dir.CreateDepartment(ctx, f.tenant, "外部组", "")
	if err != nil {
		t.Fatal(err)
	}
	newbie, err := dir.CreateMember(ctx, f.tenant, "acme", directory.MemberInput{Name: "孙七", Mobile: "13700000001", Account: "sunqi", DepartmentIDs: []string{sub.ID}})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := dir.CreateMember(ctx, f.tenant, "acme", directory.MemberInput{Name: "周八", Mobile: "13700000002", Account: "zhouba", DepartmentIDs: []string{outside.ID}})
	if err != nil {
		t.Fatal(err)
	}
	pos := "架构师"
	if _, err := dir.UpdateMember(ctx, f.tenant, newbie.ID, directory.MemberPatch{Position: &pos}); err != nil {
		t.Fatal(err)
	}
	if early, err := w.svc.SyncDirectory(ctx); err != nil || len(early) != 0 {
		t.Fatalf("events applied before they settled: %v, %v", early, err)
	}
	w.clock.Add(6 * time.Second)
	kicked, err := w.svc.SyncDirectory(ctx)
	if err != nil || len(kicked) != 1 {
		t.Fatalf("SyncDirectory = %v, %v", kicked, err)
	}
	// Running it again turns nothing into calls twice.
	if again, err := w.svc.SyncDirectory(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second SyncDirectory = %v, %v", again, err)
	}
	w.sweep()
	got := w.partner.received()[base:]
	if k := kinds(got); !reflect.DeepEqual(k, []string{"singleOrgSync", "authSync"}) {
		t.Fatalf("calls = %v", k)
	}
	if o := got[0].Body; o["orgCode"] != sub.ID || o["parentCode"] != "d2" || o["flag"] != 1.0 || o["orgName"] != "新小组" {
		t.Fatalf("singleOrgSync = %v", o)
	}
	u := got[1].Body["userList"].([]any)
	if got[1].Body["flag"] != 1.0 || len(u) != 1 || u[0].(map[string]any)["userName"] != "sunqi" || u[0].(map[string]any)["position"] != "架构师" {
		t.Fatalf("authSync = %v", got[1].Body)
	}

	// A change inside the scope: flag 2; a change outside: nothing.
	base = len(w.partner.received())
	pos2 := "组长"
	if _, err := dir.UpdateMember(ctx, f.tenant, "m2", directory.MemberPatch{Position: &pos2}); err == nil {
		// m2 was seeded without counters; the directory may refuse to move
		// it, but a plain field change goes through.
	} else {
		t.Fatal(err)
	}
	if _, err := dir.UpdateMember(ctx, f.tenant, stranger.ID, directory.MemberPatch{Position: &pos2}); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(6 * time.Second)
	if _, err := w.svc.SyncDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	w.sweep()
	got = w.partner.received()[base:]
	if len(got) != 1 || got[0].Kind != "authSync" || got[0].Body["flag"] != 2.0 {
		t.Fatalf("in-scope change calls = %v", got)
	}
	if u := got[0].Body["userList"].([]any); len(u) != 1 || u[0].(map[string]any)["userName"] != "lisi" || u[0].(map[string]any)["position"] != "组长" {
		t.Fatalf("in-scope change = %v", got[0].Body)
	}

	// Moving out of the scope revokes (3); deleting deletes (0) and the
	// emptied department goes (singleOrgSync 0).
	base = len(w.partner.received())
	out := []string{outside.ID}
	if _, err := dir.UpdateMember(ctx, f.tenant, newbie.ID, directory.MemberPatch{DepartmentIDs: &out}); err != nil {
		t.Fatal(err)
	}
	if err := dir.DeleteMember(ctx, f.tenant, "m3"); err != nil {
		t.Fatal(err)
	}
	if err := dir.DeleteDepartment(ctx, f.tenant, sub.ID); err != nil {
		t.Fatal(err)
	}
	w.clock.Add(6 * time.Second)
	if _, err := w.svc.SyncDirectory(ctx); err != nil {
		t.Fatal(err)
	}
	w.sweep()
	got = w.partner.received()[base:]
	if k := kinds(got); !reflect.DeepEqual(k, []string{"authSync", "authSync", "singleOrgSync"}) {
		t.Fatalf("calls = %v", k)
	}
	if got[0].Body["flag"] != 3.0 || userNames(got[0])[0] != "sunqi" {
		t.Fatalf("revoked = %v", got[0].Body)
	}
	if got[1].Body["flag"] != 0.0 || got[1].Body["userList"].([]any)[0].(map[string]any)["userId"] != "m3" {
		t.Fatalf("deleted = %v", got[1].Body)
	}
	if got[2].Body["flag"] != 0.0 || got[2].Body["orgCode"] != sub.ID {
		t.Fatalf("department removed = %v", got[2].Body)
	}
}
