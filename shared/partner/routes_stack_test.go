package partner_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"workbench/infra/localstack"
	"workbench/infra/stacktest"
	"workbench/infra/template"
	"workbench/shared/partner"
)

// The partner routes the walkthrough does not take, on the whole stack, so
// that each function's AWS calls are recorded as the template's functions
// make them (infra/iamcheck): the app list (a Query of gsi1), extension
// data set and then removed (a Delete inside the binding's transaction),
// the marketplace's signed callbacks, and the Lambda invoke that starts the
// delivery function in AWS.
func TestPartnerRoutesOnTheStack(t *testing.T) {
	clk := stacktest.NewClock(time.Now().UTC())
	p := newTestPartner(t, clk.Now)
	// invoke: the trigger the API functions use in AWS. The local stack
	// has no Lambda service to deliver through, so delivery waits for the
	// schedule.
	invoke := map[string]string{"PARTNER_SYNC_TRIGGER": "invoke"}
	s := stacktest.New(t, stacktest.WithClock(clk.Now), stacktest.WithEnv(map[string]string{
		"PARTNER_EXTRA_CA": p.caPEM,
		"PARTNER_RESOLVE":  partnerHost + ":443=" + p.srv.Listener.Addr().String(),
	}), stacktest.WithFunctionEnv("PartnerFunction", invoke), stacktest.WithFunctionEnv("MarketplaceFunction", invoke))
	var created struct{ PartnerKey, AccessKey string }
	if st := s.DoJSON(t, "POST", "/v1/platform/partners", s.OperatorKey(), map[string]any{"name": "ISV"}, &created); st != 201 {
		t.Fatalf("create partner = %d", st)
	}
	p.setAccessKey(created.AccessKey)
	var app struct{ AppID string }
	if st := s.DoJSON(t, "POST", "/v1/partner/apps", created.PartnerKey, map[string]any{
		"name": "Demo", "productionUrl": "https://" + partnerHost + "/isv", "publicKey": p.publicPEM,
	}, &app); st != 201 {
		t.Fatalf("register = %d", st)
	}
	tn := s.NewTenant(t)
	admin := tn.Admin.Token

	var apps struct{ Items []struct{ AppID string } }
	if st := s.DoJSON(t, "GET", "/v1/admin/apps", admin, nil, &apps); st != 200 || len(apps.Items) == 0 {
		t.Fatalf("apps = %d %+v", st, apps)
	}
	if st, body, _ := s.Do(t, "POST", "/v1/admin/apps/"+app.AppID+"/binding", admin, nil); st != 201 {
		t.Fatalf("bind = %d %s", st, body)
	}
	if n := len(p.received()); n != 0 {
		t.Fatalf("%d calls delivered without a Lambda service to invoke", n)
	}
	clk.Advance(time.Second)
	s.Invoke(t, "PartnerSyncFunction", map[string]any{"source": "aws.events"})
	if k := kinds(p.received()); len(k) == 0 || k[0] != "tenantSync" {
		t.Fatalf("the schedule delivered %v", k)
	}

	member := tn.Admin.ID
	for _, ext := range []any{map[string]any{"badge": "B-17"}, nil} {
		var ch partner.ExtensionChange
		if st := s.DoJSON(t, "PUT", "/v1/admin/apps/"+app.AppID+"/extension", admin,
			map[string]any{"members": map[string]any{member: ext}}, &ch); st != 200 || ch.Updated != 1 {
			t.Fatalf("extension %v = %d %+v", ext, st, ch)
		}
	}

	// The marketplace opens an instance for another tenant, then expires it.
	other := s.NewTenant(t)
	key, err := localstack.SecretValue(template.Secret{LogicalID: "MarketplaceKeySecret"})
	if err != nil {
		t.Fatal(err)
	}
	market := func(nonce string, body map[string]any) map[string]any {
		t.Helper()
		raw, _ := json.Marshal(body)
		ts := strconv.FormatInt(clk.Now().UnixMilli(), 10)
		req, _ := http.NewRequest("POST", s.URL+"/v1/marketplace/instances", bytes.NewReader(raw))
		req.Header.Set("x-timestamp", ts)
		req.Header.Set("x-nonce", nonce)
		req.Header.Set("x-sign", partner.Sign(key, nonce, ts, raw))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 || out["resultCode"] != "000000" {
			t.Fatalf("marketplace %v = %d %s", body["activity"], resp.StatusCode, b)
		}
		return out
	}
	out := market("nonce-routes-000001", map[string]any{"activity": "newInstance", "orderId": "o-routes", "appId": app.AppID, "tenantCode": other.Code})
	instance := out["instanceId"]
	if out = market("nonce-routes-000002", map[string]any{"activity": "expireInstance", "instanceId": instance}); out["state"] != "expired" {
		t.Fatalf("expireInstance = %v", out)
	}
	later := clk.Now().Add(365 * 24 * time.Hour).Format(time.RFC3339)
	if out = market("nonce-routes-000003", map[string]any{"activity": "refreshInstance", "instanceId": instance, "expireTime": later}); out["state"] != "active" {
		t.Fatalf("refreshInstance = %v", out)
	}
	market("nonce-routes-000004", map[string]any{"activity": "releaseInstance", "instanceId": instance})
}
