package template

import (
	"os"
	"strings"
	"testing"
)

// The repository's template meets every operability rule.
func TestRepositoryTemplateIsOperable(t *testing.T) {
	tmpl, err := ParseFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range tmpl.CheckOperable() {
		t.Error(err)
	}
}

// A function, table, secret, queue and schedule added to the repository's
// template without their operations are each reported.
func TestNewResourcesMustBeOperable(t *testing.T) {
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const added = `
  NewTable:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
  NewSecret:
    Type: AWS::SecretsManager::Secret
    DeletionPolicy: Retain
  NewQueue:
    Type: AWS::SQS::Queue
  NewLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 30
  NewFunction:
    Type: AWS::Serverless::Function
    Properties:
      Tracing: PassThrough
      LoggingConfig: { LogFormat: Text, LogGroup: !Ref NewLogGroup }
      Events:
        Hourly:
          Type: Schedule
          Properties:
            Schedule: rate(1 hour)
            DeadLetterConfig: { Arn: !GetAtt NewQueue.Arn }
        Changes:
          Type: DynamoDB
          Properties: { Stream: !GetAtt NewTable.StreamArn, StartingPosition: LATEST }
  NewAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmActions: [!Ref NewQueue]
`
	doc := strings.Replace(string(data), "\nOutputs:\n", added+"\nOutputs:\n", 1)
	tmpl, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, err := range tmpl.CheckOperable() {
		got = append(got, err.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		"NewFunction: Tracing is \"PassThrough\"",
		"NewFunction: LoggingConfig.LogFormat is \"Text\"",
		"NewFunction: log group NewLogGroup: RetentionInDays must be !If on Stage",
		"NewFunction: no alarm on AWS/Lambda Errors",
		"NewFunction: no alarm on AWS/Lambda Throttles",
		"NewFunction event Hourly: no RetryPolicy",
		"NewFunction event Hourly: queue NewQueue has no alarm",
		"NewFunction event Changes: no on-failure destination",
		"NewFunction EventInvokeConfig: no on-failure destination",
		"NewTable: DeletionPolicy and UpdateReplacePolicy must be Retain",
		"NewTable: DeletionProtectionEnabled must be !If on Stage",
		"NewTable: point-in-time recovery is not enabled",
		"NewTable: no AWS::Backup::BackupSelection lists it",
		"NewSecret: DeletionPolicy and UpdateReplacePolicy must be Retain (are \"Retain\", \"\")",
		"NewQueue: queue NewQueue has no alarm",
		"NewAlarm: AlarmActions name no AWS::SNS::Topic",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem %q among:\n%s", want, all)
		}
	}
	for _, line := range got {
		if !strings.HasPrefix(line, "New") {
			t.Errorf("a problem outside the added resources: %s", line)
		}
	}
}

// A function that another function names (and so invokes asynchronously)
// needs an on-failure destination even without a schedule.
func TestInvokedFunctionNeedsDestination(t *testing.T) {
	tmpl, err := Parse([]byte(`
Resources:
  Worker:
    Type: AWS::Serverless::Function
  Caller:
    Type: AWS::Serverless::Function
    Properties:
      Environment: { Variables: { WORKER: !Ref Worker } }
`))
	if err != nil {
		t.Fatal(err)
	}
	var worker, caller bool
	for _, err := range tmpl.CheckOperable() {
		switch err.Error() {
		case "Worker EventInvokeConfig: no on-failure destination":
			worker = true
		case "Caller EventInvokeConfig: no on-failure destination":
			caller = true
		}
	}
	if !worker || caller {
		t.Errorf("destination demanded of Worker: %v (want true), of Caller: %v (want false)", worker, caller)
	}
}

func TestDaily(t *testing.T) {
	for expr, want := range map[string]bool{
		"cron(0 19 * * ? *)":    true,
		"rate(1 day)":           true,
		"cron(0 */6 * * ? *)":   false,
		"cron(0 3 ? * MON *)":   false,
		"cron(0 3 1 * ? *)":     false,
		"rate(7 days)":          false,
		"cron(0 19 * * ? *":     false,
		"cron(0,30 19 * * ? *)": false,
	} {
		if got := daily(expr); got != want {
			t.Errorf("daily(%q) = %v, want %v", expr, got, want)
		}
	}
}
