package localstack

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"workbench/infra/moto"
	"workbench/infra/template"
	"workbench/shared/cloud"
)

var (
	motoOnce     sync.Once
	motoServer   *moto.Server
	motoEndpoint string
	motoErr      error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if motoServer != nil {
		motoServer.Stop()
	}
	os.Exit(code)
}

// endpoint returns the moto server the tests share, started on first use.
func endpoint(t testing.TB) string {
	t.Helper()
	motoOnce.Do(func() {
		if e := os.Getenv("WORKBENCH_MOTO_ENDPOINT"); e != "" {
			motoEndpoint = e
			return
		}
		motoServer, motoErr = moto.Start(context.Background(), moto.Options{Dir: "../.."})
		if motoErr == nil {
			motoEndpoint = motoServer.Endpoint
		}
	})
	if motoErr != nil {
		t.Fatal(motoErr)
	}
	return motoEndpoint
}

const testTemplate = `
Parameters:
  Stage: {Type: String, Default: dev}
  Sender: {Type: String, Default: Workbench}
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  OperatorKeySecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {PasswordLength: 48}
  DataKeysSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {SecretStringTemplate: '{"active":"k1"}', GenerateStringKey: k1, PasswordLength: 64}
  IndexKeySecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {PasswordLength: 64}
  PlainTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  IndexedTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: gsi1pk, AttributeType: S}
        - {AttributeName: gsi1sk, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema: [{AttributeName: gsi1pk, KeyType: HASH}, {AttributeName: gsi1sk, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  WebFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          PLAIN_TABLE: !Ref PlainTable
          INDEXED_TABLE_ARN: !GetAtt IndexedTable.Arn
          OPERATOR_KEY_SECRET: !Ref OperatorKeySecret
          SENDER: !Ref Sender
      Events:
        Send:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: POST, Path: /v1/sms}
  JobFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Daily:
          Type: Schedule
          Properties: {Schedule: rate(1 day)}
`

func newTestStack(t *testing.T, cfg Config) *Stack {
	t.Helper()
	if cfg.Template == nil {
		tmpl, err := template.Parse([]byte(testTemplate))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Template = tmpl
	}
	cfg.Endpoint = endpoint(t)
	if cfg.Prefix == "" {
		cfg.Prefix = "lt" + strings.ToLower(rand.Text()[:8]) + "-"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestProvision(t *testing.T) {
	t.Setenv("WORKBENCH_OPERATOR_KEY", "")
	ctx := context.Background()
	s := newTestStack(t, Config{})
	for range 2 { // the second time finds everything in place
		if err := s.Provision(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := s.Tables(), map[string]string{"PlainTable": s.Name("PlainTable"), "IndexedTable": s.Name("IndexedTable")}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tables = %v", got)
	}

	db := s.DynamoDB()
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.Name("IndexedTable"))})
	if err != nil {
		t.Fatal(err)
	}
	td := out.Table
	if len(td.KeySchema) != 2 || aws.ToString(td.KeySchema[1].AttributeName) != "sk" || td.KeySchema[1].KeyType != types.KeyTypeRange {
		t.Errorf("key schema = %+v", td.KeySchema)
	}
	if td.BillingModeSummary == nil || td.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing = %+v", td.BillingModeSummary)
	}
	if len(td.GlobalSecondaryIndexes) != 1 || aws.ToString(td.GlobalSecondaryIndexes[0].IndexName) != "gsi1" ||
		td.GlobalSecondaryIndexes[0].Projection.ProjectionType != types.ProjectionTypeAll {
		t.Errorf("GSIs = %+v", td.GlobalSecondaryIndexes)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(s.Name("IndexedTable"))})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "ttl" {
		t.Errorf("TTL = %+v", d)
	}

	secret := func(id string) string {
		out, err := s.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.Name(id))})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.SecretString)
	}
	if got := secret("OperatorKeySecret"); got != "local-operator-key" {
		t.Errorf("operator key = %q", got)
	}
	var keys map[string]string
	if err := json.Unmarshal([]byte(secret("DataKeysSecret")), &keys); err != nil || keys["active"] != "k1" || len(keys["k1"]) != 64 || len(keys) != 2 {
		t.Errorf("data keys = %v, %v", keys, err)
	}
	index := secret("IndexKeySecret")
	if len(index) != 64 || index == keys["k1"] {
		t.Errorf("index key = %q", index)
	}

	// The values are fixed: a second stack gets the same ones, and
	// overrides take effect.
	t.Setenv("WORKBENCH_OPERATOR_KEY", "from-env")
	s2 := newTestStack(t, Config{Secrets: map[string]string{"IndexKeySecret": "given"}})
	if err := s2.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	s = s2
	if got := secret("OperatorKeySecret"); got != "from-env" {
		t.Errorf("operator key with WORKBENCH_OPERATOR_KEY = %q", got)
	}
	if got := secret("IndexKeySecret"); got != "given" {
		t.Errorf("overridden index key = %q", got)
	}
	if got := secret("DataKeysSecret"); !strings.Contains(got, keys["k1"]) {
		t.Errorf("data keys differ between stacks: %q", got)
	}
}

func TestEnv(t *testing.T) {
	s := newTestStack(t, Config{
		Prefix:     "p1-",
		Parameters: map[string]string{"Sender": "Other"},
		Settings:   map[string]string{"EXTRA": "x", "STAGE": "test"},
	})
	got, err := s.Env("WebFunction")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"STAGE":                 "test",
		"PLAIN_TABLE":           "p1-PlainTable",
		"INDEXED_TABLE_ARN":     "arn:aws:dynamodb:us-east-1:123456789012:table/p1-IndexedTable",
		"OPERATOR_KEY_SECRET":   "p1-OperatorKeySecret",
		"SENDER":                "Other",
		"EXTRA":                 "x",
		"AWS_ENDPOINT_URL":      s.Endpoint(),
		"AWS_REGION":            "us-east-1",
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Env = %v\nwant %v", got, want)
	}
	if _, err := s.Env("NoFunction"); err == nil {
		t.Error("Env of an unknown function succeeded")
	}
}

// smsFunction sends the SMS it is asked to, through the function's own
// SNS client, and stores a row in PLAIN_TABLE.
func smsFunction(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	table := env.Config("PLAIN_TABLE")
	return lambda.NewHandler(func(ctx context.Context, ev struct{ Body string }) (map[string]any, error) {
		var in struct{ Mobile, Text string }
		if err := json.Unmarshal([]byte(ev.Body), &in); err != nil {
			return nil, err
		}
		if _, err := env.SNS.Publish(ctx, &sns.PublishInput{PhoneNumber: aws.String(in.Mobile), Message: aws.String(in.Text)}); err != nil {
			return nil, err
		}
		if _, err := env.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(table),
			Item:      map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: in.Text}},
		}); err != nil {
			return nil, err
		}
		return map[string]any{"statusCode": 202}, nil
	}), nil
}

// clockFunction reports the time of its environment's clock.
func clockFunction(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	return lambda.NewHandler(func() (string, error) { return env.Now().Format(time.RFC3339), nil }), nil
}

func TestBuildAndServe(t *testing.T) {
	ctx := context.Background()
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newTestStack(t, Config{Now: func() time.Time { return fixed }})
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}

	for _, builders := range []map[string]Builder{
		{"WebFunction": smsFunction},
		{"WebFunction": smsFunction, "JobFunction": clockFunction, "OtherFunction": clockFunction},
	} {
		if _, err := s.Build(ctx, builders); err == nil {
			t.Errorf("Build with builders %v succeeded", slices.Sorted(maps.Keys(builders)))
		}
	}
	fns, err := s.Build(ctx, map[string]Builder{"WebFunction": smsFunction, "JobFunction": clockFunction})
	if err != nil {
		t.Fatal(err)
	}
	if fns["JobFunction"].Timeout != 5*time.Second || fns["JobFunction"].ARN != "arn:aws:lambda:us-east-1:123456789012:function:"+s.Name("JobFunction") {
		t.Errorf("JobFunction = %+v", fns["JobFunction"])
	}
	g, err := s.Gateway(fns)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()

	resp, body := do(t, "POST", srv.URL+"/_local/invoke/JobFunction", `{"time":"2030-01-01T00:00:00Z"}`)
	if resp.StatusCode != 200 || string(body) != "\"2030-01-02T03:04:05Z\"\n" {
		t.Errorf("invoke JobFunction = %d %s", resp.StatusCode, body)
	}

	mobile, other := "13912340001", "13912340002"
	for _, m := range []struct{ to, text string }{{"+86" + mobile, "one"}, {"+86" + other, "not yours"}, {"+86" + mobile, "two"}} {
		resp, body := do(t, "POST", srv.URL+"/v1/sms", fmt.Sprintf(`{"mobile":%q,"text":%q}`, m.to, m.text))
		if resp.StatusCode != 202 {
			t.Fatalf("send: %d %s", resp.StatusCode, body)
		}
	}
	for _, q := range []string{mobile, "%2B86" + mobile} {
		resp, body := do(t, "GET", srv.URL+"/_local/sms?mobile="+q, "")
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"items":[{"to":"13912340001","text":"one"},{"to":"13912340001","text":"two"}]}` {
			t.Errorf("sms for %s = %d %s", q, resp.StatusCode, body)
		}
	}
	resp, body = do(t, "GET", srv.URL+"/_local/sms?mobile=13900000000", "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"items":[]}` {
		t.Errorf("sms for nobody = %d %s", resp.StatusCode, body)
	}

	// The function wrote to its own prefixed table.
	out, err := s.DynamoDB().GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Name("PlainTable")),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "two"}},
	})
	if err != nil || out.Item == nil {
		t.Errorf("item written by the function: %v %v", out, err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	src := newTestStack(t, Config{})
	if err := src.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	rich := map[string]types.AttributeValue{
		"pk":     &types.AttributeValueMemberS{Value: "rich"},
		"sk":     &types.AttributeValueMemberS{Value: "0"},
		"gsi1pk": &types.AttributeValueMemberS{Value: "g"},
		"gsi1sk": &types.AttributeValueMemberN{Value: "12.5"},
		"b":      &types.AttributeValueMemberB{Value: []byte{0, 1, 0xff}},
		"t":      &types.AttributeValueMemberBOOL{Value: true},
		"f":      &types.AttributeValueMemberBOOL{Value: false},
		"null":   &types.AttributeValueMemberNULL{Value: true},
		"ss":     &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":     &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
		"bs":     &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"l":      &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}, &types.AttributeValueMemberN{Value: "3"}}},
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"s": &types.AttributeValueMemberS{Value: "ü\n\"q\""}}},
		}},
	}
	items := []map[string]types.AttributeValue{rich}
	for i := range 60 { // more than two batches
		items = append(items, map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("item%02d", i)},
			"sk": &types.AttributeValueMemberS{Value: "0"},
		})
	}
	if err := src.batchPut(ctx, src.Name("IndexedTable"), items); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if err := src.Snapshot(ctx, dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"IndexedTable.json", "PlainTable.json"}) {
		t.Errorf("snapshot files = %v", names)
	}
	plain, _ := os.ReadFile(filepath.Join(dir, "PlainTable.json"))
	if strings.TrimSpace(string(plain)) != "{\"Items\":[\n]}" {
		t.Errorf("empty table snapshot = %q", plain)
	}

	dst := newTestStack(t, Config{})
	if err := dst.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(ctx, dir); err != nil {
		t.Fatal(err)
	}
	got, err := dst.scan(ctx, dst.Name("IndexedTable"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(items) {
		t.Fatalf("restored %d items, want %d", len(got), len(items))
	}
	for _, item := range got {
		if item["pk"].(*types.AttributeValueMemberS).Value == "rich" && !reflect.DeepEqual(item, rich) {
			t.Errorf("restored item = %#v\nwant %#v", item, rich)
		}
	}
	// The index was fed by the restore, as by any write.
	q, err := dst.DynamoDB().Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(dst.Name("IndexedTable")),
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :g"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":g": &types.AttributeValueMemberS{Value: "g"}},
	})
	if err != nil || q.Count != 1 {
		t.Errorf("index query after restore: %v %v", q, err)
	}

	// A directory without snapshot files restores nothing and fails nothing.
	if err := dst.Restore(ctx, t.TempDir()); err != nil {
		t.Error(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PlainTable.json"), []byte(`{"Items":[{"pk":{"X":"1"}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(ctx, dir); err == nil || !strings.Contains(err.Error(), "unknown DynamoDB type") {
		t.Errorf("restore of a bad file = %v", err)
	}

	// A table not written to since the last snapshot keeps its file (here,
	// the bad one just written); one written to is saved anew.
	if err := src.Snapshot(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if kept, _ := os.ReadFile(filepath.Join(dir, "PlainTable.json")); !strings.Contains(string(kept), `"X"`) {
		t.Errorf("an unchanged table was saved again: %s", kept)
	}
	if err := src.batchPut(ctx, src.Name("PlainTable"), items[1:2]); err != nil {
		t.Fatal(err)
	}
	if err := src.Snapshot(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if saved, _ := os.ReadFile(filepath.Join(dir, "PlainTable.json")); !strings.Contains(string(saved), `"item00"`) {
		t.Errorf("a changed table was not saved: %s", saved)
	}
}

// The repository's own template must provision and resolve.
func TestRepositoryTemplate(t *testing.T) {
	tmpl, err := template.ParseFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStack(t, Config{Template: tmpl})
	if err := s.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, fn := range tmpl.Functions {
		if _, err := s.Env(fn.LogicalID); err != nil {
			t.Error(err)
		}
	}
	// No Lambda service here: the template's invoke triggers run in
	// process, and the others stay as they are.
	for id, want := range map[string]map[string]string{
		"MemberImportsFunction": {"MEMBER_IMPORT_TRIGGER": "local"},
		"PartnerFunction":       {"PARTNER_SYNC_TRIGGER": "async"},
		"PartnerSyncFunction":   {"PARTNER_SYNC_TRIGGER": "none"},
	} {
		env, err := s.Env(id)
		for name, v := range want {
			if err != nil || env[name] != v {
				t.Errorf("%s: %s = %q (%v), want %q", id, name, env[name], err, v)
			}
		}
	}
	if _, err := Routes(tmpl); err != nil {
		t.Error(err)
	}
}
