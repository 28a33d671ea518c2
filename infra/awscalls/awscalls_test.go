package awscalls_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/logging"

	"workbench/infra/awscalls"
	"workbench/shared/cloud"
)

// namer strips the test's "p-" prefix, as the local stack strips a test
// stack's, and makes a recognizable ARN.
func namer(cfnType, name string) string {
	return cfnType + "/" + strings.TrimPrefix(name, "p-")
}

// config returns an SDK configuration whose calls go to a server that
// answers every request with an empty JSON object and are recorded by r as
// function Fn's.
func config(t *testing.T, r *awscalls.Recorder) aws.Config {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithBaseEndpoint(srv.URL),
		awsconfig.WithRetryMaxAttempts(1),
		awsconfig.WithLogger(logging.Nop{}),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("a", "b", "")),
		r.Option("Fn", namer))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCallsAreRecordedAsIAMAuthorizesThem(t *testing.T) {
	r := awscalls.New()
	cfg := config(t, r)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	key := map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "k"}}

	// The answers do not matter (some cannot be decoded): the calls are
	// recorded before they are sent.
	_, _ = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dbtypes.TransactWriteItem{
		{Put: &dbtypes.Put{TableName: aws.String("p-A"), Item: key}},
		{Update: &dbtypes.Update{TableName: aws.String("p-A"), Key: key, UpdateExpression: aws.String("SET x = :x")}},
		{Delete: &dbtypes.Delete{TableName: aws.String("p-B"), Key: key}},
		{ConditionCheck: &dbtypes.ConditionCheck{TableName: aws.String("p-B"), Key: key, ConditionExpression: aws.String("attribute_exists(pk)")}},
	}})
	_, _ = db.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []dbtypes.TransactGetItem{
		{Get: &dbtypes.Get{TableName: aws.String("p-C"), Key: key}},
	}})
	_, _ = db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]dbtypes.KeysAndAttributes{
		"p-A": {Keys: []map[string]dbtypes.AttributeValue{key}},
		"p-C": {Keys: []map[string]dbtypes.AttributeValue{key}},
	}})
	_, _ = db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]dbtypes.WriteRequest{
		"p-A": {{DeleteRequest: &dbtypes.DeleteRequest{Key: key}}},
	}})
	_, _ = db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("p-A"), IndexName: aws.String("gsi1")})
	_, _ = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("arn:aws:dynamodb:us-east-1:1:table/p-D"), Key: key})
	_, _ = secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String("arn:aws:secretsmanager:us-east-1:1:secret:p-S-AbCdEf")})
	_, _ = sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{PhoneNumber: aws.String("+8613900000000"), Message: aws.String("hi")})
	_, _ = sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:1:p-T"), Message: aws.String("hi")})
	_, _ = lambda.NewFromConfig(cfg).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("p-Sync")})
	_, _ = apigatewaymanagementapi.NewFromConfig(cfg).PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String("c1"), Data: []byte("{}")})

	const tx, tbl = "DynamoDB.TransactWriteItems", "AWS::DynamoDB::Table/"
	want := []awscalls.Call{
		{"Fn", "dynamodb:BatchGetItem", tbl + "A", "DynamoDB.BatchGetItem"},
		{"Fn", "dynamodb:BatchGetItem", tbl + "C", "DynamoDB.BatchGetItem"},
		{"Fn", "dynamodb:BatchWriteItem", tbl + "A", "DynamoDB.BatchWriteItem"},
		{"Fn", "dynamodb:ConditionCheckItem", tbl + "B", tx},
		{"Fn", "dynamodb:DeleteItem", tbl + "B", tx},
		{"Fn", "dynamodb:GetItem", tbl + "C", "DynamoDB.TransactGetItems"},
		{"Fn", "dynamodb:GetItem", tbl + "D", "DynamoDB.GetItem"},
		{"Fn", "dynamodb:PutItem", tbl + "A", tx},
		{"Fn", "dynamodb:Query", tbl + "A/index/gsi1", "DynamoDB.Query"},
		{"Fn", "dynamodb:UpdateItem", tbl + "A", tx},
		{"Fn", "execute-api:ManageConnections", "AWS::ApiGatewayV2::Stage//POST/@connections/c1", "ApiGatewayManagementApi.PostToConnection"},
		{"Fn", "lambda:InvokeFunction", "AWS::Lambda::Function/Sync", "Lambda.Invoke"},
		{"Fn", "secretsmanager:GetSecretValue", "AWS::SecretsManager::Secret/S", "Secrets Manager.GetSecretValue"},
		{"Fn", "sns:Publish", "*", "SNS.Publish"},
		{"Fn", "sns:Publish", "AWS::SNS::Topic/T", "SNS.Publish"},
	}
	if got := r.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded:\n%v\nwant:\n%v", got, want)
	}
}

func TestOperationsTheRecorderDoesNotKnowHaveNoResource(t *testing.T) {
	r := awscalls.New()
	cfg := config(t, r)
	// The answers do not matter: the calls are recorded before they are sent.
	_, _ = secretsmanager.NewFromConfig(cfg).ListSecrets(context.Background(), &secretsmanager.ListSecretsInput{})
	_, _ = dynamodb.NewFromConfig(cfg).DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("p-A")})
	want := []awscalls.Call{
		{"Fn", "dynamodb:DescribeTable", "AWS::DynamoDB::Table/A", "DynamoDB.DescribeTable"},
		{"Fn", "secretsmanager:ListSecrets", "", "Secrets Manager.ListSecrets"},
	}
	if got := r.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
}

// Work a process does in another function's stead is that function's.
func TestCallsMarkedAsAnotherFunctionAreItsCalls(t *testing.T) {
	r := awscalls.New()
	cfg := config(t, r)
	ctx := cloud.AsFunction(context.Background(), "Other")
	key := map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "k"}}
	_, _ = dynamodb.NewFromConfig(cfg).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("p-A"), Key: key})
	want := []awscalls.Call{{Function: "Other", Action: "dynamodb:GetItem", Resource: "AWS::DynamoDB::Table/A", Operation: "DynamoDB.GetItem"}}
	if got := r.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded %v, want %v", got, want)
	}
}

// What one process writes under $WORKBENCH_AWS_CALLS another reads back,
// each distinct call once.
func TestRecordingsReachTheDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(awscalls.Env, dir)
	r := awscalls.FromEnv()
	c := awscalls.Call{Function: "Fn", Action: "dynamodb:GetItem", Resource: "arn:x", Operation: "DynamoDB.GetItem"}
	r.Add(c, c)
	r.Add(c)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	got, err := awscalls.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []awscalls.Call{c}) {
		t.Errorf("read back %v", got)
	}
	t.Setenv(awscalls.Env, "")
	if awscalls.FromEnv() != nil {
		t.Error("a recorder without the variable set")
	}
}
