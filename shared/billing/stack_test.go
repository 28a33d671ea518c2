package billing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/auth"
	"workbench/shared/billing"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/ids"
)

// harness is a stack with a settable clock and what the tests need to act
// as members: the directory codec and the token key of the stack.
type harness struct {
	*stacktest.Stack
	clock  *stacktest.Clock
	codec  *directory.Codec
	tokens *auth.Tokens
}

func newHarness(t testing.TB, now time.Time, opts ...stacktest.Option) *harness {
	t.Helper()
	clock := stacktest.NewClock(now)
	s := stacktest.New(t, append([]stacktest.Option{stacktest.WithClock(clock.Now)}, opts...)...)
	ctx := context.Background()
	env, err := cloud.Load(ctx, config.Map(s.Env("SubscriptionFunction")))
	if err != nil {
		t.Fatal(err)
	}
	key, err := env.Secret(ctx, "TOKEN_KEY_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	return &harness{
		Stack:  s,
		clock:  clock,
		codec:  s.Codec(t),
		tokens: &auth.Tokens{Key: []byte(key), Now: clock.Now},
	}
}

type tenantInfo struct {
	ID, Code, AdminID, AdminMobile, Token string
}

// newTenant creates a tenant through the operator API and logs its admin in.
func (h *harness) newTenant(t testing.TB, code string) tenantInfo {
	t.Helper()
	mobile := h.Mobile()
	var out struct {
		Tenant struct{ ID, Code string }
		Admin  struct{ ID string }
	}
	status := h.DoJSON(t, "POST", "/v1/platform/tenants", h.OperatorKey(), map[string]any{
		"code": code, "name": "企业 " + code, "admin": map[string]string{"name": "王五", "mobile": mobile},
	}, &out)
	if status != http.StatusCreated {
		t.Fatalf("create tenant %s: %d", code, status)
	}
	ti := tenantInfo{ID: out.Tenant.ID, Code: out.Tenant.Code, AdminID: out.Admin.ID, AdminMobile: mobile}
	ti.Token = h.token(t, ti, ti.AdminID)
	return ti
}

// token opens a session for a member and returns its access token.
func (h *harness) token(t testing.TB, ti tenantInfo, memberID string) string {
	t.Helper()
	now := h.clock.Now()
	sid := ids.New(now)
	sessions := &auth.DynamoSessions{DB: h.DynamoDB(), IdentityTable: h.Tables["IdentityTable"]}
	// Sessions live long here: tests move the clock by weeks.
	if err := sessions.Put(context.Background(), auth.NewSession(sid, ti.ID, ti.Code, memberID, "sms", now, 400*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.tokens.TTL = 400 * 24 * time.Hour
	tok, _, err := h.tokens.Issue(auth.Principal{TenantID: ti.ID, TenantCode: ti.Code, MemberID: memberID, SessionID: sid})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// smsLogin logs the tenant's admin in by SMS code, as a front end would,
// and returns the login's status.
func (h *harness) smsLogin(t *testing.T, ti tenantInfo) int {
	t.Helper()
	if status := h.DoJSON(t, "POST", "/v1/auth/sms-codes", "", map[string]any{"tenant": ti.Code, "mobile": ti.AdminMobile, "purpose": "login"}, nil); status != 202 {
		t.Fatalf("sms-codes: %d", status)
	}
	msgs := h.SMS(t, ti.AdminMobile)
	code := regexp.MustCompile(`\d{6}`).FindString(msgs[len(msgs)-1].Text)
	var e struct{ Error struct{ Code string } }
	status := h.DoJSON(t, "POST", "/v1/auth/login", "", map[string]any{"tenant": ti.Code, "method": "sms", "mobile": ti.AdminMobile, "code": code}, &e)
	if status == 403 && e.Error.Code != "subscription_released" {
		t.Fatalf("login refused with %q", e.Error.Code)
	}
	return status
}

// addMember puts a member item as the directory stores it.
// addMember adds a member through the directory, as an admin would.
func (h *harness) addMember(t testing.TB, tenantID, role string, enabled bool) (id, mobile string) {
	t.Helper()
	ctx := context.Background()
	dir := &directory.Service{Store: &directory.DynamoStore{DB: h.DynamoDB(), Codec: h.codec}, Now: h.clock.Now}
	m, err := dir.AddMember(ctx, tenantID, directory.MemberInput{Name: "赵六", Mobile: h.Mobile(), Role: role})
	if err != nil {
		t.Fatal(err)
	}
	if !enabled {
		if _, err := dir.SetEnabled(ctx, tenantID, m.ID, false); err != nil {
			t.Fatal(err)
		}
	}
	return m.ID, m.Mobile
}

type apiError struct {
	Error struct{ Code, Field string }
}

// expectError checks a 4xx answer's status, code and field.
func (h *harness) expectError(t *testing.T, method, path, token string, body any, status int, code, field string) {
	t.Helper()
	var e apiError
	got := h.DoJSON(t, method, path, token, body, &e)
	if got != status || e.Error.Code != code || e.Error.Field != field {
		t.Errorf("%s %s %v: %d %s (field %q), want %d %s (field %q)", method, path, body, got, e.Error.Code, e.Error.Field, status, code, field)
	}
}

func (h *harness) setSubscription(t *testing.T, code string, body map[string]any) billing.View {
	t.Helper()
	var v billing.View
	if status := h.DoJSON(t, "PUT", "/v1/platform/tenants/"+code+"/subscription", h.OperatorKey(), body, &v); status != http.StatusOK {
		t.Fatalf("set subscription %v: %d", body, status)
	}
	return v
}

func (h *harness) scan(t testing.TB, at time.Time) billing.Report {
	t.Helper()
	out := h.Invoke(t, "ExpiryScanFunction", map[string]any{"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "time": at.UTC().Format(time.RFC3339)})
	var rep billing.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("scan report %s: %v", out, err)
	}
	return rep
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSubscriptionStatesAndRetentionIsReadOnly(t *testing.T) {
	h := newHarness(t, utc("2027-01-20T00:00:00Z"))
	a := h.newTenant(t, "life")
	settings := map[string]any{"channels": []string{"system"}, "daysBefore": []int{7}}

	var v billing.View
	if status := h.DoJSON(t, "GET", "/v1/admin/subscription", a.Token, nil, &v); status != 200 || v.State != billing.Valid || v.Plan != nil || v.ExpiresAt != nil {
		t.Fatalf("no subscription: %d %+v", status, v)
	}
	path := "/v1/platform/tenants/life/subscription"
	h.expectError(t, "PUT", path, "", map[string]any{"plan": "std", "expiresAt": "2027-02-01T00:00:00Z"}, 401, "invalid_operator_key", "")
	h.expectError(t, "PUT", "/v1/platform/tenants/nosuch/subscription", h.OperatorKey(), map[string]any{"plan": "std", "expiresAt": "2027-02-01T00:00:00Z"}, 404, "tenant_not_found", "")
	h.expectError(t, "PUT", path, h.OperatorKey(), map[string]any{"plan": "std", "expiresAt": "2027-02-01T00:00:00Z", "gracePeriodDays": -1}, 400, "invalid_period", "gracePeriodDays")
	h.expectError(t, "PUT", path, h.OperatorKey(), map[string]any{"plan": "std", "expiresAt": "2027-02-01T00:00:00Z", "retentionPeriodDays": -3}, 400, "invalid_period", "retentionPeriodDays")
	h.expectError(t, "PUT", path, h.OperatorKey(), map[string]any{"plan": "std", "expiresAt": "next week"}, 400, "invalid_expires_at", "expiresAt")
	h.expectError(t, "PUT", path, h.OperatorKey(), map[string]any{"plan": "", "expiresAt": "2027-02-01T00:00:00Z"}, 400, "invalid_plan", "plan")
	h.expectError(t, "PUT", path, h.OperatorKey(), map[string]any{"plan": "std", "expiresAt": "2027-02-01T00:00:00Z", "gracePeriodDays": "7"}, 400, "wrong_type", "gracePeriodDays")
	// Nothing half-written by the refusals.
	if h.DoJSON(t, "GET", "/v1/admin/subscription", a.Token, nil, &v); v.ExpiresAt != nil {
		t.Fatalf("refused PUT left a subscription: %+v", v)
	}

	// Expiry in the past is allowed: the state follows.
	v = h.setSubscription(t, "life", map[string]any{"plan": "std", "expiresAt": "2027-01-17T00:00:00Z"})
	if v.State != billing.Grace || v.GracePeriodDays != 7 || v.RetentionPeriodDays != 15 || !v.GraceEndsAt.Equal(utc("2027-01-24T00:00:00Z")) {
		t.Fatalf("set in grace: %+v", v)
	}
	if status := h.DoJSON(t, "PUT", "/v1/admin/expiry-notice-settings", a.Token, settings, nil); status != 200 {
		t.Fatalf("write in grace: %d", status)
	}

	// Time moves into retention: reads work, every write is refused.
	h.clock.Set(utc("2027-01-25T00:00:00Z"))
	if status := h.DoJSON(t, "GET", "/v1/admin/subscription", a.Token, nil, &v); status != 200 || v.State != billing.Retention {
		t.Fatalf("retention read: %d %+v", status, v)
	}
	if status := h.DoJSON(t, "GET", "/v1/admin/expiry-notice-settings", a.Token, nil, nil); status != 200 {
		t.Fatalf("retention settings read: %d", status)
	}
	h.expectError(t, "PUT", "/v1/admin/expiry-notice-settings", a.Token, settings, 403, "subscription_retention", "")
	// Admins still log in during retention, to renew.
	if status := h.smsLogin(t, a); status != 200 {
		t.Fatalf("SMS login in retention: %d", status)
	}

	// Released: everything refused, reads too, and logging in.
	h.clock.Set(utc("2027-02-08T00:00:00Z"))
	h.expectError(t, "GET", "/v1/admin/subscription", a.Token, nil, 403, "subscription_released", "")
	h.expectError(t, "GET", "/v1/admin/expiry-notice-settings", a.Token, nil, 403, "subscription_released", "")
	if status := h.smsLogin(t, a); status != 403 {
		t.Fatalf("SMS login once released: %d, want 403", status)
	}

	// Renewal counts from the original expiry and brings it back to valid.
	v = h.setSubscription(t, "life", map[string]any{"plan": "pro", "extendDays": 365})
	if v.State != billing.Valid || !v.ExpiresAt.Equal(utc("2028-01-17T00:00:00Z")) || *v.Plan != "pro" {
		t.Fatalf("renewed: %+v", v)
	}
	if status := h.DoJSON(t, "PUT", "/v1/admin/expiry-notice-settings", a.Token, settings, nil); status != 200 {
		t.Fatalf("write after renewal: %d", status)
	}

	// Custom periods: no grace at all goes straight to retention.
	v = h.setSubscription(t, "life", map[string]any{"plan": "pro", "expiresAt": "2027-02-07T00:00:00Z", "gracePeriodDays": 0, "retentionPeriodDays": 30})
	if v.State != billing.Retention {
		t.Fatalf("no grace: %+v", v)
	}

	// Another tenant is not affected by this one's state.
	b := h.newTenant(t, "other")
	if status := h.DoJSON(t, "PUT", "/v1/admin/expiry-notice-settings", b.Token, settings, nil); status != 200 {
		t.Fatalf("other tenant's write: %d", status)
	}
	if h.DoJSON(t, "GET", "/v1/admin/subscription", b.Token, nil, &v); v.Tenant != "other" || v.ExpiresAt != nil {
		t.Fatalf("other tenant sees %+v", v)
	}
}

func TestExpiryNoticeSettingsRules(t *testing.T) {
	h := newHarness(t, utc("2027-01-20T00:00:00Z"))
	a := h.newTenant(t, "rules")
	b := h.newTenant(t, "rules-b")
	path := "/v1/admin/expiry-notice-settings"

	var st billing.Settings
	if status := h.DoJSON(t, "GET", path, a.Token, nil, &st); status != 200 || st.Time != "10:00" || st.Timezone != "Asia/Shanghai" ||
		len(st.Channels) != 2 || len(st.DaysBefore) != 3 || st.Recipients == nil || len(st.Recipients) != 0 {
		t.Fatalf("defaults: %d %+v", status, st)
	}
	member, _ := h.addMember(t, a.ID, "member", true)
	disabled, _ := h.addMember(t, a.ID, "member", false)
	otherTenants, _ := h.addMember(t, b.ID, "admin", true)
	ok := func() map[string]any {
		return map[string]any{"channels": []string{"sms", "system"}, "daysBefore": []int{30, 15, 7}, "time": "10:00", "timezone": "Asia/Shanghai", "recipients": []string{a.AdminID, member}}
	}
	with := func(k string, v any) map[string]any { m := ok(); m[k] = v; return m }
	tests := []struct {
		body  map[string]any
		code  string
		field string
	}{
		{with("channels", []string{}), "invalid_channels", "channels"},
		{with("channels", []string{"email"}), "invalid_channels", "channels"},
		{with("daysBefore", []int{}), "invalid_days_before", "daysBefore"},
		{with("daysBefore", []int{7, 14}), "invalid_days_before", "daysBefore"},
		{with("time", "25:00"), "invalid_time", "time"},
		{with("time", "10.00"), "invalid_time", "time"},
		{with("timezone", "Mars/Olympus"), "invalid_timezone", "timezone"},
		{with("recipients", []string{"a", "b", "c", "d", "e", "f"}), "too_many_recipients", "recipients"},
		{with("recipients", []string{"01nosuchmember"}), "unknown_recipient", "recipients"},
		{with("recipients", []string{disabled}), "recipient_disabled", "recipients"},
		{with("recipients", []string{otherTenants}), "unknown_recipient", "recipients"},
		{with("extra", 1), "unknown_field", "extra"},
	}
	for _, tt := range tests {
		h.expectError(t, "PUT", path, a.Token, tt.body, 400, tt.code, tt.field)
	}
	if h.DoJSON(t, "GET", path, a.Token, nil, &st); len(st.Recipients) != 0 {
		t.Fatalf("refused settings were saved: %+v", st)
	}

	body := ok()
	body["daysBefore"], body["time"], body["timezone"] = []int{7, 30}, "", ""
	if status := h.DoJSON(t, "PUT", path, a.Token, body, &st); status != 200 || st.Time != "10:00" || st.Timezone != "Asia/Shanghai" ||
		fmt.Sprint(st.DaysBefore) != "[30 7]" || fmt.Sprint(st.Recipients) != fmt.Sprint([]string{a.AdminID, member}) {
		t.Fatalf("save: %d %+v", status, st)
	}
	if h.DoJSON(t, "GET", path, a.Token, nil, &st); len(st.Recipients) != 2 {
		t.Fatalf("read back: %+v", st)
	}
	// Members are not admins; the other tenant still has its defaults.
	h.expectError(t, "PUT", path, h.token(t, a, member), ok(), 403, "admin_only", "")
	if h.DoJSON(t, "GET", path, b.Token, nil, &st); len(st.Recipients) != 0 || len(st.DaysBefore) != 3 {
		t.Fatalf("other tenant: %+v", st)
	}
}

func TestScanSendsTheSevenDayWarningOnceThenGraceAndRetention(t *testing.T) {
	// Set at 2027-01-20 15:00 Beijing, expiring 8 days later.
	now := utc("2027-01-20T07:00:00Z")
	h := newHarness(t, now)
	a := h.newTenant(t, "warn")
	other, otherMobile := h.addMember(t, a.ID, "member", true)
	h.setSubscription(t, "warn", map[string]any{"plan": "std", "expiresAt": now.Add(8 * 24 * time.Hour).Format(time.RFC3339)})
	if status := h.DoJSON(t, "PUT", "/v1/admin/expiry-notice-settings", a.Token, map[string]any{
		"channels": []string{"sms", "system"}, "daysBefore": []int{30, 15, 7}, "time": "10:00", "timezone": "Asia/Shanghai",
		"recipients": []string{a.AdminID, other},
	}, nil); status != 200 {
		t.Fatalf("settings: %d", status)
	}
	welcome := len(h.SMS(t, a.AdminMobile))

	// The next day, 10:00 Beijing is 02:00 UTC.
	if rep := h.scan(t, utc("2027-01-21T01:59:00Z")); len(rep.Notices) != 0 {
		t.Fatalf("a minute early: %+v", rep)
	}
	rep := h.scan(t, utc("2027-01-21T02:05:00Z"))
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "d7" || rep.Notices[0].SMS != 2 || rep.Notices[0].System != 2 {
		t.Fatalf("7-day warning: %+v", rep)
	}
	adminSMS, otherSMS := h.SMS(t, a.AdminMobile)[welcome:], h.SMS(t, otherMobile)
	if len(adminSMS) != 1 || len(otherSMS) != 1 || !strings.Contains(otherSMS[0].Text, "到期前 7 天") || !strings.Contains(otherSMS[0].Text, "2027-01-28 15:00 CST") {
		t.Fatalf("SMS: %+v %+v", adminSMS, otherSMS)
	}
	for _, m := range []string{a.AdminID, other} {
		if n := h.Notices(t, a.ID, m); len(n) != 1 || n[0].Kind != "expiry_warning" {
			t.Fatalf("inbox of %s: %+v", m, n)
		}
	}
	if rep := h.scan(t, utc("2027-01-21T02:05:00Z")); rep.Due != 0 || len(rep.Notices) != 0 {
		t.Fatalf("second run: %+v", rep)
	}
	if rep := h.scan(t, utc("2027-01-21T02:20:00Z")); len(rep.Notices) != 0 || len(h.SMS(t, otherMobile)) != 1 {
		t.Fatalf("next run: %+v", rep)
	}

	rep = h.scan(t, utc("2027-01-28T07:00:00Z"))
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "grace" || rep.Notices[0].State != billing.Grace {
		t.Fatalf("grace: %+v", rep)
	}
	rep = h.scan(t, utc("2027-02-04T07:00:00Z"))
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "retention" || rep.Notices[0].State != billing.Retention {
		t.Fatalf("retention: %+v", rep)
	}
	if rep := h.scan(t, utc("2027-03-01T00:00:00Z")); rep.Due != 0 {
		t.Fatalf("after retention: %+v", rep)
	}
	if n := len(h.SMS(t, otherMobile)); n != 3 {
		t.Fatalf("%d SMS in all, want 3", n)
	}
	if n := h.Notices(t, a.ID, other); len(n) != 3 || n[0].Kind != "subscription_retention" || n[1].Kind != "subscription_grace" {
		t.Fatalf("inbox: %+v", n)
	}
}

func TestScanDefaultsToAdminsAndRunsOnceWhenConcurrent(t *testing.T) {
	now := utc("2027-01-20T07:00:00Z")
	h := newHarness(t, now)
	var tenants []tenantInfo
	var mobiles, others []string
	for i := range 3 {
		ti := h.newTenant(t, fmt.Sprintf("conc-%d", i))
		_, second := h.addMember(t, ti.ID, "admin", true)
		_, member := h.addMember(t, ti.ID, "member", true)
		_, disabled := h.addMember(t, ti.ID, "admin", false)
		mobiles = append(mobiles, ti.AdminMobile, second)
		others = append(others, member, disabled)
		h.setSubscription(t, ti.Code, map[string]any{"plan": "std", "expiresAt": "2027-01-28T07:00:00Z"})
		tenants = append(tenants, ti)
	}
	before := map[string]int{}
	for _, m := range mobiles {
		before[m] = len(h.SMS(t, m))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.TryInvoke("ExpiryScanFunction", map[string]any{"time": "2027-01-21T02:05:00Z"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, m := range mobiles {
		if got := len(h.SMS(t, m)) - before[m]; got != 1 {
			t.Errorf("admin %s got %d SMS, want 1", m, got)
		}
	}
	for _, m := range others {
		if got := len(h.SMS(t, m)); got != 0 {
			t.Errorf("member or disabled admin %s got %d SMS", m, got)
		}
	}
	for _, ti := range tenants {
		if n := h.Notices(t, ti.ID, ti.AdminID); len(n) != 1 {
			t.Errorf("inbox of %s: %d notices", ti.Code, len(n))
		}
	}
	// Overlapping runs may split a step's deliveries between them; the next
	// run finds them all sent, sends nothing and closes the step.
	if rep := h.scan(t, utc("2027-01-21T02:20:00Z")); len(rep.Notices) != 0 || rep.Pending != 0 {
		t.Fatalf("run after the concurrent ones: %+v", rep)
	}
	if rep := h.scan(t, utc("2027-01-21T02:35:00Z")); rep.Due != 0 {
		t.Fatalf("steps not closed: %+v", rep)
	}
	for _, m := range mobiles {
		if got := len(h.SMS(t, m)) - before[m]; got != 1 {
			t.Errorf("admin %s got %d SMS after later runs, want 1", m, got)
		}
	}
}

func TestScanTimezoneWithDaylightSaving(t *testing.T) {
	h := newHarness(t, utc("2027-01-20T00:00:00Z"))
	a := h.newTenant(t, "newyork")
	// Expiry 2027-03-21 12:00 EDT. 15 days before is 2027-03-06 (EST,
	// UTC-5): 09:00 is 14:00 UTC. 7 days before is 2027-03-14, the day New
	// York moves to EDT (UTC-4): 09:00 is 13:00 UTC.
	h.setSubscription(t, "newyork", map[string]any{"plan": "std", "expiresAt": "2027-03-21T16:00:00Z"})
	if status := h.DoJSON(t, "PUT", "/v1/admin/expiry-notice-settings", a.Token, map[string]any{
		"channels": []string{"system"}, "daysBefore": []int{15, 7}, "time": "09:00", "timezone": "America/New_York",
	}, nil); status != 200 {
		t.Fatalf("settings: %d", status)
	}
	steps := []struct {
		at   string
		want string
	}{
		{"2027-03-06T13:59:00Z", ""},
		{"2027-03-06T14:00:00Z", "d15"},
		{"2027-03-14T12:59:00Z", ""},
		{"2027-03-14T13:00:00Z", "d7"},
		{"2027-03-14T13:15:00Z", ""},
	}
	for _, s := range steps {
		rep := h.scan(t, utc(s.at))
		got := ""
		if len(rep.Notices) == 1 {
			got = rep.Notices[0].Step
		}
		if got != s.want || len(rep.Notices) > 1 {
			t.Errorf("scan at %s: %+v, want %q", s.at, rep.Notices, s.want)
		}
	}
	n := h.Notices(t, a.ID, a.AdminID)
	if len(n) != 2 || !strings.Contains(n[0].Body, "2027-03-21 12:00 EDT") {
		t.Fatalf("inbox: %+v", n)
	}
}

func TestRenewalSkipsThresholdsAlreadyPast(t *testing.T) {
	// Renewed with 10 days left: only the 7-day warning.
	h := newHarness(t, utc("2027-01-21T00:00:00Z"))
	a := h.newTenant(t, "late")
	h.setSubscription(t, "late", map[string]any{"plan": "std", "expiresAt": "2027-01-31T00:00:00Z"})
	if rep := h.scan(t, utc("2027-01-21T00:15:00Z")); len(rep.Notices) != 0 {
		t.Fatalf("past thresholds sent late: %+v", rep)
	}
	rep := h.scan(t, utc("2027-01-24T02:00:00Z"))
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "d7" {
		t.Fatalf("7-day warning: %+v", rep)
	}
	// In grace, renewed by 30 days from the original expiry: a new cycle
	// whose 15- and 7-day warnings are ahead (the 30-day one is past).
	h.scan(t, utc("2027-02-01T00:00:00Z"))
	h.clock.Set(utc("2027-02-02T00:00:00Z"))
	v := h.setSubscription(t, "late", map[string]any{"plan": "std", "extendDays": 30})
	if v.State != billing.Valid || !v.ExpiresAt.Equal(utc("2027-03-02T00:00:00Z")) {
		t.Fatalf("renewal: %+v", v)
	}
	var got []string
	for _, at := range []string{"2027-02-02T00:15:00Z", "2027-02-15T02:00:00Z", "2027-02-23T02:00:00Z", "2027-03-02T00:00:00Z"} {
		for _, n := range h.scan(t, utc(at)).Notices {
			got = append(got, n.Step)
		}
	}
	if strings.Join(got, ",") != "d15,d7,grace" {
		t.Fatalf("after renewal: %v", got)
	}
	// Setting the same expiry again (an operator's retry) sends nothing anew.
	h.setSubscription(t, "late", map[string]any{"plan": "std", "expiresAt": "2027-03-02T00:00:00Z"})
	if rep := h.scan(t, utc("2027-03-02T00:15:00Z")); len(rep.Notices) != 0 {
		t.Fatalf("retry resent: %+v", rep)
	}
	if n := h.Notices(t, a.ID, a.AdminID); len(n) != 5 {
		t.Fatalf("inbox holds %d notices, want 5 (d7, grace, d15, d7, grace)", len(n))
	}
}

// The gate reads the state of the session's tenant: a token whose code
// claims another tenant (one with no subscription, which is valid) must not
// carry a released tenant's member past it.
func TestGateUsesTheSessionsTenant(t *testing.T) {
	h := newHarness(t, utc("2027-01-20T00:00:00Z"))
	gone := h.newTenant(t, "gone")
	other := h.newTenant(t, "other")
	h.setSubscription(t, "gone", map[string]any{"plan": "std", "expiresAt": "2026-01-01T00:00:00Z"})
	h.expectError(t, "GET", "/v1/admin/subscription", gone.Token, nil, 403, "subscription_released", "")

	now := h.clock.Now()
	sid := ids.New(now)
	sessions := &auth.DynamoSessions{DB: h.DynamoDB(), IdentityTable: h.Tables["IdentityTable"]}
	if err := sessions.Put(context.Background(), auth.NewSession(sid, gone.ID, gone.Code, gone.AdminID, "sms", now, 24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	forged, _, err := h.tokens.Issue(auth.Principal{TenantID: gone.ID, TenantCode: other.Code, MemberID: gone.AdminID, SessionID: sid})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/admin/subscription", "/v1/me"} {
		h.expectError(t, "GET", path, forged, nil, 401, "invalid_token", "")
	}
}

// The due row keeps the recipients' snapshot of the step sent last; a step
// after the admins changed (a new admin, an admin's new mobile) finds it
// stale in its claims, takes a new one and reaches the admins as they are.
func TestScanFollowsRecipientChangesAfterItsSnapshot(t *testing.T) {
	now := utc("2027-01-20T07:00:00Z")
	h := newHarness(t, now)
	ctx := context.Background()
	a := h.newTenant(t, "snap")
	h.setSubscription(t, "snap", map[string]any{"plan": "std", "expiresAt": "2027-01-28T07:00:00Z"})
	if rep := h.scan(t, utc("2027-01-21T02:05:00Z")); len(rep.Notices) != 1 || rep.Notices[0].SMS != 1 {
		t.Fatalf("7-day warning: %+v", rep)
	}
	out, err := h.DynamoDB().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(h.Tables["TenantsTable"]), Key: billing.Key("snap")})
	if err != nil || out.Item["to"] == nil {
		t.Fatalf("the due row carries no snapshot: %v %v", out.Item, err)
	}
	oldSMS := len(h.SMS(t, a.AdminMobile))

	second, secondMobile := h.addMember(t, a.ID, "admin", true)
	mobile := h.Mobile()
	dir := &directory.Service{Store: &directory.DynamoStore{DB: h.DynamoDB(), Codec: h.codec}, Now: h.clock.Now}
	if _, err := dir.UpdateMember(ctx, a.ID, a.AdminID, directory.MemberPatch{Mobile: &mobile}); err != nil {
		t.Fatal(err)
	}
	rep := h.scan(t, utc("2027-01-28T07:00:00Z"))
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "grace" || rep.Notices[0].SMS != 2 {
		t.Fatalf("grace: %+v", rep)
	}
	if len(h.SMS(t, mobile)) != 1 || len(h.SMS(t, secondMobile)) != 1 || len(h.SMS(t, a.AdminMobile)) != oldSMS {
		t.Errorf("grace SMS: %d to the admin's new mobile, %d to the new admin (want 1 each), %d more to the old mobile",
			len(h.SMS(t, mobile)), len(h.SMS(t, secondMobile)), len(h.SMS(t, a.AdminMobile))-oldSMS)
	}
	if n := h.Notices(t, a.ID, a.AdminID); len(n) != 2 {
		t.Errorf("first admin's inbox: %d notices, want 2", len(n))
	}
	if n := h.Notices(t, a.ID, second); len(n) != 1 || n[0].Kind != "subscription_grace" {
		t.Errorf("new admin's inbox: %+v", n)
	}
}

// A tenant whose admin set was written before it kept ids (no ids, no
// revision): the scan still finds its admins, by reading its members, and
// sends once.
func TestScanFindsTheAdminsOfAnOlderAdminSet(t *testing.T) {
	now := utc("2027-01-20T07:00:00Z")
	h := newHarness(t, now)
	ctx := context.Background()
	a := h.newTenant(t, "older")
	_, second := h.addMember(t, a.ID, "admin", true)
	_, err := h.DynamoDB().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(h.codec.Table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: directory.TenantPK(a.ID)}, "sk": &types.AttributeValueMemberS{Value: "ADMINS"},
		},
		UpdateExpression: aws.String("REMOVE ids, rev"),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.setSubscription(t, "older", map[string]any{"plan": "std", "expiresAt": "2027-01-28T07:00:00Z"})
	before := len(h.SMS(t, a.AdminMobile))
	if rep := h.scan(t, utc("2027-01-21T02:05:00Z")); len(rep.Notices) != 1 || rep.Notices[0].SMS != 2 {
		t.Fatalf("7-day warning: %+v", rep)
	}
	if len(h.SMS(t, a.AdminMobile)) != before+1 || len(h.SMS(t, second)) != 1 {
		t.Errorf("SMS: %d to the first admin, %d to the second; want 1 each", len(h.SMS(t, a.AdminMobile))-before, len(h.SMS(t, second)))
	}
}
