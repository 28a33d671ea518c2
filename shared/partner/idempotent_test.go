package partner_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"workbench/infra/stacktest"
)

// registerWith posts an app registration with an Idempotency-Key.
func registerWith(t *testing.T, s *stacktest.Stack, partnerKey, key string, body any) (int, []byte, http.Header) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", s.URL+"/v1/partner/apps", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+partnerKey)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	stacktest.CheckResponse(t, "POST", "/v1/partner/apps", resp.StatusCode, resp.Header, out)
	return resp.StatusCode, out, resp.Header
}

// TestRegisterAppIdempotencyKey: a retried registration with the same key
// and body answers the first 201 and registers one app; the key with
// another body is 422; another partner's same key is its own.
func TestRegisterAppIdempotencyKey(t *testing.T) {
	s := stacktest.New(t)
	p := newTestPartner(t, time.Now)
	newPartner := func(name string) string {
		var created struct{ PartnerKey string }
		if st := s.DoJSON(t, "POST", "/v1/platform/partners", s.OperatorKey(), map[string]any{"name": name}, &created); st != 201 {
			t.Fatalf("create partner = %d", st)
		}
		return created.PartnerKey
	}
	isv := newPartner("ISV")
	app := map[string]any{"name": "Demo", "productionUrl": "https://" + partnerHost + "/isv", "publicKey": p.publicPEM}
	const key = "app-7d2e"
	code, first, h := registerWith(t, s, isv, key, app)
	if code != 201 || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first registration = %d %s", code, first)
	}
	code, again, h := registerWith(t, s, isv, key, app)
	if code != 201 || !bytes.Equal(again, first) || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry = %d %s %v; want the first 201 replayed", code, again, h)
	}
	other := map[string]any{"name": "Demo 2", "productionUrl": app["productionUrl"], "publicKey": p.publicPEM}
	if code, out, _ := registerWith(t, s, isv, key, other); code != 422 || !strings.Contains(string(out), "idempotency_key_reused") {
		t.Fatalf("another body with the same key = %d %s; want 422 idempotency_key_reused", code, out)
	}
	if code, out, h := registerWith(t, s, newPartner("ISV 2"), key, app); code != 201 || bytes.Equal(out, first) || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another partner's same key = %d %s %v; want its own 201", code, out, h)
	}

	admin := s.NewTenant(t).Admin.Token
	var apps struct{ Items []struct{ Name string } }
	if st := s.DoJSON(t, "GET", "/v1/admin/apps", admin, nil, &apps); st != 200 {
		t.Fatalf("list apps = %d", st)
	}
	if len(apps.Items) != 2 {
		t.Fatalf("apps %+v; want one of each partner", apps.Items)
	}
}
