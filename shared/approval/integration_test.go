package approval_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/approval"
)

type approvalOut struct {
	ID            string   `json:"id"`
	Status        string   `json:"status"`
	Step          int      `json:"step"`
	Approvers     []string `json:"approvers"`
	Version       int      `json:"version"`
	Leave         *struct{ Days string }
	Reimbursement *struct {
		Currency string
		Total    string
		Items    []struct{ Amount string }
	}
	History []struct {
		Action, MemberID, Comment string
	}
}

type summaryPage struct {
	Items []struct {
		ID, Status, Form string
	}
	NextCursor string
}

// approvalsFixture: a tenant with applicant, two approvers and a CC member,
// leave chain approver1 → approver2 with CC.
type approvalsFixture struct {
	s                          *stackT
	t                          stacktest.Tenant
	applicant, ap1, ap2, cc, x stacktest.Member
}

func newApprovals(t *testing.T) approvalsFixture {
	s := newStack(t, time.Now().UTC())
	tn := s.NewTenant(t)
	f := approvalsFixture{s: s, t: tn,
		applicant: s.Member(t, tn, "member"), ap1: s.Member(t, tn, "member"), ap2: s.Member(t, tn, "member"),
		cc: s.Member(t, tn, "member"), x: s.Member(t, tn, "member")}
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/leave", tn.Admin.Token, map[string]any{
		"approvers": []map[string]string{{"memberId": f.ap1.ID}, {"memberId": f.ap2.ID}}, "cc": []string{f.cc.ID},
	}), 200)
	return f
}

func leave() map[string]any {
	return map[string]any{"form": "leave", "leave": map[string]any{"type": "annual", "start": "2026-12-21", "end": "2026-12-23", "endHalfDay": true, "reason": "family"}}
}

func (f approvalsFixture) submit(t *testing.T, body map[string]any) approvalOut {
	t.Helper()
	r := f.s.Call(t, "POST", "/v1/approvals", f.applicant.Token, body)
	stacktest.Want(t, r, 201)
	var a approvalOut
	r.Decode(t, &a)
	return a
}

func (f approvalsFixture) list(t *testing.T, box, token string) summaryPage {
	t.Helper()
	r := f.s.Call(t, "GET", "/v1/approvals/"+box, token, nil)
	stacktest.Want(t, r, 200)
	var p summaryPage
	r.Decode(t, &p)
	return p
}

func TestApprovalTwoStepChain(t *testing.T) {
	f := newApprovals(t)
	s := f.s
	a := f.submit(t, leave())
	if a.Status != "pending" || a.Leave.Days != "2.5" || len(a.Approvers) != 2 {
		t.Fatalf("submitted %+v", a)
	}
	if p := f.list(t, "todo", f.ap1.Token); len(p.Items) != 1 || p.Items[0].ID != a.ID {
		t.Fatalf("approver 1's todo = %+v", p)
	}
	if p := f.list(t, "todo", f.ap2.Token); len(p.Items) != 0 {
		t.Fatalf("approver 2 must wait: %+v", p)
	}
	if n := s.Notices(t, f.t.ID, f.ap1.ID); len(n) != 1 || n[0].Kind != "approval_pending" {
		t.Fatalf("approver 1 notices %+v", n)
	}
	// Not your turn, and the applicant cannot approve.
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals/"+a.ID+"/approve", f.ap2.Token, map[string]string{}), 409, "not_your_turn")
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals/"+a.ID+"/approve", f.applicant.Token, nil), 409, "not_your_turn")
	// A stranger of the tenant does not see it; an admin does.
	stacktest.Want(t, s.Call(t, "GET", "/v1/approvals/"+a.ID, f.x.Token, nil), 404, "approval_not_found")
	stacktest.Want(t, s.Call(t, "GET", "/v1/approvals/"+a.ID, f.t.Admin.Token, nil), 200)

	r := s.Call(t, "POST", "/v1/approvals/"+a.ID+"/approve", f.ap1.Token, map[string]string{"comment": "ok"})
	stacktest.Want(t, r, 200)
	r.Decode(t, &a)
	if a.Status != "pending" || a.Step != 1 {
		t.Fatalf("after step 1: %+v", a)
	}
	if p := f.list(t, "todo", f.ap1.Token); len(p.Items) != 0 {
		t.Fatalf("approver 1's todo must be empty: %+v", p)
	}
	if p := f.list(t, "todo", f.ap2.Token); len(p.Items) != 1 {
		t.Fatalf("approver 2's turn: %+v", p)
	}
	if n := s.Notices(t, f.t.ID, f.ap2.ID); len(n) != 1 || n[0].Kind != "approval_pending" {
		t.Fatalf("approver 2 notices %+v", n)
	}
	r = s.Call(t, "POST", "/v1/approvals/"+a.ID+"/approve", f.ap2.Token, map[string]string{"comment": "enjoy"})
	stacktest.Want(t, r, 200)
	r.Decode(t, &a)
	if a.Status != "approved" || len(a.History) != 3 || a.History[2].Comment != "enjoy" {
		t.Fatalf("approved %+v", a)
	}
	n := s.Notices(t, f.t.ID, f.applicant.ID)
	if len(n) != 1 || n[0].Kind != "approval_result" || n[0].Data["status"] != "approved" {
		t.Fatalf("applicant notices %+v", n)
	}
	// Finished: further actions conflict, withdraw too.
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals/"+a.ID+"/approve", f.ap2.Token, nil), 409, "approval_finished")
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals/"+a.ID+"/reject", f.ap1.Token, nil), 409, "approval_finished")
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals/"+a.ID+"/withdraw", f.applicant.Token, nil), 409, "approval_finished")
	// CC and submitted lists show the current state; the detail has the history.
	if p := f.list(t, "cc", f.cc.Token); len(p.Items) != 1 || p.Items[0].Status != "approved" {
		t.Fatalf("cc list %+v", p)
	}
	if p := f.list(t, "submitted", f.applicant.Token); len(p.Items) != 1 || p.Items[0].Status != "approved" {
		t.Fatalf("submitted list %+v", p)
	}
	r = s.Call(t, "GET", "/v1/approvals/"+a.ID, f.cc.Token, nil)
	stacktest.Want(t, r, 200)
	var got approvalOut
	r.Decode(t, &got)
	if len(got.History) != 3 || got.History[0].Action != "submitted" || got.History[1].Action != "approved" {
		t.Fatalf("history %+v", got.History)
	}
}

func TestApprovalRejectAndWithdraw(t *testing.T) {
	f := newApprovals(t)
	s := f.s
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/reimbursement", f.t.Admin.Token, map[string]any{
		"approvers": []map[string]string{{"memberId": f.ap1.ID}}}), 200)
	a := f.submit(t, map[string]any{"form": "reimbursement", "reimbursement": map[string]any{"items": []map[string]string{
		{"amount": "0.10", "category": "taxi"}, {"amount": "0.2", "category": "taxi"}, {"amount": "1280", "category": "hotel"}}}})
	if a.Reimbursement.Total != "1280.30" || a.Reimbursement.Currency != "CNY" || a.Reimbursement.Items[1].Amount != "0.20" {
		t.Fatalf("reimbursement %+v", a.Reimbursement)
	}
	r := s.Call(t, "POST", "/v1/approvals/"+a.ID+"/reject", f.ap1.Token, map[string]string{"comment": "over budget"})
	stacktest.Want(t, r, 200)
	r.Decode(t, &a)
	if a.Status != "rejected" {
		t.Fatalf("rejected %+v", a)
	}
	if n := s.Notices(t, f.t.ID, f.applicant.ID); len(n) != 1 || n[0].Data["status"] != "rejected" {
		t.Fatalf("applicant notices %+v", n)
	}

	b := f.submit(t, leave())
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals/"+b.ID+"/withdraw", f.ap1.Token, nil), 403, "not_applicant")
	r = s.Call(t, "POST", "/v1/approvals/"+b.ID+"/withdraw", f.applicant.Token, nil)
	stacktest.Want(t, r, 200)
	r.Decode(t, &b)
	if b.Status != "withdrawn" {
		t.Fatalf("withdrawn %+v", b)
	}
	if p := f.list(t, "todo", f.ap1.Token); len(p.Items) != 0 {
		t.Fatalf("a withdrawn approval leaves the todo list: %+v", p)
	}
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals/"+b.ID+"/approve", f.ap1.Token, nil), 409, "approval_finished")
}

func TestApprovalConcurrentClicks(t *testing.T) {
	f := newApprovals(t)
	s := f.s
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/outing", f.t.Admin.Token, map[string]any{
		"approvers": []map[string]string{{"memberId": f.ap1.ID}}}), 200)
	for round := range 3 {
		a := f.submit(t, map[string]any{"form": "outing", "outing": map[string]string{
			"destination": "Plant 2", "start": "2026-12-01T01:00:00Z", "end": "2026-12-01T09:00:00Z"}})
		// The approver clicks approve and reject at once, several times,
		// while the applicant withdraws: exactly one action wins.
		var wg sync.WaitGroup
		statuses := make(chan int, 9)
		for i := range 9 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path, token := "/approve", f.ap1.Token
				switch i % 3 {
				case 1:
					path = "/reject"
				case 2:
					path, token = "/withdraw", f.applicant.Token
				}
				r := s.Call(t, "POST", "/v1/approvals/"+a.ID+path, token, nil)
				if r.Status != 200 {
					if code, _ := r.ErrorCode(); r.Status != 409 || (code != "stale_state" && code != "approval_finished") {
						t.Errorf("round %d: %d %s", round, r.Status, r.Body)
					}
				}
				statuses <- r.Status
			}()
		}
		wg.Wait()
		close(statuses)
		ok := 0
		for st := range statuses {
			if st == http.StatusOK {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d actions won; want exactly 1", round, ok)
		}
		r := s.Call(t, "GET", "/v1/approvals/"+a.ID, f.applicant.Token, nil)
		var got approvalOut
		r.Decode(t, &got)
		if len(got.History) != 2 || got.Version != 2 {
			t.Fatalf("round %d: history %+v version %d", round, got.History, got.Version)
		}
	}
}

func TestApprovalBadInput(t *testing.T) {
	f := newApprovals(t)
	s := f.s
	items := func(n int, amount string) map[string]any {
		list := make([]map[string]string, n)
		for i := range list {
			list[i] = map[string]string{"amount": amount, "category": "meals"}
		}
		return map[string]any{"form": "reimbursement", "reimbursement": map[string]any{"items": list}}
	}
	cases := []struct {
		name        string
		body        any
		code, field string
	}{
		{"negative amount", items(1, "-5.00"), "negative_amount", "reimbursement.items[0].amount"},
		{"three places", items(1, "1.005"), "invalid_amount", "reimbursement.items[0].amount"},
		{"not a number", items(1, "abc"), "invalid_amount", "reimbursement.items[0].amount"},
		{"amount as number", map[string]any{"form": "reimbursement", "reimbursement": map[string]any{"items": []map[string]any{{"amount": 12.5, "category": "x"}}}}, "wrong_type", "reimbursement.items.amount"},
		{"101 items", items(101, "1.00"), "too_many_items", "reimbursement.items"},
		{"no items", items(0, "1.00"), "required", "reimbursement.items"},
		{"bad currency", map[string]any{"form": "reimbursement", "reimbursement": map[string]any{"currency": "yuan", "items": []map[string]string{{"amount": "1", "category": "x"}}}}, "invalid_currency", "reimbursement.currency"},
		{"leave end before start", map[string]any{"form": "leave", "leave": map[string]any{"type": "sick", "start": "2026-12-05", "end": "2026-12-04"}}, "end_before_start", "leave.end"},
		{"leave half days cancel out", map[string]any{"form": "leave", "leave": map[string]any{"type": "sick", "start": "2026-12-05", "end": "2026-12-05", "startHalfDay": true, "endHalfDay": true}}, "end_before_start", "leave.endHalfDay"},
		{"leave bad type", map[string]any{"form": "leave", "leave": map[string]any{"type": "holiday", "start": "2026-12-05", "end": "2026-12-05"}}, "invalid_leave_type", "leave.type"},
		{"outing end before start", map[string]any{"form": "outing", "outing": map[string]string{"destination": "x", "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T08:00:00Z"}}, "end_before_start", "outing.end"},
		{"unknown form", map[string]any{"form": "overtime"}, "invalid_form", "form"},
		{"form mismatch", map[string]any{"form": "leave", "outing": map[string]string{}}, "form_mismatch", "leave"},
		{"unknown field", map[string]any{"form": "leave", "mood": "happy"}, "unknown_field", "mood"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stacktest.Want(t, s.Call(t, "POST", "/v1/approvals", f.applicant.Token, c.body), 400, c.code, c.field)
		})
	}
	// Nothing was written.
	if p := f.list(t, "submitted", f.applicant.Token); len(p.Items) != 0 {
		t.Fatalf("bad submissions left %+v", p)
	}
	// Chains: admin only, members of the tenant only.
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/leave", f.applicant.Token, map[string]any{"approvers": []map[string]string{{"memberId": f.ap1.ID}}}), 403, "admin_only")
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/leave", f.t.Admin.Token, map[string]any{"approvers": []map[string]string{{"memberId": "nobody"}}}), 400, "unknown_member", "approvers[0].memberId")
	s.Disable(t, f.t, f.x.ID)
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/leave", f.t.Admin.Token, map[string]any{"approvers": []map[string]string{{"memberId": f.ap1.ID}}, "cc": []string{f.x.ID}}), 400, "unknown_member", "cc[0]")
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/leave", f.t.Admin.Token, map[string]any{"approvers": []map[string]string{}}), 400, "required", "approvers")
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/vacation", f.t.Admin.Token, map[string]any{"approvers": []map[string]string{{"memberId": f.ap1.ID}}}), 400, "invalid_form", "form")
	// A chain whose approver was disabled since refuses submissions.
	s.Disable(t, f.t, f.ap2.ID)
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals", f.applicant.Token, leave()), 409, "chain_member_unavailable")
	// A form without a chain cannot be submitted.
	stacktest.Want(t, s.Call(t, "POST", "/v1/approvals", f.applicant.Token, map[string]any{"form": "outing", "outing": map[string]string{
		"destination": "x", "start": "2026-12-01T01:00:00Z", "end": "2026-12-01T02:00:00Z"}}), 409, "chain_not_configured")
	stacktest.Want(t, s.Call(t, "GET", "/v1/approvals/todo?cursor=!!!", f.ap1.Token, nil), 400, "invalid_cursor", "cursor")
	stacktest.Want(t, s.Call(t, "GET", "/v1/approvals/todo", "", nil), 401, "missing_token")
}

func TestApprovalListsPageNewestFirst(t *testing.T) {
	f := newApprovals(t)
	var ids []string
	for i := range 5 {
		f.s.Clock.Set(time.Now().UTC().Add(time.Duration(i) * time.Second))
		ids = append(ids, f.submit(t, leave()).ID)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		r := f.s.Call(t, "GET", "/v1/approvals/todo?limit=2&cursor="+cursor, f.ap1.Token, nil)
		stacktest.Want(t, r, 200)
		var p summaryPage
		r.Decode(t, &p)
		for _, it := range p.Items {
			seen = append(seen, it.ID)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
		if pages > 5 {
			t.Fatal("too many pages")
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
		t.Fatalf("todo pages %v; want newest first %v", seen, ids)
	}
	sub := f.list(t, "submitted", f.applicant.Token)
	if len(sub.Items) != 5 || sub.Items[0].ID != ids[4] {
		t.Fatalf("submitted %+v", sub)
	}
}

func TestApprovalTenantIsolation(t *testing.T) {
	f := newApprovals(t)
	s := f.s
	a := f.submit(t, leave())
	other := s.NewTenant(t)
	for _, p := range []string{"/approve", "/reject", "/withdraw"} {
		stacktest.Want(t, s.Call(t, "POST", "/v1/approvals/"+a.ID+p, other.Admin.Token, nil), 404, "approval_not_found")
	}
	stacktest.Want(t, s.Call(t, "GET", "/v1/approvals/"+a.ID, other.Admin.Token, nil), 404, "approval_not_found")
	// The other tenant's admin cannot put our members in its chains.
	stacktest.Want(t, s.Call(t, "PUT", "/v1/approvals/chains/leave", other.Admin.Token, map[string]any{"approvers": []map[string]string{{"memberId": f.ap1.ID}}}), 400, "unknown_member")
	if p := f.list(t, "todo", other.Admin.Token); len(p.Items) != 0 {
		t.Fatalf("other tenant sees %+v", p)
	}
}

// A stored approval names its attributes as the API does, not by Go field
// names: the table is read by people and tools, not only by this package.
func TestApprovalStoredAttributeNames(t *testing.T) {
	t.Parallel()
	f := newApprovals(t)
	a := f.submit(t, leave())
	out, err := f.s.DynamoDB().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(f.s.Tables["ApprovalsTable"]),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#" + f.t.ID}, "sk": &types.AttributeValueMemberS{Value: "APPROVAL#" + a.ID},
		},
	})
	if err != nil || out.Item == nil {
		t.Fatalf("stored approval: %v %v", out, err)
	}
	got := slices.Sorted(maps.Keys(out.Item))
	want := slices.Sorted(slices.Values(append([]string{"pk", "sk", "gsi1pk", "gsi1sk", "type", "leave"}, approval.ApprovalAttributes[:12]...)))
	if !slices.Equal(got, want) {
		t.Errorf("stored attributes %v, documented %v", got, want)
	}
	leave := out.Item["leave"].(*types.AttributeValueMemberM).Value
	if _, ok := leave["reason"]; !ok {
		t.Errorf("leave attributes: %v", slices.Sorted(maps.Keys(leave)))
	}
}
