package partner_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/stack"
)

// TestStackWiring builds the three functions the way their mains do, from
// settings and secrets, and drives them with Lambda events.
func TestStackWiring(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	settings := map[string]string{
		"AWS_ENDPOINT_URL": motoURL, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"PARTNERS_TABLE": w.tables["partners"], "DIRECTORY_TABLE": w.tables["directory"],
		"TENANTS_TABLE": w.tables["tenants"], "IDENTITY_TABLE": w.tables["directory"],
		"AUDIT_TABLE": w.tables["audit"],
		// No request here sends an Idempotency-Key, so the table is never read.
		"IDEMPOTENCY_TABLE":    w.tables["partners"] + "-idempotency",
		"PARTNER_SYNC_TRIGGER": "inline",
		"PARTNER_EXTRA_CA":     w.partner.caPEM,
		"PARTNER_RESOLVE":      partnerHost + ":443=" + w.partner.srv.Listener.Addr().String(),
	}
	env, err := cloud.Load(ctx, config.Map(settings))
	if err != nil {
		t.Fatal(err)
	}
	prefix := w.tables["partners"]
	for setting, value := range map[string]string{
		"DATA_KEYS_SECRET": `{"active":"k1","k1":"0123456789abcdef0123456789abcdef-test"}`, "INDEX_KEY_SECRET": "index-key-0123456789abcdef0123456789",
		"TOKEN_KEY_SECRET": strings.Repeat("t", 40), "OPERATOR_KEY_SECRET": w.operator, "MARKETPLACE_KEY_SECRET": w.mkey,
	} {
		name := prefix + "-" + setting
		if _, err := env.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
		settings[setting] = name
	}
	build := func(id string, s map[string]string) (func(payload any) []byte, error) {
		env, err := cloud.Load(ctx, config.Map(s))
		if err != nil {
			t.Fatal(err)
		}
		env.Now = w.clock.Now
		h, err := stack.Functions[id](ctx, env)
		if err != nil {
			return nil, err
		}
		return func(payload any) []byte {
			raw, _ := json.Marshal(payload)
			out, err := h.Invoke(ctx, raw)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			return out
		}, nil
	}
	partnerFn, err := build("PartnerFunction", settings)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build("MarketplaceFunction", settings); err != nil {
		t.Fatal(err)
	}
	syncSettings := map[string]string{}
	for k, v := range settings {
		syncSettings[k] = v
	}
	syncSettings["PARTNER_SYNC_TRIGGER"] = "none"
	syncFn, err := build("PartnerSyncFunction", syncSettings)
	if err != nil {
		t.Fatal(err)
	}

	out := partnerFn(events.APIGatewayV2HTTPRequest{
		RawPath: "/v1/platform/partners", Headers: map[string]string{"authorization": "Bearer " + w.operator, "content-type": "application/json"},
		Body:           `{"name":"Wired ISV"}`,
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/platform/partners"}},
	})
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if resp.StatusCode != 201 || !strings.Contains(resp.Body, "accessKey") {
		t.Fatalf("create partner through the function = %d %s", resp.StatusCode, resp.Body)
	}
	var st struct{ Sent int }
	if raw := syncFn(map[string]any{"source": "aws.events", "detail-type": "Scheduled Event"}); json.Unmarshal(raw, &st) != nil {
		t.Fatalf("sync answered %s", raw)
	}
	if st.Sent != 0 {
		t.Fatalf("sweep of nothing sent %d", st.Sent)
	}

	// The local overrides cannot be enabled in Lambda, nor can the worker
	// run without its trigger there.
	lambdaSettings := map[string]string{}
	for k, v := range settings {
		lambdaSettings[k] = v
	}
	lambdaSettings["AWS_LAMBDA_FUNCTION_NAME"] = "PartnerFunction"
	lambdaSettings["PARTNER_SYNC_FUNCTION"] = "sync"
	for _, id := range []string{"PartnerFunction", "MarketplaceFunction", "PartnerSyncFunction"} {
		if _, err := build(id, lambdaSettings); err == nil || !strings.Contains(err.Error(), "Lambda") {
			t.Errorf("%s with local overrides in Lambda: %v", id, err)
		}
	}
	delete(lambdaSettings, "PARTNER_EXTRA_CA")
	delete(lambdaSettings, "PARTNER_RESOLVE")
	if _, err := build("PartnerFunction", lambdaSettings); err != nil {
		t.Fatalf("production settings: %v", err)
	}
}
