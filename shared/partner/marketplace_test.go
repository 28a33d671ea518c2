package partner_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"workbench/infra/stacktest"
	"workbench/shared/partner"
)

// market sends a marketplace callback signed with key at the given time
// and nonce.
func (w *world) market(key string, at time.Time, nonce string, body any) (int, map[string]any) {
	w.t.Helper()
	raw, _ := json.Marshal(body)
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req, _ := http.NewRequest("POST", w.api.URL+"/v1/marketplace/instances", bytes.NewReader(raw))
	req.Header.Set("x-timestamp", ts)
	req.Header.Set("x-nonce", nonce)
	req.Header.Set("x-sign", partner.Sign(key, nonce, ts, raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	stacktest.CheckResponse(w.t, "POST", "/v1/marketplace/instances", resp.StatusCode, resp.Header, b)
	if err := json.Unmarshal(b, &out); err != nil {
		w.t.Fatalf("marketplace answer %s", b)
	}
	return resp.StatusCode, out
}

var nonceN int

func nonce() string { nonceN++; return fmt.Sprintf("nonce-%012d", nonceN) }

func TestMarketplaceSignatureFailures(t *testing.T) {
	f := newFixture(t)
	w := f.w
	body := map[string]any{"activity": "newInstance", "orderId": "o-1", "appId": f.app, "tenantCode": "acme"}
	now := w.clock.Now()
	for name, tc := range map[string]struct {
		key string
		at  time.Time
	}{
		"bad key": {"wrong-key-wrong-key", now},
		"stale":   {w.mkey, now.Add(-61 * time.Second)},
		"future":  {w.mkey, now.Add(61 * time.Second)},
	} {
		code, out := w.market(tc.key, tc.at, nonce(), body)
		if code != 401 || out["resultCode"] != "000001" {
			t.Errorf("%s: %d %v", name, code, out)
		}
	}
	// Tampered body: signature over another body.
	raw, _ := json.Marshal(body)
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	req, _ := http.NewRequest("POST", w.api.URL+"/v1/marketplace/instances", bytes.NewReader(append(raw[:len(raw)-1], []byte(`,"expireTime":"2030-01-01T00:00:00Z"}`)...)))
	n := nonce()
	req.Header.Set("x-timestamp", ts)
	req.Header.Set("x-nonce", n)
	req.Header.Set("x-sign", partner.Sign(w.mkey, n, ts, raw))
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("tampered body = %d", resp.StatusCode)
	}
	// Missing headers.
	resp, _ = http.Post(w.api.URL+"/v1/marketplace/instances", "application/json", bytes.NewReader(raw))
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unsigned = %d", resp.StatusCode)
	}
	if n := w.countItems("ORDER#"); n != 0 {
		t.Fatalf("refused callbacks created %d orders", n)
	}
	// A good call, then its replay.
	n = nonce()
	if code, out := w.market(w.mkey, now.Add(-59*time.Second), n, body); code != 200 || out["resultCode"] != "000000" {
		t.Fatalf("good call = %d %v", code, out)
	}
	if code, out := w.market(w.mkey, now, n, body); code != 401 || out["resultCode"] != "000001" {
		t.Fatalf("replayed nonce = %d %v", code, out)
	}
}

func TestMarketplaceActivities(t *testing.T) {
	f := newFixture(t)
	w := f.w
	expire := w.clock.Now().Add(30 * 24 * time.Hour).Format(time.RFC3339)
	// Fields of the marketplace's protocol we do not use are ignored.
	newInst := map[string]any{"activity": "newInstance", "orderId": "order-42", "appId": f.app, "tenantCode": "acme", "expireTime": expire, "testFlag": 0, "buyerName": "x", "skuId": 7}
	code, out := w.market(w.mkey, w.clock.Now(), nonce(), newInst)
	if code != 200 || out["resultCode"] != "000000" || out["instanceId"] == "" {
		t.Fatalf("newInstance = %d %v", code, out)
	}
	instance := out["instanceId"].(string)
	// The same order always answers the same instance, and binds once.
	code, out = w.market(w.mkey, w.clock.Now(), nonce(), newInst)
	if code != 200 || out["instanceId"] != instance || out["state"] != "active" {
		t.Fatalf("repeated newInstance = %d %v", code, out)
	}
	w.sweep()
	if k := kinds(w.partner.received()); !reflect.DeepEqual(k, []string{"tenantSync", "applicationSync", "allOrgSync"}) {
		t.Fatalf("calls = %v", k)
	}
	if got := w.partner.received()[0].Body; got["orderId"] != "order-42" || got["instanceId"] != instance {
		t.Fatalf("tenantSync = %v", got)
	}
	app := w.mustDo(200, "GET", "/v1/admin/apps", "admin:acme", nil)["items"].([]any)[0].(map[string]any)
	if b := app["binding"].(map[string]any); b["source"] != "marketplace" || b["state"] != "active" || b["expireTime"] == nil {
		t.Fatalf("binding = %v", b)
	}
	// Registry binding of a bought app is refused.
	if code, _ := w.do("POST", "/v1/admin/apps/"+f.app+"/binding", "admin:acme", nil); code != 409 {
		t.Fatalf("registry bind of a bought app = %d", code)
	}
	// Unknown instance, unknown activity, bad params.
	if code, out := w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "expireInstance", "instanceId": "nope"}); code != 404 || out["resultCode"] != "000003" {
		t.Fatalf("unknown instance = %d %v", code, out)
	}
	if code, out := w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "dance"}); code != 400 || out["resultCode"] != "000002" {
		t.Fatalf("unknown activity = %d %v", code, out)
	}
	if code, out := w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "newInstance", "orderId": "x", "appId": f.app}); code != 400 || out["resultCode"] != "000002" {
		t.Fatalf("newInstance without tenant = %d %v", code, out)
	}

	// expireInstance: the app stops; nothing more is sent, admins see expired.
	if code, out := w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "expireInstance", "instanceId": instance}); code != 200 || out["state"] != "expired" {
		t.Fatalf("expireInstance = %d %v", code, out)
	}
	if code, out := w.do("PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"departmentIds": []string{"d1"}}); code != 409 {
		t.Fatalf("scope change of an expired app = %d %v", code, out)
	}
	app = w.mustDo(200, "GET", "/v1/admin/apps", "admin:acme", nil)["items"].([]any)[0].(map[string]any)
	if app["binding"].(map[string]any)["state"] != "expired" {
		t.Fatalf("expired app shows %v", app)
	}
	// refreshInstance: renewed, active again.
	later := w.clock.Now().Add(400 * 24 * time.Hour).Format(time.RFC3339)
	if code, out := w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "refreshInstance", "instanceId": instance, "expireTime": later}); code != 200 || out["state"] != "active" {
		t.Fatalf("refreshInstance = %d %v", code, out)
	}
	w.mustDo(200, "PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"memberIds": []string{"m1"}})
	w.sweep()
	if n := len(w.partner.received()); n != 4 {
		t.Fatalf("after refresh %d calls (%v)", n, kinds(w.partner.received()))
	}
	// Past its expiry time, the app stops even without expireInstance.
	w.clock.Add(401 * 24 * time.Hour)
	if code, _ := w.do("PUT", "/v1/admin/apps/"+f.app+"/visibility", "admin:acme", map[string]any{"memberIds": []string{}}); code != 409 {
		t.Fatalf("scope change past expiry = %d", code)
	}
	// releaseInstance: unbound, tenantSync flag 0 is sent.
	if code, out := w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "releaseInstance", "instanceId": instance}); code != 200 || out["resultCode"] != "000000" {
		t.Fatalf("releaseInstance = %d %v", code, out)
	}
	w.sweep()
	got := w.partner.received()
	last := got[len(got)-1]
	if len(got) != 5 || last.Kind != "tenantSync" || last.Body["flag"] != 0.0 || last.Body["instanceId"] != instance {
		t.Fatalf("release calls = %v", kinds(got))
	}
	app = w.mustDo(200, "GET", "/v1/admin/apps", "admin:acme", nil)["items"].([]any)[0].(map[string]any)
	if app["bound"] != false {
		t.Fatalf("released app = %v", app)
	}
	// Releasing twice is harmless; the sync log stays readable.
	if code, _ := w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "releaseInstance", "instanceId": instance}); code != 200 {
		t.Fatalf("second release = %d", code)
	}
	logs := w.mustDo(200, "GET", "/v1/admin/apps/"+f.app+"/sync-logs?limit=2", "admin:acme", nil)
	if len(logs["items"].([]any)) != 2 || logs["nextCursor"] == nil {
		t.Fatalf("logs page = %v", logs)
	}
	rest := w.mustDo(200, "GET", "/v1/admin/apps/"+f.app+"/sync-logs?cursor="+logs["nextCursor"].(string), "admin:acme", nil)
	if n := len(rest["items"].([]any)); n != 3 || rest["nextCursor"] != nil {
		t.Fatalf("second page = %v", rest)
	}
	// The app can be bought again (a new order, a new instance).
	newInst["orderId"] = "order-43"
	newInst["expireTime"] = w.clock.Now().Add(time.Hour).Format(time.RFC3339)
	code, out = w.market(w.mkey, w.clock.Now(), nonce(), newInst)
	if code != 200 || out["instanceId"] == instance {
		t.Fatalf("re-bought = %d %v", code, out)
	}
}

func TestExpiredBindingSkipsQueuedCalls(t *testing.T) {
	f := newFixture(t)
	w := f.w
	code, out := w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "newInstance", "orderId": "o-9", "appId": f.app, "tenantCode": "acme"})
	if code != 200 {
		t.Fatal(out)
	}
	w.market(w.mkey, w.clock.Now(), nonce(), map[string]any{"activity": "expireInstance", "instanceId": out["instanceId"]})
	st := w.sweep()
	if st.Skipped != 3 || len(w.partner.received()) != 0 {
		t.Fatalf("expired binding: %+v, %d calls", st, len(w.partner.received()))
	}
}
