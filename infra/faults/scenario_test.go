package faults_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/directory"
)

// people of the scenario, by role: their mobiles and member ids are
// different on each stack, their roles are not.
type people struct {
	tenant            stacktest.Tenant
	m1, m2, m3        stacktest.Member
	admin, op         string // tokens
	mobiles, memberID map[string]string
}

// scenario drives one representative request per route (more for the
// creates that other routes need) and every scheduled sweep.
func scenario(r *run) {
	t, st := r.t, r.st
	// Fixtures go in without faults: they are the ground the test stands on.
	tn := st.NewTenant(t)
	m1 := st.Member(t, tn, "member")
	m2 := st.Member(t, tn, "member")
	m3 := st.Member(t, tn, "admin")
	p := &people{tenant: tn, m1: m1, m2: m2, m3: m3, admin: tn.Admin.Token, op: st.OperatorKey(),
		mobiles:  map[string]string{"admin": tn.Admin.Mobile, "m1": m1.Mobile, "m2": m2.Mobile, "m3": m3.Mobile},
		memberID: map[string]string{"admin": tn.Admin.ID, "m1": m1.ID, "m2": m2.ID, "m3": m3.ID}}
	r.vars["code"], r.vars["tenant"] = tn.Code, tn.ID
	r.vars["m1"], r.vars["m2"], r.vars["m3"], r.vars["admin"] = m1.ID, m2.ID, m3.ID, tn.Admin.ID
	r.people = p
	a, op := p.admin, p.op

	// Platform and subscription.
	r.do("GET", "/v1/health", "", nil)
	newMobile := st.Mobile()
	p.mobiles["tenant2"] = newMobile
	r.do("POST", "/v1/platform/tenants", op, map[string]any{"code": "f" + tn.Code[1:], "name": "故障演练", "admin": map[string]string{"name": "二号管理员", "mobile": newMobile}})
	r.do("GET", "/v1/platform/tenants/$code", op, nil)
	r.do("PUT", "/v1/platform/tenants/$code/subscription", op, map[string]any{"plan": "std", "expiresAt": start.Add(7 * 24 * time.Hour).Format(time.RFC3339)})
	r.do("GET", "/v1/admin/subscription", a, nil)
	r.do("GET", "/v1/admin/expiry-notice-settings", a, nil)
	r.do("PUT", "/v1/admin/expiry-notice-settings", a, map[string]any{"channels": []string{"system", "sms"}, "daysBefore": []int{7}, "time": "09:00", "timezone": "Asia/Shanghai", "recipients": []string{m3.ID}})

	// Directory.
	r.do("GET", "/v1/admin/directory-fields", a, nil)
	r.do("PUT", "/v1/admin/directory-fields", a, []map[string]any{{"code": "site", "name": "厂区", "type": "text"}})
	dept := r.do("POST", "/v1/admin/departments", a, map[string]any{"name": "生产部"})
	r.save("dept", dept, "id")
	r.do("GET", "/v1/departments", a, nil)
	r.do("PATCH", "/v1/admin/departments/$dept", a, map[string]any{"name": "生产一部"})
	for i := range 4 {
		mobile := st.Mobile()
		p.mobiles[fmt.Sprintf("new%d", i)] = mobile
		resp := r.do("POST", "/v1/admin/members", a, map[string]any{"name": fmt.Sprintf("新人%d", i), "mobile": mobile, "account": fmt.Sprintf("newbie%d", i), "departmentIds": []string{r.vars["dept"]}})
		if resp.Status == 201 {
			r.save(fmt.Sprintf("new%d", i), resp, "id")
		}
	}
	r.do("GET", "/v1/members", a, nil)
	r.do("GET", "/v1/members?q="+m1.Mobile, a, nil)
	r.do("GET", "/v1/members/$m1", m1.Token, nil)
	r.do("PATCH", "/v1/admin/members/$new0", a, map[string]any{"name": "新人零", "account": "newbie-zero", "mobile": st.Mobile()})
	r.do("PUT", "/v1/admin/members/$new1/status", a, map[string]bool{"enabled": false})
	r.do("DELETE", "/v1/admin/members/$new2", a, nil)
	r.do("DELETE", "/v1/admin/departments/$dept", a, nil)
	inv := r.do("POST", "/v1/admin/invitations", a, map[string]any{"expiresInHours": 24})
	r.save("invitation", inv, "code")
	regMobile := st.Mobile()
	p.mobiles["registered"] = regMobile
	r.do("POST", "/v1/auth/sms-codes", "", map[string]any{"tenant": tn.Code, "mobile": regMobile, "purpose": "register"})
	r.vars["regcode"] = lastCode(r, regMobile)
	r.do("POST", "/v1/register", "", `{"tenant":"$code","invitation":"$invitation","mobile":"`+regMobile+`","code":"$regcode","name":"自助注册"}`)
	r.do("GET", "/v1/me/frequent-contacts", m1.Token, nil)
	r.do("PUT", "/v1/me/frequent-contacts/$m2", m1.Token, nil)
	r.do("DELETE", "/v1/me/frequent-contacts/$m2", m1.Token, nil)

	// Identity.
	r.do("POST", "/v1/auth/sms-codes", "", map[string]any{"tenant": tn.Code, "mobile": m1.Mobile, "purpose": "login"})
	r.vars["logincode"] = lastCode(r, m1.Mobile)
	login := r.do("POST", "/v1/auth/login", "", `{"tenant":"$code","method":"sms","mobile":"`+m1.Mobile+`","code":"$logincode"}`)
	r.save("access", login, "accessToken")
	r.save("refresh", login, "refreshToken")
	r.do("GET", "/v1/me", r.vars["access"], nil)
	r.do("PUT", "/v1/me/password", r.vars["access"], map[string]string{"password": "Fault-Tolerant-2026"})
	r.do("POST", "/v1/auth/login", "", map[string]any{"tenant": tn.Code, "method": "password", "account": m1.Account, "password": "Fault-Tolerant-2026"})
	pair := r.do("POST", "/v1/auth/refresh", "", `{"refreshToken":"$refresh"}`)
	if pair.Status == 200 {
		r.save("access", pair, "accessToken")
	}
	r.do("POST", "/v1/auth/logout", r.vars["access"], nil)
	r.do("POST", "/v1/auth/sms-codes", "", map[string]any{"tenant": tn.Code, "mobile": tn.Admin.Mobile, "purpose": "admin-confirm"})
	r.vars["confirm"] = lastCode(r, tn.Admin.Mobile)
	r.do("POST", "/v1/admin/members/$m2/password-reset", a, `{"code":"$confirm"}`)
	r.do("GET", "/v1/admin/login-logs", a, nil)
	r.do("GET", "/v1/admin/audit-log", a, nil)
	r.do("GET", "/v1/admin/audit-log/verify", a, nil)

	// Member imports: the job is stored and followed; it does not run here
	// (MEMBER_IMPORT_TRIGGER=none), its own tests run it.
	r.do("GET", "/v1/admin/member-imports/template?format=csv", a, nil)
	csv := fmt.Sprintf("name,mobile\n导入一,%s\n导入二,%s\n", st.Mobile(), st.Mobile())
	job := r.do("POST", "/v1/admin/member-imports", a, stacktest.File{ContentType: "text/csv", Data: []byte(csv)})
	r.save("import", job, "id")
	r.do("GET", "/v1/admin/member-imports/$import", a, nil)
	r.do("GET", "/v1/admin/member-imports/$import/errors", a, nil)
	r.do("GET", "/v1/admin/members/export?format=csv", a, nil)

	// Chat.
	conv := r.do("POST", "/v1/conversations", m1.Token, map[string]any{"memberIds": []string{m2.ID, m3.ID}, "name": "产线群"})
	r.save("conv", conv, "id")
	r.do("GET", "/v1/conversations", m1.Token, nil)
	r.do("GET", "/v1/conversations/$conv", m1.Token, nil)
	r.do("PATCH", "/v1/conversations/$conv", m1.Token, map[string]any{"name": "产线一群"})
	for i := range 3 {
		msg := r.do("POST", "/v1/conversations/$conv/messages", m1.Token, map[string]any{"clientMessageId": fmt.Sprintf("c%d", i), "text": fmt.Sprintf("第%d条", i)})
		if msg.Status == 201 {
			r.save("msg", msg, "id")
		}
	}
	r.do("GET", "/v1/conversations/$conv/messages", m2.Token, nil)
	r.do("POST", "/v1/conversations/$conv/read", m2.Token, `{"messageId":"$msg"}`)
	r.do("GET", "/v1/messages/$msg/reads", m1.Token, nil)
	r.do("PUT", "/v1/conversations/$conv/pin", m2.Token, nil)
	r.do("DELETE", "/v1/conversations/$conv/pin", m2.Token, nil)
	r.do("POST", "/v1/conversations/$conv/members", m1.Token, map[string]any{"memberIds": []string{r.vars["new3"]}})
	r.do("DELETE", "/v1/conversations/$conv/members/$new3", m1.Token, nil)
	r.do("POST", "/v1/conversations/$conv/leave", m3.Token, nil)
	r.do("POST", "/v1/rocket-messages", m1.Token, map[string]any{"memberIds": []string{m2.ID}, "text": "请立即处理"})
	r.do("GET", "/v1/admin/chat-settings", a, nil)
	r.do("PUT", "/v1/admin/chat-settings", a, map[string]any{"rocketReminderMinutes": 5})
	notices := r.do("GET", "/v1/me/notices", m2.Token, nil)
	if id := firstID(notices.Body); id != "" {
		r.vars["notice"] = id
		r.do("POST", "/v1/me/notices/$notice/read", m2.Token, nil)
	} else {
		r.do("POST", "/v1/me/notices/none/read", m2.Token, nil)
	}
	dm := r.do("POST", "/v1/conversations", m2.Token, map[string]any{"memberIds": []string{m3.ID}})
	r.save("dm", dm, "id")
	r.do("DELETE", "/v1/conversations/$dm", m2.Token, nil)

	// Approvals.
	r.do("PUT", "/v1/approvals/chains/leave", a, map[string]any{"approvers": []map[string]string{{"memberId": m3.ID}}, "cc": []string{m2.ID}})
	r.do("GET", "/v1/approvals/chains/leave", a, nil)
	leave := map[string]any{"form": "leave", "leave": map[string]any{"type": "annual", "start": "2026-12-21", "end": "2026-12-23", "reason": "family"}}
	ap := r.do("POST", "/v1/approvals", m1.Token, leave)
	r.save("ap", ap, "id")
	ap2 := r.do("POST", "/v1/approvals", m1.Token, leave)
	r.save("ap2", ap2, "id")
	ap3 := r.do("POST", "/v1/approvals", m1.Token, leave)
	r.save("ap3", ap3, "id")
	r.do("GET", "/v1/approvals/todo", m3.Token, nil)
	r.do("GET", "/v1/approvals/submitted", m1.Token, nil)
	r.do("GET", "/v1/approvals/cc", m2.Token, nil)
	r.do("GET", "/v1/approvals/$ap", m1.Token, nil)
	r.do("POST", "/v1/approvals/$ap/approve", m3.Token, map[string]string{"comment": "ok"})
	r.do("POST", "/v1/approvals/$ap2/reject", m3.Token, map[string]string{"comment": "no"})
	r.do("POST", "/v1/approvals/$ap3/withdraw", m1.Token, nil)
	r.do("GET", "/v1/approvals/cc", m2.Token, nil)

	// Announcements.
	ann := r.do("POST", "/v1/announcements", a, map[string]any{"title": "停产通知", "body": "周五停产检修。", "audience": map[string]any{"everyone": true}})
	r.save("ann", ann, "id")
	r.do("GET", "/v1/announcements", m1.Token, nil)
	r.do("GET", "/v1/announcements/$ann", m1.Token, nil)
	r.do("PATCH", "/v1/announcements/$ann", a, map[string]any{"title": "停产检修通知"})
	r.do("PUT", "/v1/announcements/$ann/pin", a, nil)
	r.do("DELETE", "/v1/announcements/$ann/pin", a, nil)
	r.do("POST", "/v1/announcements/$ann/read", m1.Token, nil)
	r.do("GET", "/v1/announcements/$ann/reads", a, nil)
	r.do("POST", "/v1/announcements/$ann/unpublish", a, nil)

	// Calendar.
	ev := r.do("POST", "/v1/calendar", m1.Token, map[string]any{"kind": "meeting", "title": "周会", "start": "2026-12-02T02:00:00Z", "end": "2026-12-02T03:00:00Z",
		"attendees": []string{m2.ID, m3.ID}, "smsReminder": true, "reminderMinutes": 15})
	r.save("ev", ev, "event.id")
	series := r.do("POST", "/v1/calendar", m1.Token, map[string]any{"kind": "meeting", "title": "站会", "start": "2026-12-07T01:00:00Z", "end": "2026-12-07T01:15:00Z",
		"rrule": "FREQ=WEEKLY;COUNT=4", "attendees": []string{m2.ID}})
	r.save("series", series, "event.id")
	r.do("GET", "/v1/calendar?from=2026-12-01T00:00:00Z&to=2026-12-31T00:00:00Z", m2.Token, nil)
	r.do("GET", "/v1/calendar/freebusy?from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z&members="+m2.ID, m1.Token, nil)
	r.do("GET", "/v1/calendar/$ev", m2.Token, nil)
	r.do("POST", "/v1/calendar/$ev/response", m2.Token, map[string]string{"response": "accepted"})
	drill := r.do("POST", "/v1/calendar", a, map[string]any{"kind": "notice", "title": "消防演练", "start": "2026-12-09T02:00:00Z", "attendees": []string{m2.ID, m3.ID}})
	r.save("drill", drill, "event.id")
	r.do("POST", "/v1/calendar/$drill/confirm", m3.Token, nil)
	r.do("PUT", "/v1/calendar/$series/exceptions", m1.Token, map[string]any{"occurrence": "2026-12-14T01:00:00Z", "cancelled": true})
	r.do("DELETE", "/v1/calendar/$series", m1.Token, nil)

	// Partner apps.
	partner := r.do("POST", "/v1/platform/partners", op, map[string]any{"name": "演练伙伴"})
	pkey := ""
	if partner.Status == 201 {
		r.save("partnerKey", partner, "partnerKey")
		pkey = r.vars["partnerKey"]
	}
	app := r.do("POST", "/v1/partner/apps", pkey, map[string]any{"name": "考勤", "productionUrl": "https://" + partnerHost + "/isv", "publicKey": r.partner.publicPEM})
	r.vars["app"] = "app-none"
	if app.Status == 201 {
		r.save("app", app, "appId")
	}
	r.do("GET", "/v1/partner/apps/$app/tenants/$tenant/sync-logs", pkey, nil)
	r.do("GET", "/v1/admin/apps", a, nil)
	r.do("POST", "/v1/admin/apps/$app/binding", a, nil)
	r.do("PUT", "/v1/admin/apps/$app/visibility", a, map[string]any{"memberIds": []string{m1.ID, m2.ID}})
	r.do("PUT", "/v1/admin/apps/$app/extension", a, map[string]any{"memberId": m1.ID, "extension": map[string]any{"badge": "A1"}})
	// The calls the binding queued: those that an injected fault kept
	// from going out inline go with the scheduled sweep, at the latest once
	// a delivery lease that a failed run could not hand back has run out.
	st.Clock.Advance(time.Minute)
	r.sweep("PartnerSyncFunction", partnerLease)
	r.do("GET", "/v1/admin/apps/$app/sync-logs", a, nil)
	r.do("POST", "/v1/admin/apps/$app/sync-logs/none/retry", a, nil)
	r.do("DELETE", "/v1/admin/apps/$app/binding", a, nil)
	r.do("POST", "/v1/marketplace/instances", "", map[string]any{"action": "newInstance"})

	// Sweeps, at the times they have work: the calendar reminder (15 min
	// before 02:00), the rocket reminder (5 min after the rocket), the
	// expiry notice (7 days before, at 09:00 Shanghai) and partner sync.
	st.Clock.Set(time.Date(2026, 12, 1, 1, 46, 0, 0, time.UTC))
	r.sweep("CalendarReminderFunction", 0)
	r.sweep("RocketReminderFunction", 0)
	st.Clock.Set(time.Date(2026, 12, 2, 1, 45, 0, 0, time.UTC))
	r.sweep("CalendarReminderFunction", 0)
	r.sweep("ExpiryScanFunction", 0)
	r.sweep("PartnerSyncFunction", partnerLease)
	r.do("GET", "/v1/me/notices", st.Token(t, tn.ID, tn.Code, m2.ID), nil)
}

// partnerLease outlasts the lease a partner delivery run holds on a
// binding's queue (partner.Worker.Lease, 6 min by default).
const partnerLease = 7 * time.Minute

// sixDigits finds the code in an SMS (the tenant's name, also in the text,
// may hold digits too).
var sixDigits = regexp.MustCompile(`码是 (\d{6})`)

// lastCode reads the newest 6-digit code sent to mobile.
func lastCode(r *run, mobile string) string {
	msgs := r.st.SMS(r.t, mobile)
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := sixDigits.FindStringSubmatch(msgs[i].Text); m != nil {
			return m[1]
		}
	}
	return "000000"
}

func firstID(body []byte) string {
	m := regexp.MustCompile(`"id":"([^"]+)"`).FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// deliveries lists, by role, how many SMS each person got and which
// notices (by kind) each member has: the same on both stacks when every
// delivery happened exactly once.
func deliveries(r *run) []string {
	var out []string
	for role, mobile := range r.people.mobiles {
		out = append(out, fmt.Sprintf("sms %s: %d", role, len(r.st.SMS(r.t, mobile))))
	}
	for role, id := range r.people.memberID {
		kinds := map[string]int{}
		for _, n := range r.st.Notices(r.t, r.people.tenant.ID, id) {
			kinds[n.Kind]++
		}
		out = append(out, fmt.Sprintf("notices %s: %v", role, kinds))
	}
	sort.Strings(out)
	return out
}

// directoryInconsistencies returns what is half written in the tenant's
// directory: a member without one of the items its creation writes (its
// unique mobile and account, its search tokens, its memberships), or a
// reservation, token or membership whose member does not exist.
func directoryInconsistencies(r *run) []string {
	codec := r.st.Codec(r.t)
	pk := directory.TenantPK(r.people.tenant.ID)
	items := map[string]map[string]types.AttributeValue{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(r.st.Tables["DirectoryTable"]),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
	}
	p := dynamodb.NewQueryPaginator(r.st.DynamoDB(), in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		for _, it := range page.Items {
			items[str(it["sk"])] = it
		}
	}
	var problems []string
	members := map[string]bool{}
	for sk, it := range items {
		if !strings.HasPrefix(sk, directory.MemberSK("")) {
			continue
		}
		m, err := codec.Member(it)
		if err != nil {
			r.t.Fatal(err)
		}
		members[m.ID] = true
		want, err := codec.SeedItems(m)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, w := range want {
			if _, ok := items[str(w["sk"])]; !ok {
				problems = append(problems, fmt.Sprintf("member %s lacks item %s", m.ID, str(w["sk"])))
			}
		}
	}
	for sk, it := range items {
		if owner, ok := directory.MemberOf(it); ok && !members[owner] {
			problems = append(problems, fmt.Sprintf("%s belongs to no member (%s)", sk, owner))
		}
	}
	return problems
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
