package stacktest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/infra/stacktest"
	"workbench/shared/auth"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/dynamo"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	var body map[string]string
	status, raw, header := st.Do(t, "GET", "/v1/health", "", nil)
	if status != http.StatusOK || json.Unmarshal(raw, &body) != nil || body["status"] != "ok" {
		t.Fatalf("GET /v1/health = %d %s", status, raw)
	}
	if header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	var e struct{ Error struct{ Code string } }
	if status := st.DoJSON(t, "GET", "/v1/nowhere", "", nil, &e); status != http.StatusNotFound || e.Error.Code != "route_not_found" {
		t.Errorf("GET /v1/nowhere = %d %+v", status, e)
	}
}

func TestTenantSMS(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	mobile := st.Mobile()
	code := "t" + mobile[5:]
	status, raw, _ := st.Do(t, "POST", "/v1/platform/tenants", st.OperatorKey(), map[string]any{
		"code":  code,
		"name":  "Acme",
		"admin": map[string]string{"name": "Ann", "mobile": mobile},
	})
	if status != http.StatusCreated {
		t.Fatalf("create tenant = %d %s", status, raw)
	}
	msgs := st.SMS(t, mobile)
	if len(msgs) != 1 || msgs[0].To != mobile || !strings.Contains(msgs[0].Text, code) {
		t.Fatalf("SMS to %s = %+v", mobile, msgs)
	}
	if other := st.SMS(t, "+86"+st.Mobile()); len(other) != 0 {
		t.Errorf("SMS to a fresh mobile = %+v", other)
	}
}

func TestIsolationAndOptions(t *testing.T) {
	t.Parallel()
	clock := stacktest.NewClock(time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC))
	var counter dynamo.Counter
	a := stacktest.New(t, stacktest.WithClock(clock.Now), stacktest.WithEnv(map[string]string{"LOG_LEVEL": "DEBUG"}), stacktest.WithCounter(&counter))
	b := stacktest.New(t)

	if a.Tables["TenantsTable"] == b.Tables["TenantsTable"] || a.Tables["TenantsTable"] == "" {
		t.Errorf("two stacks share table %q", a.Tables["TenantsTable"])
	}
	env := a.Env("PlatformFunction")
	if env["TENANTS_TABLE"] != a.Tables["TenantsTable"] || env["LOG_LEVEL"] != "DEBUG" || env["AWS_ENDPOINT_URL"] != a.Endpoint {
		t.Errorf("env = %v", env)
	}

	// A function's DynamoDB calls are counted; a raw client sees its table.
	a.Do(t, "POST", "/v1/platform/tenants", a.OperatorKey(), map[string]any{
		"code": "iso" + a.Mobile()[7:], "name": "Iso", "admin": map[string]string{"name": "Ann", "mobile": a.Mobile()},
	})
	if counter.Calls() == 0 {
		t.Error("the counter saw no DynamoDB call")
	}
	var own dynamo.Counter
	out, err := a.DynamoDB(dynamo.WithCounter(&own)).Scan(t.Context(), &dynamodb.ScanInput{TableName: &[]string{a.Tables["TenantsTable"]}[0]})
	if err != nil || out.Count == 0 || own.Calls("Scan") != 1 {
		t.Errorf("scan of the stack's table: %v %v, %d calls", out, err, own.Calls())
	}

	// Invoke goes through the same bytes path as the gateway.
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET /v1/health", RawPath: "/v1/health",
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-1",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/v1/health"},
		},
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(a.Invoke(t, "PlatformFunction", ev), &resp); err != nil || resp.StatusCode != 200 {
		t.Errorf("invoke: %+v %v", resp, err)
	}
	if _, err := a.TryInvoke("NoFunction", ev); err == nil {
		t.Error("invoking an unknown function succeeded")
	}
}

func TestMobile(t *testing.T) {
	seen := map[string]bool{}
	valid := regexp.MustCompile(`^139\d{8}$`)
	for range 1000 {
		m := stacktest.Mobile()
		if !valid.MatchString(m) || seen[m] {
			t.Fatalf("Mobile() = %q (seen before: %v)", m, seen[m])
		}
		seen[m] = true
	}
}

func TestNewTenantGivesAWorkingAdminToken(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	if tn.ID == "" || tn.Code == "" || tn.Admin.ID == "" || tn.Admin.Token == "" {
		t.Fatalf("tenant %+v", tn)
	}
	// The token verifies with the key the functions read from the secret
	// store, and opens a live session of an enabled admin.
	ctx := context.Background()
	env, err := cloud.Load(ctx, config.Map(map[string]string{
		"AWS_ENDPOINT_URL": st.Endpoint, "AWS_REGION": "us-east-1",
		"TOKEN_KEY_SECRET": strings.TrimSuffix(st.Tables["TenantsTable"], "TenantsTable") + "TokenKeySecret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	key, err := env.Secret(ctx, "TOKEN_KEY_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	p, err := (&auth.Tokens{Key: []byte(key), Now: time.Now}).Verify(tn.Admin.Token)
	if err != nil {
		t.Fatal(err)
	}
	sessions := &auth.DynamoSessions{DB: st.DynamoDB(), IdentityTable: st.Tables["IdentityTable"], DirectoryTable: st.Tables["DirectoryTable"], TenantsTable: st.Tables["TenantsTable"], Now: time.Now}
	status, err := sessions.CheckSession(ctx, p)
	role := status.Role
	if err != nil || role != "admin" || p.TenantID != tn.ID || p.MemberID != tn.Admin.ID {
		t.Fatalf("session check: %q %v %+v", role, err, p)
	}
}
