package identity_test

// Temporary harness until infra/stacktest lands: moto + the stack's
// builders invoked with API Gateway events.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/stack"
)

var (
	motoOnce sync.Once
	motoURL  string
	motoCmd  *exec.Cmd
	seq      atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if motoCmd != nil {
		motoCmd.Process.Kill()
		motoCmd.Wait()
	}
	os.Exit(code)
}

func startMoto(t testing.TB) string {
	motoOnce.Do(func() {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command("python3", "-m", "moto.server", "-p", fmt.Sprint(port))
		motoCmd = cmd
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		motoURL = fmt.Sprintf("http://127.0.0.1:%d", port)
		for i := 0; i < 100; i++ {
			if r, err := http.Get(motoURL + "/moto-api/"); err == nil {
				r.Body.Close()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	os.Setenv("AWS_ACCESS_KEY_ID", "test")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	return motoURL
}

type Stack struct {
	Env      *cloud.Env
	Clock    *clock
	Settings map[string]string
	Tables   map[string]string
	handlers map[string]lambda.Handler
	IP       string
	mobiles  atomic.Int64
}

type option func(*Stack)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newStack(t testing.TB, overrides ...map[string]string) *Stack {
	url := startMoto(t)
	ctx := context.Background()
	n := seq.Add(1)
	prefix := fmt.Sprintf("t%d%d-", time.Now().UnixNano()%1e9, n)
	settings := map[string]string{"AWS_ENDPOINT_URL": url, "AWS_REGION": "us-east-1"}
	env, err := cloud.Load(ctx, config.Map(settings))
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{Env: env, Settings: settings, Tables: map[string]string{}, handlers: map[string]lambda.Handler{}, IP: "10.0.0.1"}
	for _, tb := range []struct {
		name, setting string
		gsi           bool
	}{{"TenantsTable", "TENANTS_TABLE", false}, {"DirectoryTable", "DIRECTORY_TABLE", true}, {"IdentityTable", "IDENTITY_TABLE", true}} {
		name := prefix + tb.name
		in := &dynamodb.CreateTableInput{
			TableName:   aws.String(name),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
		}
		if tb.gsi {
			in.AttributeDefinitions = append(in.AttributeDefinitions,
				types.AttributeDefinition{AttributeName: aws.String("gsi1pk"), AttributeType: types.ScalarAttributeTypeS},
				types.AttributeDefinition{AttributeName: aws.String("gsi1sk"), AttributeType: types.ScalarAttributeTypeS})
			in.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{
				IndexName:  aws.String("gsi1"),
				KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("gsi1pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("gsi1sk"), KeyType: types.KeyTypeRange}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}}
		}
		if _, err := env.DynamoDB.CreateTable(ctx, in); err != nil {
			t.Fatal(err)
		}
		settings[tb.setting] = name
		s.Tables[tb.name] = name
	}
	for setting, value := range map[string]string{
		"OPERATOR_KEY_SECRET": "local-operator-key",
		"DATA_KEYS_SECRET":    `{"active":"k1","k1":"0123456789abcdef0123456789abcdef-data"}`,
		"INDEX_KEY_SECRET":    "0123456789abcdef0123456789abcdef-index",
		"TOKEN_KEY_SECRET":    "0123456789abcdef0123456789abcdef-token",
	} {
		name := prefix + setting
		if _, err := env.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
		settings[setting] = name
	}
	for _, o := range overrides {
		for k, v := range o {
			settings[k] = v
		}
	}
	s.Clock = newClock()
	env.Now = s.Clock.Now
	for _, fn := range []string{"PlatformFunction", "VerifyCodeFunction", "LoginFunction"} {
		h, err := stack.Functions[fn](ctx, env)
		if err != nil {
			t.Fatal(fn, err)
		}
		s.handlers[fn] = h
	}
	return s
}

func (s *Stack) Mobile() string {
	return fmt.Sprintf("139%08d", (time.Now().UnixNano()/1000+s.mobiles.Add(1)*7919)%1e8)
}

type Resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r Resp) Code() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r Resp) Field() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["field"].(string)
	return c
}

func (r Resp) Str(k string) string { v, _ := r.Body[k].(string); return v }

func (s *Stack) Do(t testing.TB, method, path, token string, body any) Resp {
	t.Helper()
	fn := "LoginFunction"
	switch {
	case strings.HasPrefix(path, "/v1/auth/sms-codes"):
		fn = "VerifyCodeFunction"
	case strings.HasPrefix(path, "/v1/platform"), path == "/v1/health":
		fn = "PlatformFunction"
	}
	var raw string
	switch b := body.(type) {
	case nil:
	case string:
		raw = b
	default:
		j, _ := json.Marshal(b)
		raw = string(j)
	}
	p, q, _ := strings.Cut(path, "?")
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: p, RawQueryString: q,
		Headers: map[string]string{"content-type": "application/json", "user-agent": "harness/1"},
		Body:    raw,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: fmt.Sprint(seq.Add(1)),
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: p, SourceIP: s.IP, UserAgent: "harness/1"},
		},
	}
	if token != "" {
		ev.Headers["authorization"] = "Bearer " + token
	}
	payload, _ := json.Marshal(ev)
	out, err := s.handlers[fn].Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var res events.APIGatewayV2HTTPResponse
	json.Unmarshal(out, &res)
	r := Resp{Status: res.StatusCode, Header: http.Header{}, Raw: res.Body}
	for k, v := range res.Headers {
		r.Header.Set(k, v)
	}
	for k, v := range res.MultiValueHeaders {
		for _, x := range v {
			r.Header.Add(k, x)
		}
	}
	json.Unmarshal([]byte(res.Body), &r.Body)
	return r
}

func (s *Stack) SMS(t testing.TB, mobile string) []string {
	t.Helper()
	r, err := http.Get(motoURL + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var d struct {
		SNS struct {
			SMS []struct {
				Message string `json:"message"`
				Phone   string `json:"phone_number"`
			} `json:"SMS"`
		} `json:"sns"`
	}
	json.NewDecoder(r.Body).Decode(&d)
	var out []string
	for _, m := range d.SNS.SMS {
		if m.Phone == "+86"+mobile {
			out = append(out, m.Message)
		}
	}
	return out
}

var _ = bytes.NewReader
