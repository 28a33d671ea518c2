package chat_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.yaml.in/yaml/v3"

	"workbench/shared/auth"
	"workbench/shared/chat"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/stack"
)

// templateEnv returns a function's Environment.Variables from
// template.yaml, with each !Ref replaced by resolve(name).
func templateEnv(t *testing.T, function string, resolve func(string) string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	get := func(n *yaml.Node, key string) *yaml.Node {
		for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		return nil
	}
	vars := get(get(get(get(get(doc.Content[0], "Resources"), function), "Properties"), "Environment"), "Variables")
	if vars == nil {
		t.Fatalf("template.yaml has no environment for %s", function)
	}
	env := map[string]string{}
	for i := 0; i+1 < len(vars.Content); i += 2 {
		v := vars.Content[i+1]
		if v.Tag == "!Ref" {
			env[vars.Content[i].Value] = resolve(v.Value)
		} else {
			env[vars.Content[i].Value] = v.Value
		}
	}
	return env
}

// TestFunctionsBootFromTheTemplate builds the three chat functions from
// exactly the environment template.yaml gives them, and drives each once:
// a wrong or missing setting fails here rather than at a cold start.
func TestFunctionsBootFromTheTemplate(t *testing.T) {
	ctx := context.Background()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	tables := chat.TablesForTest(t)
	base, err := cloud.Load(ctx, config.Map(map[string]string{"AWS_ENDPOINT_URL": chat.MotoURLForTest(), "AWS_REGION": "us-east-1"}))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"DataKeysSecret": `{"active":"k1","k1":"test-data-key-material-0123456789abcdef"}`,
		"IndexKeySecret": "test-index-key-material-0123456789abcdef",
		"TokenKeySecret": "test-token-key-0123456789abcdef-0123456789",
	}
	prefix := strings.ReplaceAll(t.Name(), "/", "-") + "-" + tables["ChatTable"]
	for name, value := range secrets {
		if _, err := base.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(prefix + name), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(ref string) string {
		if v, ok := tables[ref]; ok {
			return v
		}
		if _, ok := secrets[ref]; ok {
			return prefix + ref
		}
		return "Workbench" // parameters
	}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	build := func(fn string) func(payload any) []byte {
		m := templateEnv(t, fn, resolve)
		m["AWS_ENDPOINT_URL"], m["AWS_REGION"] = chat.MotoURLForTest(), "us-east-1"
		env, err := cloud.Load(ctx, config.Map(m))
		if err != nil {
			t.Fatal(err)
		}
		env.Now = func() time.Time { return now }
		h, err := stack.Functions[fn](ctx, env)
		if err != nil {
			t.Fatalf("%s does not boot from its template environment: %v", fn, err)
		}
		return func(payload any) []byte {
			raw, _ := json.Marshal(payload)
			out, err := h.Invoke(ctx, raw)
			if err != nil {
				t.Fatalf("%s: %v", fn, err)
			}
			return out
		}
	}
	send, chatFn, sweep := build("ChatSendFunction"), build("ChatFunction"), build("RocketReminderFunction")

	a, _ := chat.MemberForTest(t, tables, "t1", "张三", now)
	b, _ := chat.MemberForTest(t, tables, "t1", "李四", now)
	token := func(p auth.Principal) string {
		p.SessionID = "s-" + p.MemberID
		sess := &auth.DynamoSessions{DB: base.DynamoDB, IdentityTable: tables["IdentityTable"], DirectoryTable: tables["DirectoryTable"], Now: func() time.Time { return now }}
		if err := sess.Put(ctx, auth.NewSession(p.SessionID, p.TenantID, "acme", p.MemberID, "sms", now, time.Hour)); err != nil {
			t.Fatal(err)
		}
		tok, _, err := (&auth.Tokens{Key: []byte(secrets["TokenKeySecret"]), Now: func() time.Time { return now }}).Issue(p)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	call := func(h func(any) []byte, method, path, tok, body string) (int, map[string]any) {
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: path, Body: body,
			Headers: map[string]string{"authorization": "Bearer " + tok, "content-type": "application/json"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RequestID: "req-1", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "127.0.0.1"},
			},
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(h(ev), &resp); err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.Unmarshal([]byte(resp.Body), &out)
		return resp.StatusCode, out
	}

	A := token(a)
	st, conv := call(chatFn, "POST", "/v1/conversations", A, `{"memberIds":["`+b.MemberID+`"]}`)
	if st != 201 {
		t.Fatalf("create: %d %v", st, conv)
	}
	st, r := call(send, "POST", "/v1/rocket-messages", A, `{"memberIds":["`+b.MemberID+`"],"text":"line 3 is down"}`)
	if st != 201 {
		t.Fatalf("rocket: %d %v", st, r)
	}
	if st, _ := call(chatFn, "GET", "/v1/me/notices", A, ""); st != 200 {
		t.Fatalf("notices: %d", st)
	}
	msgID := r["messages"].([]any)[0].(map[string]any)["id"].(string)
	// The sweep takes its "now" from the EventBridge event's time.
	sweep(map[string]any{"source": "aws.events", "detail-type": "Scheduled Event", "time": now.Add(4 * time.Minute).Format(time.RFC3339)})
	if sent, attempts, done := chat.ReminderForTest(t, tables, "t1", msgID); len(sent) != 0 || attempts != 0 || done {
		t.Fatalf("before the window: sent %v, attempts %d, done %v", sent, attempts, done)
	}
	at := map[string]any{"source": "aws.events", "detail-type": "Scheduled Event", "time": now.Add(6 * time.Minute).Format(time.RFC3339)}
	sweep(at)
	sweep(at)
	if sent, attempts, done := chat.ReminderForTest(t, tables, "t1", msgID); len(sent) != 1 || sent[0] != b.MemberID || attempts != 1 || !done {
		t.Fatalf("after the window and a second run: sent %v, attempts %d, done %v", sent, attempts, done)
	}
}
