package audit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/audit"
)

type entry struct {
	Seq       int64
	Actor     string
	Action    string
	Target    string
	Fields    []string
	RequestID string
	IP        string
	At        string
	Hash      string
}

func list(t *testing.T, st *stacktest.Stack, token, query string) ([]entry, string) {
	t.Helper()
	r := st.Call(t, "GET", "/v1/admin/audit-log"+query, token, nil)
	stacktest.Want(t, r, http.StatusOK)
	var page struct {
		Items      []entry
		NextCursor string
	}
	r.Decode(t, &page)
	return page.Items, page.NextCursor
}

type report struct {
	OK       bool
	Entries  int
	First    int64
	Last     int64
	BrokenAt int64
	Reason   string
}

func verify(t *testing.T, st *stacktest.Stack, token string) report {
	t.Helper()
	r := st.Call(t, "GET", "/v1/admin/audit-log/verify", token, nil)
	stacktest.Want(t, r, http.StatusOK)
	var rep report
	r.Decode(t, &rep)
	return rep
}

// Every admin action of the directory leaves one entry, in order, naming
// the fields it changed and never their values; a refused action leaves
// none.
func TestDirectoryAdminActionsAreAudited(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	admin := tn.Admin.Token
	mobile := st.Mobile()

	type step struct {
		method, path string
		body         any
		status       int
		action       string
		fields       []string
	}
	var member, dept string
	steps := []func() step{
		func() step {
			return step{"PUT", "/v1/admin/directory-fields", map[string]any{"items": []map[string]any{{"code": "level", "name": "职级", "type": "text"}}}, 200, audit.FieldsUpdate, []string{"level"}}
		},
		func() step {
			return step{"POST", "/v1/admin/departments", map[string]any{"name": "研发部"}, 201, audit.DepartmentCreate, []string{"name"}}
		},
		func() step {
			return step{"POST", "/v1/admin/members", map[string]any{"name": "王秘密", "mobile": mobile, "departmentIds": []string{dept}, "fields": map[string]any{"level": "P7"}}, 201, audit.MemberCreate,
				[]string{"account", "departmentIds", "enabled", "fields.level", "mobile", "name", "role"}}
		},
		func() step {
			return step{"PATCH", "/v1/admin/members/" + member, map[string]any{"name": "王公开", "position": "工程师"}, 200, audit.MemberUpdate, []string{"name", "position"}}
		},
		func() step {
			return step{"PATCH", "/v1/admin/members/" + member, map[string]any{"role": "admin"}, 200, audit.MemberRoleChange, []string{"role"}}
		},
		func() step {
			return step{"PUT", "/v1/admin/members/" + member + "/status", map[string]any{"enabled": false}, 200, audit.MemberDisable, []string{"enabled"}}
		},
		func() step {
			return step{"PATCH", "/v1/admin/departments/" + dept, map[string]any{"name": "研发中心"}, 200, audit.DepartmentUpdate, []string{"name"}}
		},
		func() step {
			return step{"POST", "/v1/admin/invitations", map[string]any{"maxUses": 3}, 201, audit.InvitationCreate, []string{"expiresInHours", "maxUses"}}
		},
		func() step {
			return step{"DELETE", "/v1/admin/members/" + member, nil, 204, audit.MemberDelete, nil}
		},
		func() step {
			return step{"DELETE", "/v1/admin/departments/" + dept, nil, 204, audit.DepartmentDelete, nil}
		},
	}
	var requestIDs []string
	for i, f := range steps {
		s := f()
		r := st.Call(t, s.method, s.path, admin, s.body)
		if r.Status != s.status {
			t.Fatalf("step %d %s %s: %d %s", i, s.method, s.path, r.Status, r.Body)
		}
		var out struct{ ID string }
		if r.Status != http.StatusNoContent {
			if err := json.Unmarshal(r.Body, &out); err != nil {
				t.Fatalf("step %d %s %s: %v", i, s.method, s.path, err)
			}
		}
		switch s.action {
		case audit.DepartmentCreate:
			dept = out.ID
		case audit.MemberCreate:
			member = out.ID
		}
		requestIDs = append(requestIDs, r.Header.Get("X-Request-Id"))
		// A refused change writes no entry: the same mobile again is a 409.
		if s.action == audit.MemberCreate {
			stacktest.Want(t, st.Call(t, "POST", "/v1/admin/members", admin, map[string]any{"name": "重复", "mobile": mobile}), http.StatusConflict)
		}
	}

	r := st.Call(t, "GET", "/v1/admin/audit-log", admin, nil)
	stacktest.Want(t, r, http.StatusOK)
	for _, secret := range []string{"王秘密", "王公开", mobile, "P7", "工程师", "研发"} {
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("the audit log shows the value %q: %s", secret, r.Body)
		}
	}
	entries, next := list(t, st, admin, "")
	if len(entries) != len(steps) || next != "" {
		t.Fatalf("%d entries (next %q), want %d: %+v", len(entries), next, len(steps), entries)
	}
	for i, f := range steps {
		s := f()
		e := entries[len(steps)-1-i] // newest first
		if e.Action != s.action || strings.Join(e.Fields, ",") != strings.Join(s.fields, ",") {
			t.Errorf("entry %d: %s %v, want %s %v", i, e.Action, e.Fields, s.action, s.fields)
		}
		if e.Seq != int64(i+1) || e.Actor != tn.Admin.ID || e.RequestID != requestIDs[i] || e.IP == "" || e.At == "" || e.Hash == "" {
			t.Errorf("entry %d: %+v (request id %s)", i, e, requestIDs[i])
		}
	}
	if e := entries[0]; e.Target != "department/"+dept {
		t.Errorf("newest target %q, want department/%s", e.Target, dept)
	}
	if rep := verify(t, st, admin); !rep.OK || rep.Entries != len(steps) || rep.First != 1 || rep.Last != int64(len(steps)) {
		t.Fatalf("verify: %+v", rep)
	}

	// Filters and pages.
	got, _ := list(t, st, admin, "?action="+audit.MemberUpdate)
	if len(got) != 1 || got[0].Seq != 4 {
		t.Errorf("action filter: %+v", got)
	}
	got, _ = list(t, st, admin, "?target="+url.QueryEscape("member/"+member))
	if len(got) != 5 {
		t.Errorf("target filter: %d entries, want 5", len(got))
	}
	if got, _ = list(t, st, admin, "?actor=someone-else"); len(got) != 0 {
		t.Errorf("actor filter: %+v", got)
	}
	if got, _ = list(t, st, admin, "?actor="+tn.Admin.ID+"&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"); len(got) != len(steps) {
		t.Errorf("actor and time filter: %d entries", len(got))
	}
	if got, _ = list(t, st, admin, "?to=2000-01-01T00:00:00Z"); len(got) != 0 {
		t.Errorf("to in the past: %+v", got)
	}
	var seqs []int64
	for cursor, pages := "", 0; ; pages++ {
		page, next := list(t, st, admin, "?limit=3&cursor="+cursor)
		for _, e := range page {
			seqs = append(seqs, e.Seq)
		}
		if next == "" || pages > 10 {
			break
		}
		cursor = next
	}
	if len(seqs) != len(steps) || seqs[0] != int64(len(steps)) || seqs[len(seqs)-1] != 1 {
		t.Errorf("pages of 3: %v", seqs)
	}
	stacktest.Want(t, st.Call(t, "GET", "/v1/admin/audit-log?cursor=bm9wZQ", admin, nil), http.StatusBadRequest, "invalid_cursor", "cursor")
	stacktest.Want(t, st.Call(t, "GET", "/v1/admin/audit-log?limit=101", admin, nil), http.StatusBadRequest, "invalid_query", "limit")
	stacktest.Want(t, st.Call(t, "GET", "/v1/admin/audit-log?from=yesterday", admin, nil), http.StatusBadRequest, "invalid_query", "from")

	// Members and other tenants' admins see nothing of it.
	m := st.Member(t, tn, "member")
	stacktest.Want(t, st.Call(t, "GET", "/v1/admin/audit-log", m.Token, nil), http.StatusForbidden, "admin_only")
	stacktest.Want(t, st.Call(t, "GET", "/v1/admin/audit-log/verify", m.Token, nil), http.StatusForbidden, "admin_only")
	other := st.NewTenant(t)
	if got, _ := list(t, st, other.Admin.Token, ""); len(got) != 0 {
		t.Errorf("another tenant's log: %+v", got)
	}
}

// The chain check finds an altered entry, a deleted one in the middle and
// a deleted newest one, and names the first broken link.
func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	for _, name := range []string{"一部", "二部", "三部", "四部", "五部"} {
		st.Department(t, tn, name, "")
	}
	if rep := verify(t, st, tn.Admin.Token); !rep.OK || rep.Entries != 5 {
		t.Fatalf("verify before: %+v", rep)
	}
	db, table := st.DynamoDB(), st.Tables["AuditTable"]
	ctx := context.Background()
	key := func(sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#" + tn.ID}, "sk": &types.AttributeValueMemberS{Value: sk},
		}
	}
	get := func(sk string) map[string]types.AttributeValue {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key(sk)})
		if err != nil || out.Item == nil {
			t.Fatalf("get %s: %v", sk, err)
		}
		return out.Item
	}
	put := func(item map[string]types.AttributeValue) {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	del := func(sk string) {
		if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: key(sk)}); err != nil {
			t.Fatal(err)
		}
	}

	// Altered: entry 3 claims another action.
	third := get("E#000000000003")
	altered := map[string]types.AttributeValue{}
	for k, v := range third {
		altered[k] = v
	}
	altered["action"] = &types.AttributeValueMemberS{Value: audit.DepartmentDelete}
	put(altered)
	if rep := verify(t, st, tn.Admin.Token); rep.OK || rep.BrokenAt != 3 || rep.Reason != "entry_altered" {
		t.Fatalf("altered entry 3: %+v", rep)
	}
	put(third)

	// Deleted in the middle.
	second := get("E#000000000002")
	del("E#000000000002")
	if rep := verify(t, st, tn.Admin.Token); rep.OK || rep.BrokenAt != 2 || rep.Reason != "entry_missing" {
		t.Fatalf("deleted entry 2: %+v", rep)
	}
	put(second)

	// The oldest deleted long before it expires.
	first := get("E#000000000001")
	del("E#000000000001")
	if rep := verify(t, st, tn.Admin.Token); rep.OK || rep.BrokenAt != 1 || rep.Reason != "entry_missing" {
		t.Fatalf("deleted entry 1: %+v", rep)
	}
	put(first)

	// The newest deleted: the head still names it.
	fifth := get("E#000000000005")
	del("E#000000000005")
	if rep := verify(t, st, tn.Admin.Token); rep.OK || rep.BrokenAt != 5 || rep.Reason != "entry_missing" {
		t.Fatalf("deleted entry 5: %+v", rep)
	}
	put(fifth)

	// Rewritten with a recomputed hash, the next link breaks.
	fourth := get("E#000000000004")
	fourth["hash"] = &types.AttributeValueMemberS{Value: strings.Repeat("0", 64)}
	put(fourth)
	if rep := verify(t, st, tn.Admin.Token); rep.OK || rep.BrokenAt != 4 {
		t.Fatalf("rewritten hash of entry 4: %+v", rep)
	}
}

// Concurrent admin actions of one tenant each get their own entry: the
// chain stays whole and has exactly one entry per change that happened.
func TestConcurrentActionsKeepTheChain(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	const n = 6
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = st.Call(t, "POST", "/v1/admin/departments", tn.Admin.Token, map[string]any{"name": "并发" + string(rune('A'+i))}).Status
		}()
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusConflict: // concurrent_change after its retries
		default:
			t.Errorf("parallel create: %d", s)
		}
	}
	var depts struct{ Items []json.RawMessage }
	st.DoJSON(t, "GET", "/v1/departments", tn.Admin.Token, nil, &depts)
	rep := verify(t, st, tn.Admin.Token)
	if !rep.OK || rep.Entries != created || len(depts.Items) != created || created == 0 {
		t.Fatalf("%d created, %d departments, verify %+v", created, len(depts.Items), rep)
	}
}
