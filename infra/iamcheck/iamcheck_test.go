package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"workbench/infra/awscalls"
	"workbench/infra/template"
)

const sample = `
Transform: AWS::Serverless-2016-10-31
Resources:
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }]
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
  Key:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: { PasswordLength: 32 }
  Web:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      DeadLetterQueue: { Type: SQS, TargetArn: "arn:aws:sqs:us-east-1:123456789012:dlq" }
      Policies:
        - DynamoDBReadPolicy: { TableName: !Ref Things }
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:TransactWriteItems]
              Resource: [!GetAtt Things.Arn, !Sub "${Things.Arn}/index/*"]
            - Effect: Allow
              Action: [secretsmanager:GetSecretValue]
              Resource: !Ref Key
            - Effect: Allow
              Action: [sns:Publish]
              Resource: "*"
            - Sid: LambdaServicePollsStreams
              Effect: Allow
              Action: [dynamodb:GetRecords]
              Resource: [!GetAtt Things.Arn]
`

const table = "arn:aws:dynamodb:us-east-1:123456789012:table/Things"

func transformed(t *testing.T, text string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Transform("python3", path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// evaluator returns the evaluator as `make test` installs it; a test that
// needs it is skipped when it is not installed (go test without make).
func evaluator(t *testing.T) Evaluator {
	t.Helper()
	modules, err := filepath.Abs("../../.local/iamcheck/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "@cloud-copilot/iam-simulate")); err != nil {
		t.Skip("the evaluator is not installed: make iamcheck-deps")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("no node")
	}
	return Evaluator{Node: "node", Script: scriptPath(), NodeModules: modules}
}

func TestRolesCarryPolicyTemplatesAndStatementsResolved(t *testing.T) {
	roles, err := Roles(transformed(t, sample))
	if err != nil {
		t.Fatal(err)
	}
	web := roles["Web"]
	if web == nil || web.RoleID != "WebRole" || len(web.Policies) != 3 {
		t.Fatalf("roles = %+v", roles)
	}
	for _, p := range web.Policies {
		if p.Service != (p.Name == "DeadLetterQueuePolicy") {
			t.Errorf("policy %s: Service %v", p.Name, p.Service)
		}
	}
	var resources []string
	for _, p := range web.Policies {
		for _, s := range p.Document.Statement {
			resources = append(resources, s.Resource...)
		}
	}
	for _, want := range []string{
		table, table + "/index/*",
		// A secret's Ref is its ARN in CloudFormation.
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:Key",
	} {
		if !slices.Contains(resources, want) {
			t.Errorf("no resource %s in %v", want, resources)
		}
	}
	if len(web.Managed) == 0 {
		t.Error("the managed execution policy SAM attaches is not listed")
	}
}

func TestTheEvaluatorFindsWhatIsWrong(t *testing.T) {
	ev := evaluator(t)
	roles, err := Roles(transformed(t, sample))
	if err != nil {
		t.Fatal(err)
	}
	call := func(action, resource string) awscalls.Call {
		return awscalls.Call{Function: "Web", Action: action, Resource: resource, Operation: "Test." + action}
	}
	rep, err := ev.Check(roles, []awscalls.Call{
		call("dynamodb:GetItem", table),
		call("dynamodb:PutItem", table),                  // no grant
		call("dynamodb:UpdateItem", table+"/index/gsi1"), // no grant
		call("dynamodb:TransactWriteItems", table),       // not an action
		call("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:Key"),
		call("sns:Publish", "*"),
		call("sns:Publish", ""), // unknown resource
		{Function: "Gone", Action: "dynamodb:GetItem", Resource: table, Operation: "DynamoDB.GetItem"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var denied []string
	for _, v := range rep.Denied {
		denied = append(denied, v.Action+" "+v.Decision)
	}
	want := []string{"dynamodb:PutItem ImplicitlyDenied", "dynamodb:UpdateItem ImplicitlyDenied", "dynamodb:TransactWriteItems Error"}
	if !slices.Equal(denied, want) {
		t.Errorf("denied %v, want %v", denied, want)
	}
	if len(rep.Requests) != 6 || len(rep.Unknown) != 2 {
		t.Errorf("%d requests, unknown %v; want 6 and 2", len(rep.Requests), rep.Unknown)
	}
	if !slices.Equal(rep.Nonexistent, []string{"dynamodb:TransactWriteItems"}) {
		t.Errorf("nonexistent %v", rep.Nonexistent)
	}
	if len(rep.Reachable) != 1 || rep.Reachable[0].Resource != topicProbe {
		t.Errorf("an SMS grant on * reaches topics; reported %v", rep.Reachable)
	}
	var unused []string
	for _, g := range rep.Unused {
		unused = append(unused, g.Action+" "+strings.TrimPrefix(g.Resource, table))
	}
	for _, u := range []string{"dynamodb:GetItem /index/*", "dynamodb:TransactWriteItems ", "dynamodb:Scan "} {
		if !slices.Contains(unused, u) {
			t.Errorf("%q is not reported unused: %v", u, unused)
		}
	}
	for _, g := range rep.Unused {
		if g.Policy == "DeadLetterQueuePolicy" || g.Action == "dynamodb:GetRecords" {
			t.Errorf("the Lambda service's own grant is reported unused: %+v", g)
		}
	}
	if slices.Contains(unused, "dynamodb:GetItem ") {
		t.Errorf("GetItem on the table is used, but reported unused: %v", unused)
	}
	if !rep.Failed(false) {
		t.Error("the report does not fail")
	}
}

func TestSMSLimitedToPhoneNumbersPasses(t *testing.T) {
	ev := evaluator(t)
	fixed := strings.Replace(sample, `Action: [sns:Publish]
              Resource: "*"`, `Action: [sns:Publish]
              NotResource: arn:aws:sns:*:*:*`, 1)
	roles, err := Roles(transformed(t, fixed))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ev.Check(roles, []awscalls.Call{
		{Function: "Web", Action: "sns:Publish", Resource: "*", Operation: "SNS.Publish"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Denied) != 0 || len(rep.Reachable) != 0 {
		t.Errorf("denied %v, reachable %v", rep.Denied, rep.Reachable)
	}
	for _, g := range rep.Unused {
		if g.Action == "sns:Publish" {
			t.Errorf("the SMS grant is reported unused: %+v", g)
		}
	}
}

// The repository's template, transformed: every function has a role of
// its own with inline policies, no action is a DynamoDB API name that IAM
// does not know, and SMS reaches no topic.
func TestRepositoryTemplateRoles(t *testing.T) {
	tmpl, err := template.ParseFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Transform("python3", "../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	roles, err := Roles(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range tmpl.Functions {
		ro := roles[fn.LogicalID]
		if ro == nil || len(ro.Policies) == 0 {
			t.Errorf("%s has no role with policies", fn.LogicalID)
			continue
		}
		for _, p := range ro.Policies {
			for i, s := range p.Document.Statement {
				for _, a := range s.Action {
					if a == "dynamodb:TransactWriteItems" || a == "dynamodb:TransactGetItems" {
						t.Errorf("%s statement %d: %s is not an IAM action; grant each item's action", fn.LogicalID, i+1, a)
					}
					if a == "sns:Publish" && !slices.Equal(s.NotResource, []string{"arn:aws:sns:*:*:*"}) {
						t.Errorf("%s statement %d: sns:Publish on %v; SMS is NotResource arn:aws:sns:*:*:*", fn.LogicalID, i+1, s.Resource)
					}
				}
				if slices.Contains(s.Resource, "*") {
					t.Errorf("%s statement %d: Resource \"*\"", fn.LogicalID, i+1)
				}
			}
		}
	}
}
