package audit_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"workbench/infra/stacktest"
	"workbench/shared/audit"
)

// The admin actions outside the directory (password reset, chat settings,
// approval chains, announcements, expiry notice settings) are audited
// too, each in its own function's transaction.
func TestAppAdminActionsAreAudited(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	admin := tn.Admin.Token
	m := st.Member(t, tn, "member")

	stacktest.Want(t, st.Call(t, "PUT", "/v1/admin/chat-settings", admin, map[string]any{"rocketReminderMinutes": 10}), http.StatusOK)
	stacktest.Want(t, st.Call(t, "PUT", "/v1/approvals/chains/leave", admin, map[string]any{"approvers": []map[string]string{{"memberId": tn.Admin.ID}}}), http.StatusOK)
	r := st.Call(t, "POST", "/v1/announcements", admin, map[string]any{"title": "机密标题", "body": "正文", "audience": map[string]any{"everyone": true}})
	stacktest.Want(t, r, http.StatusCreated)
	var ann struct{ ID string }
	r.Decode(t, &ann)
	stacktest.Want(t, st.Call(t, "PATCH", "/v1/announcements/"+ann.ID, admin, map[string]any{"title": "新标题"}), http.StatusOK)
	stacktest.Want(t, st.Call(t, "PUT", "/v1/announcements/"+ann.ID+"/pin", admin, nil), http.StatusOK)
	stacktest.Want(t, st.Call(t, "DELETE", "/v1/announcements/"+ann.ID+"/pin", admin, nil), http.StatusOK)
	stacktest.Want(t, st.Call(t, "POST", "/v1/announcements/"+ann.ID+"/unpublish", admin, nil), http.StatusOK)
	stacktest.Want(t, st.Call(t, "PUT", "/v1/admin/expiry-notice-settings", admin, map[string]any{"channels": []string{"sms"}, "daysBefore": []int{7}}), http.StatusOK)
	// A member's own actions are not admin actions.
	stacktest.Want(t, st.Call(t, "POST", "/v1/announcements/"+ann.ID+"/read", m.Token, nil), http.StatusNotFound)

	stacktest.Want(t, st.Call(t, "POST", "/v1/auth/sms-codes", "", map[string]any{"tenant": tn.Code, "mobile": tn.Admin.Mobile, "purpose": "admin-confirm"}), http.StatusAccepted)
	sms := st.SMS(t, tn.Admin.Mobile)
	var code string // the last run of exactly six digits: the tenant's name may hold digits too
	for _, run := range regexp.MustCompile(`\d+`).FindAllString(sms[len(sms)-1].Text, -1) {
		if len(run) == 6 {
			code = run
		}
	}
	stacktest.Want(t, st.Call(t, "POST", "/v1/admin/members/"+m.ID+"/password-reset", admin, map[string]any{"code": code}), http.StatusAccepted)

	want := []struct{ action, target, fields string }{
		{audit.MemberCreate, "member/" + m.ID, "account,enabled,mobile,name,role"},
		{audit.ChatSettingsUpdate, "chat-settings", "rocketReminderMinutes"},
		{audit.ApprovalChainUpdate, "approval-chain/leave", "approvers,cc"},
		{audit.AnnouncementPublish, "announcement/" + ann.ID, "audience,body,title"},
		{audit.AnnouncementUpdate, "announcement/" + ann.ID, "title"},
		{audit.AnnouncementPin, "announcement/" + ann.ID, "pinned"},
		{audit.AnnouncementUnpin, "announcement/" + ann.ID, "pinned"},
		{audit.AnnouncementUnpublish, "announcement/" + ann.ID, "published"},
		{audit.NoticeSettingsUpdate, "expiry-notice-settings", "channels,daysBefore,recipients,time,timezone"},
		{audit.MemberPasswordReset, "member/" + m.ID, "password"},
	}
	got, _ := list(t, st, admin, "")
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		e := got[len(got)-1-i]
		if e.Action != w.action || e.Target != w.target || strings.Join(e.Fields, ",") != w.fields || e.Actor != tn.Admin.ID {
			t.Errorf("entry %d: %s %s %v by %s, want %s %s %s", i+1, e.Action, e.Target, e.Fields, e.Actor, w.action, w.target, w.fields)
		}
	}
	if rep := verify(t, st, admin); !rep.OK || rep.Entries != len(want) {
		t.Fatalf("verify: %+v", rep)
	}
}
