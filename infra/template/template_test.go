package template

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const sample = `
Parameters:
  Stage: {Type: String, Default: dev}
  Sender: {Type: String, Default: Workbench}
  Required: {Type: String}
  Zones: {Type: CommaDelimitedList, Default: [a, b]}
Globals:
  Function:
    Runtime: provided.al2023
    MemorySize: 256
    Timeout: 10
    Environment:
      Variables:
        STAGE: !Ref Stage
        SHARED: global
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Key:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {PasswordLength: 48, ExcludePunctuation: true}
  DataKeys:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: '{"active":"k1"}'
        GenerateStringKey: k1
        PasswordLength: 64
  Fixed:
    Type: AWS::SecretsManager::Secret
    Properties: {SecretString: s3cret}
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: g1, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
      GlobalSecondaryIndexes:
        - IndexName: byG1
          KeySchema: [{AttributeName: g1, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [name]}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Others:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: false}
  Unused:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Web:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties:
      CodeUri: .
      Handler: bootstrap
      Architectures: [arm64]
      MemorySize: 512
      Environment:
        Variables:
          SHARED: mine
          THINGS: !Ref Things
          THINGS_ARN: {"Fn::GetAtt": [Things, Arn]}
          KEY: {Ref: Key}
          URL: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
      Policies:
        - AWSLambdaBasicExecutionRole
        - DynamoDBReadPolicy: {TableName: !Ref Others}
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem]
              Resource: [!GetAtt Things.Arn, !Sub "${Things.Arn}/index/*"]
            - Effect: Allow
              Action: [secretsmanager:GetSecretValue]
              Resource: !Ref Key
      Events:
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: "/v1/things/{id}"}
        Any:
          Type: HttpApi
          Properties: {Path: "/v1/{proxy+}"}
        Default:
          Type: HttpApi
  Scan:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 60
      Events:
        Hourly:
          Type: Schedule
          Properties: {Schedule: rate(1 hour)}
        Daily:
          Type: ScheduleV2
          Properties: {ScheduleExpression: "cron(0 3 * * ? *)"}
`

func parseSample(t *testing.T) *Template {
	t.Helper()
	tmpl, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func TestParse(t *testing.T) {
	tmpl := parseSample(t)
	if got, want := tmpl.Order, []string{"Api", "Key", "DataKeys", "Fixed", "Things", "Others", "Unused", "Web", "Scan"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Order = %v, want %v", got, want)
	}
	if p := tmpl.Parameters["Stage"]; p.Default != "dev" || !p.HasDefault || p.Type != "String" {
		t.Errorf("Stage = %+v", p)
	}
	if p := tmpl.Parameters["Required"]; p.HasDefault {
		t.Errorf("Required = %+v, want no default", p)
	}
	if got := tmpl.Parameters["Zones"].Default; got != "a,b" {
		t.Errorf("Zones default = %q, want a,b", got)
	}
	if g := tmpl.Globals.Function; g.MemorySize != 256 || g.Timeout != 10 || len(g.Environment) != 2 {
		t.Errorf("Globals.Function = %+v", g)
	}
	if !reflect.DeepEqual(tmpl.HTTPAPIs, []string{"Api"}) {
		t.Errorf("HTTPAPIs = %v", tmpl.HTTPAPIs)
	}

	web, ok := tmpl.Function("Web")
	if !ok {
		t.Fatal("no function Web")
	}
	if web.Runtime != "provided.al2023" || web.Handler != "bootstrap" || web.CodeURI != "." ||
		web.BuildMethod != "makefile" || !reflect.DeepEqual(web.Architectures, []string{"arm64"}) ||
		web.MemorySize != 512 || web.Timeout != 10 {
		t.Errorf("Web = %+v", web)
	}
	var keys []string
	for k := range web.Environment {
		keys = append(keys, k)
	}
	if len(keys) != 6 {
		t.Errorf("Web environment has %v, want STAGE, SHARED and its own four", keys)
	}
	if got := web.Environment["SHARED"].Value; got != "mine" {
		t.Errorf("SHARED = %q, want the function's own value", got)
	}
	if len(web.Policies) != 3 {
		t.Errorf("Web has %d policies, want 3", len(web.Policies))
	}
	if got, want := web.PolicyTables(), []string{"Others", "Things"}; !reflect.DeepEqual(got, want) {
		t.Errorf("PolicyTables = %v, want %v", got, want)
	}
	wantEvents := []Event{
		{Name: "Get", Type: "HttpApi", Method: "GET", Path: "/v1/things/{id}"},
		{Name: "Any", Type: "HttpApi", Method: "ANY", Path: "/v1/{proxy+}"},
		{Name: "Default", Type: "HttpApi"},
	}
	for i := range web.Events {
		web.Events[i].Properties = nil
	}
	if !reflect.DeepEqual(web.Events, wantEvents) {
		t.Errorf("Web events = %+v, want %+v", web.Events, wantEvents)
	}
	if got := web.Events[2].RouteKey(); got != "$default" {
		t.Errorf("RouteKey = %q", got)
	}

	scan, _ := tmpl.Function("Scan")
	if scan.Timeout != 60 || scan.MemorySize != 256 || scan.Runtime != "provided.al2023" {
		t.Errorf("Scan = %+v", scan)
	}
	if len(scan.Events) != 2 || scan.Events[0].Schedule != "rate(1 hour)" || scan.Events[1].Schedule != "cron(0 3 * * ? *)" {
		t.Errorf("Scan events = %+v", scan.Events)
	}
	if len(scan.PolicyTables()) != 0 || len(scan.HTTPEvents()) != 0 {
		t.Errorf("Scan has policies or routes")
	}

	things, _ := tmpl.Table("Things")
	wantThings := Table{
		LogicalID:   "Things",
		BillingMode: "PAY_PER_REQUEST",
		AttributeDefinitions: []AttributeDefinition{
			{AttributeName: "pk", AttributeType: "S"}, {AttributeName: "g1", AttributeType: "N"},
		},
		KeySchema: []KeyElement{{AttributeName: "pk", KeyType: "HASH"}},
		GlobalSecondaryIndexes: []Index{{
			IndexName:  "byG1",
			KeySchema:  []KeyElement{{AttributeName: "g1", KeyType: "HASH"}},
			Projection: Projection{ProjectionType: "INCLUDE", NonKeyAttributes: []string{"name"}},
		}},
		TTLAttribute: "ttl",
	}
	if !reflect.DeepEqual(*things, wantThings) {
		t.Errorf("Things = %+v\nwant %+v", *things, wantThings)
	}
	if others, _ := tmpl.Table("Others"); others.TTLAttribute != "" {
		t.Errorf("Others has TTL %q although it is disabled", others.TTLAttribute)
	}

	wantSecrets := []Secret{
		{LogicalID: "Key", Generate: &GenerateSecretString{PasswordLength: 48, ExcludePunctuation: true}},
		{LogicalID: "DataKeys", Generate: &GenerateSecretString{SecretStringTemplate: `{"active":"k1"}`, GenerateStringKey: "k1", PasswordLength: 64}},
		{LogicalID: "Fixed", SecretString: "s3cret"},
	}
	if !reflect.DeepEqual(tmpl.Secrets, wantSecrets) {
		t.Errorf("Secrets = %+v", tmpl.Secrets)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not yaml", "Resources: [", "template"},
		{"not a mapping", "- a", "not a mapping"},
		{"no resources", "Parameters: {}", "no Resources"},
		{"no type", "Resources: {A: {Properties: {}}}", "A has no Type"},
		{"bad memory", "Resources: {F: {Type: AWS::Serverless::Function, Properties: {MemorySize: lots}}}", "MemorySize"},
		{"bad path", "Resources: {F: {Type: AWS::Serverless::Function, Properties: {Events: {E: {Type: HttpApi, Properties: {Method: GET, Path: x}}}}}}", "does not start with /"},
		{"table without keys", "Resources: {T: {Type: AWS::DynamoDB::Table, Properties: {}}}", "no KeySchema"},
		{"bad ttl", "Resources: {T: {Type: AWS::DynamoDB::Table, Properties: {KeySchema: [{AttributeName: pk, KeyType: HASH}], TimeToLiveSpecification: {Enabled: maybe}}}}", "Enabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestResolver(t *testing.T) {
	tmpl := parseSample(t)
	r := &Resolver{
		Template:   tmpl,
		Parameters: map[string]string{"Sender": "Other", "Required": "given"},
		Name:       func(id string) string { return "t1-" + id },
	}
	for _, tc := range []struct{ value, want string }{
		{`plain`, "plain"},
		{`42`, "42"},
		{`!Ref Stage`, "dev"},
		{`!Ref Sender`, "Other"},
		{`!Ref Required`, "given"},
		{`{Ref: Things}`, "t1-Things"},
		{`!Ref Key`, "t1-Key"},
		{`!Ref AWS::Region`, "us-east-1"},
		{`!Ref AWS::AccountId`, "123456789012"},
		{`!Ref AWS::Partition`, "aws"},
		{`!Ref AWS::StackName`, "local"},
		{`!GetAtt Things.Arn`, "arn:aws:dynamodb:us-east-1:123456789012:table/t1-Things"},
		{`!GetAtt [Things, Arn]`, "arn:aws:dynamodb:us-east-1:123456789012:table/t1-Things"},
		{`{"Fn::GetAtt": Things.Arn}`, "arn:aws:dynamodb:us-east-1:123456789012:table/t1-Things"},
		{`!GetAtt Key.Arn`, "arn:aws:secretsmanager:us-east-1:123456789012:secret:t1-Key"},
		{`!GetAtt Web.Arn`, "arn:aws:lambda:us-east-1:123456789012:function:t1-Web"},
		{`!Sub "${Things.Arn}/index/*"`, "arn:aws:dynamodb:us-east-1:123456789012:table/t1-Things/index/*"},
		{`!Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"`, "https://t1-Api.execute-api.us-east-1.amazonaws.com"},
		{`!Sub "${Stage}-${!Literal}"`, "dev-${Literal}"},
		{`!Sub ["${A}/${Stage}", {A: !Ref Things}]`, "t1-Things/dev"},
		{`{"Fn::Sub": "s-${Stage}"}`, "s-dev"},
		{`!Join ["-", [a, !Ref Stage, !GetAtt Things.Arn]]`, "a-dev-arn:aws:dynamodb:us-east-1:123456789012:table/t1-Things"},
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tc.value), &n); err != nil {
			t.Fatalf("%s: %v", tc.value, err)
		}
		got, err := r.String(n.Content[0])
		if err != nil || got != tc.want {
			t.Errorf("String(%s) = %q, %v; want %q", tc.value, got, err, tc.want)
		}
	}

	for _, tc := range []struct{ value, want string }{
		{`!Ref Nothing`, "no such parameter or resource"},
		{`!GetAtt Nothing.Arn`, "no such resource"},
		{`!GetAtt Things.Colour`, "does not know"},
		{`!GetAtt Things`, "LogicalId.Attribute"},
		{`!If [c, a, b]`, "Fn::If is not supported"},
		{`!Sub "${Stage"`, "unclosed"},
		{`[a, b]`, "not a string"},
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tc.value), &n); err != nil {
			t.Fatalf("%s: %v", tc.value, err)
		}
		if got, err := r.String(n.Content[0]); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("String(%s) = %q, %v; want an error mentioning %q", tc.value, got, err, tc.want)
		}
	}

	noDefault := &Resolver{Template: tmpl}
	if _, err := noDefault.Ref("Required"); err == nil {
		t.Error("Ref of a parameter without default or value succeeded")
	}
	if got, _ := noDefault.Ref("Things"); got != "Things" {
		t.Errorf("Ref without Name = %q, want the logical id", got)
	}
}

func TestEnvironmentResolves(t *testing.T) {
	tmpl := parseSample(t)
	web, _ := tmpl.Function("Web")
	r := &Resolver{Template: tmpl}
	got := map[string]string{}
	for k, v := range web.Environment {
		s, err := r.String(v)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		got[k] = s
	}
	want := map[string]string{
		"STAGE":      "dev",
		"SHARED":     "mine",
		"THINGS":     "Things",
		"THINGS_ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Things",
		"KEY":        "Key",
		"URL":        "https://Api.execute-api.us-east-1.amazonaws.com/dev",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("environment = %v\nwant %v", got, want)
	}
}

// The repository's own template must always parse and resolve.
func TestRepositoryTemplate(t *testing.T) {
	tmpl, err := ParseFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.Functions) == 0 || len(tmpl.Tables) == 0 {
		t.Fatalf("template has %d functions and %d tables", len(tmpl.Functions), len(tmpl.Tables))
	}
	r := &Resolver{Template: tmpl}
	for _, fn := range tmpl.Functions {
		for k, v := range fn.Environment {
			if _, err := r.String(v); err != nil {
				t.Errorf("%s: %s: %v", fn.LogicalID, k, err)
			}
		}
	}
}

// The repository's WebSocket API and stream mappings are read as the local
// stack serves them.
func TestRepositoryRealtime(t *testing.T) {
	tmpl, err := ParseFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.WebSocketAPIs) != 1 {
		t.Fatalf("WebSocketAPIs = %+v, want one", tmpl.WebSocketAPIs)
	}
	api := tmpl.WebSocketAPIs[0]
	if api.Stage != "ws" || api.RouteSelection != "$request.body.action" {
		t.Errorf("api = %+v", api)
	}
	for _, key := range []string{"$connect", "$disconnect", "$default"} {
		r, ok := api.Route(key)
		if !ok || r.Function != "RealtimeFunction" || r.TwoWay != (key == "$default") {
			t.Errorf("route %s = %+v, %v", key, r, ok)
		}
	}
	// A table's stream may feed more than one function (ChatTable also
	// feeds ChatFanoutFunction): take PushFunction's mapping of each.
	got := map[string]StreamMapping{}
	for _, m := range tmpl.StreamMappings {
		if m.Function == "PushFunction" {
			got[m.Table] = m
		}
	}
	for _, table := range []string{"ChatTable", "NoticesTable"} {
		m := got[table]
		if m.Function != "PushFunction" || !m.Bisect || m.MaxRetries != 2 || m.BatchSize != 100 || m.OnFailure != "PushFailuresQueue" || m.StartingPosition != "LATEST" {
			t.Errorf("mapping of %s = %+v", table, m)
		}
		if tb, _ := tmpl.Table(table); tb.StreamViewType != "NEW_AND_OLD_IMAGES" {
			t.Errorf("%s stream view %q", table, tb.StreamViewType)
		}
	}
}
