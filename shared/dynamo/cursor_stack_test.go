package dynamo_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"workbench/infra/stacktest"
)

// A pagedList is one list of the API as a member sees it.
type pagedList struct {
	name, path, token string
	// stranger may call the same path, but over other items (another
	// member's, or another tenant's): a cursor of token's is not theirs.
	stranger string
}

type page struct {
	Items      []json.RawMessage
	NextCursor string
}

func (l pagedList) get(t *testing.T, st *stacktest.Metered, token, query string) stacktest.Response {
	t.Helper()
	sep := "?"
	if strings.Contains(l.path, "?") {
		sep = "&"
	}
	return st.Call(t, http.MethodGet, l.path+sep+query, token, nil)
}

func (l pagedList) page(t *testing.T, st *stacktest.Metered, limit int, cursor string) page {
	t.Helper()
	r := l.get(t, st, l.token, fmt.Sprintf("limit=%d&cursor=%s", limit, url.QueryEscape(cursor)))
	stacktest.Want(t, r, http.StatusOK)
	var p page
	r.Decode(t, &p)
	return p
}

// TestCursorsOfEveryList pages through every list that pages with a cursor
// of shared/dynamo, two at a time, and checks that each item comes once, in
// the order of one big page; and that a garbage cursor, another list's
// cursor and the same list's cursor of another member or tenant are 400
// invalid_cursor, not a first page.
func TestCursorsOfEveryList(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Second)
	st := stacktest.NewMetered(t, now)
	tn, other := st.NewTenant(t), st.NewTenant(t)
	applicant, approver, cc := st.Member(t, tn, "member"), st.Member(t, tn, "member"), st.Member(t, tn, "member")
	admin := tn.Admin.Token

	stacktest.Want(t, st.Call(t, "PUT", "/v1/approvals/chains/leave", admin, map[string]any{
		"approvers": []map[string]string{{"memberId": approver.ID}}, "cc": []string{cc.ID},
	}), http.StatusOK)
	for i := range 5 {
		st.Clock.Advance(time.Minute)
		stacktest.Want(t, st.Call(t, "POST", "/v1/approvals", applicant.Token, map[string]any{"form": "leave", "leave": map[string]any{
			"type": "annual", "start": "2026-12-21", "end": "2026-12-23", "reason": fmt.Sprint("reason ", i)}}), http.StatusCreated)
		stacktest.Want(t, st.Call(t, "POST", "/v1/announcements", admin, map[string]any{
			"title": fmt.Sprint("News ", i), "body": "text", "audience": map[string]any{"everyone": true}, "pinned": i == 2,
		}), http.StatusCreated)
		stacktest.Want(t, st.Call(t, "POST", "/v1/calendar", applicant.Token, map[string]any{
			"kind": "reminder", "title": fmt.Sprint("Call ", i), "start": now.Add(time.Duration(i+1) * time.Hour).Format(time.RFC3339),
		}), http.StatusCreated)
		smsLogin(t, st, tn.Code, approver.Mobile)
	}
	dept := st.Department(t, tn, "研发", "")
	for _, m := range []stacktest.Member{applicant, approver, cc} {
		stacktest.Want(t, st.Call(t, "PATCH", "/v1/admin/members/"+m.ID, admin, map[string]any{"departmentIds": []string{dept}}), http.StatusOK)
	}
	calendar := "/v1/calendar?from=" + now.Format(time.RFC3339) + "&to=" + now.Add(24*time.Hour).Format(time.RFC3339)
	lists := []pagedList{
		{"approvals todo", "/v1/approvals/todo", approver.Token, applicant.Token},
		{"approvals submitted", "/v1/approvals/submitted", applicant.Token, approver.Token},
		{"approvals cc", "/v1/approvals/cc", cc.Token, applicant.Token},
		{"announcement feed", "/v1/announcements", applicant.Token, other.Admin.Token},
		{"announcements (admin)", "/v1/announcements?scope=all", admin, other.Admin.Token},
		{"audit log", "/v1/admin/audit-log", admin, other.Admin.Token},
		{"audit log of one action", "/v1/admin/audit-log?action=announcement.publish", admin, other.Admin.Token},
		{"calendar", calendar, applicant.Token, approver.Token},
		{"notices", "/v1/me/notices", approver.Token, applicant.Token},
		{"login logs", "/v1/admin/login-logs", admin, other.Admin.Token},
		{"login logs of one member", "/v1/admin/login-logs?member=" + approver.ID, admin, other.Admin.Token},
		{"members", "/v1/members", applicant.Token, other.Admin.Token},
		{"members of one department", "/v1/members?department=" + dept, applicant.Token, other.Admin.Token},
		// Every member stacktest adds is named 成员n.
		{"member search", "/v1/members?q=" + url.QueryEscape("成员"), applicant.Token, other.Admin.Token},
	}
	firsts := make([]string, len(lists))
	for i, l := range lists {
		all := l.page(t, st, 100, "")
		if len(all.Items) < 3 || all.NextCursor != "" {
			t.Fatalf("%s: %d items in one page (cursor %q); the test wants 3 to 100", l.name, len(all.Items), all.NextCursor)
		}
		var paged []json.RawMessage
		cursor := ""
		for pages := 0; ; pages++ {
			p := l.page(t, st, 2, cursor)
			if pages == 0 {
				firsts[i] = p.NextCursor
			}
			paged = append(paged, p.Items...)
			if cursor = p.NextCursor; cursor == "" {
				break
			}
			if pages > len(all.Items) {
				t.Fatalf("%s: more pages than items", l.name)
			}
		}
		if got, want := fmt.Sprintf("%s", paged), fmt.Sprintf("%s", all.Items); got != want {
			t.Errorf("%s: two at a time\n%s\nwant the items of one page once each\n%s", l.name, got, want)
		}
	}
	for i, l := range lists {
		refused := map[string]struct{ token, cursor string }{
			"garbage":                    {l.token, "bm9wZQ"},
			"not base64":                 {l.token, "!!!"},
			"another list's":             {l.token, firsts[(i+1)%len(lists)]},
			"another member's or tenant": {l.stranger, firsts[i]},
		}
		for what, c := range refused {
			r := l.get(t, st, c.token, "cursor="+url.QueryEscape(c.cursor))
			if code, field := r.ErrorCode(); r.Status != http.StatusBadRequest || code != "invalid_cursor" || field != "cursor" {
				t.Errorf("%s, %s cursor: %d %s; want 400 invalid_cursor", l.name, what, r.Status, r.Body)
			}
		}
	}
}

var smsCode = regexp.MustCompile(`\b\d{6}\b`)

// smsLogin logs the member in with an SMS code, which writes a login log.
func smsLogin(t *testing.T, st *stacktest.Metered, tenantCode, mobile string) {
	t.Helper()
	st.Clock.Advance(61 * time.Second) // past the resend interval
	stacktest.Want(t, st.Call(t, "POST", "/v1/auth/sms-codes", "", map[string]any{"tenant": tenantCode, "mobile": mobile, "purpose": "login"}), http.StatusAccepted)
	sms := st.SMS(t, mobile)
	code := smsCode.FindString(sms[len(sms)-1].Text)
	stacktest.Want(t, st.Call(t, "POST", "/v1/auth/login", "", map[string]any{"tenant": tenantCode, "method": "sms", "mobile": mobile, "code": code}), http.StatusOK)
}
