package awscalls

import (
	"context"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go/middleware"

	"workbench/shared/cloud"
)

// CloudFormation types of the resources a call can name.
const (
	TypeTable    = "AWS::DynamoDB::Table"
	TypeSecret   = "AWS::SecretsManager::Secret"
	TypeTopic    = "AWS::SNS::Topic"
	TypeFunction = "AWS::Lambda::Function"
	// A WebSocket API's stage; the Namer is asked for it with no name (a
	// Management API client knows its endpoint only).
	TypeStage = "AWS::ApiGatewayV2::Stage"
)

// A Namer returns the ARN that the template's policies give the resource
// of a CloudFormation type whose physical name a call used.
type Namer func(cfnType, physicalName string) string

// Option installs the recorder on every client built from the SDK
// configuration, attributing the calls to function.
func (r *Recorder) Option(function string, name Namer) func(*awsconfig.LoadOptions) error {
	return awsconfig.WithAPIOptions([]func(*middleware.Stack) error{r.Middleware(function, name)})
}

// Middleware records each operation before it is sent: retries are not
// calls of their own, and a call AWS would refuse is recorded all the same.
func (r *Recorder) Middleware(function string, name Namer) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("awscalls.Record",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				fn := function
				if id := cloud.FunctionOf(ctx); id != "" {
					fn = id // work done here in another function's stead
				}
				op := operation{
					function: fn,
					service:  awsmiddleware.GetServiceID(ctx),
					name:     awsmiddleware.GetOperationName(ctx),
					namer:    name,
				}
				r.Add(op.authorized(in.Parameters)...)
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

// prefixes maps SDK service ids to IAM service prefixes where the two
// differ by more than case and spaces.
var prefixes = map[string]string{
	"EventBridge":             "events",
	"CloudWatch Logs":         "logs",
	"ApiGatewayManagementApi": "execute-api",
}

// actions maps operations to IAM actions where the two differ.
var actions = map[string]string{
	"ApiGatewayManagementApi.PostToConnection": "execute-api:ManageConnections",
	"ApiGatewayManagementApi.GetConnection":    "execute-api:ManageConnections",
	"ApiGatewayManagementApi.DeleteConnection": "execute-api:ManageConnections",
}

type operation struct {
	function, service, name string
	namer                   Namer
}

func (o operation) call(action, resource string) Call {
	return Call{Function: o.function, Action: o.prefix() + ":" + action, Resource: resource, Operation: o.service + "." + o.name}
}

func (o operation) prefix() string {
	if p, ok := prefixes[o.service]; ok {
		return p
	}
	return strings.ToLower(strings.ReplaceAll(o.service, " ", ""))
}

func (o operation) arn(cfnType string, name *string) string {
	n := plainName(cfnType, aws.ToString(name))
	if n == "" {
		return ""
	}
	return o.namer(cfnType, n)
}

func (o operation) table(name *string) string { return o.arn(TypeTable, name) }

// authorized returns the actions AWS authorizes for one operation with
// input params.
func (o operation) authorized(params any) []Call {
	switch in := params.(type) {
	case *dynamodb.TransactWriteItemsInput:
		var out []Call
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				out = append(out, o.call("PutItem", o.table(it.Put.TableName)))
			case it.Update != nil:
				out = append(out, o.call("UpdateItem", o.table(it.Update.TableName)))
			case it.Delete != nil:
				out = append(out, o.call("DeleteItem", o.table(it.Delete.TableName)))
			case it.ConditionCheck != nil:
				out = append(out, o.call("ConditionCheckItem", o.table(it.ConditionCheck.TableName)))
			}
		}
		return out
	case *dynamodb.TransactGetItemsInput:
		var out []Call
		for _, it := range in.TransactItems {
			if it.Get != nil {
				out = append(out, o.call("GetItem", o.table(it.Get.TableName)))
			}
		}
		return out
	case *dynamodb.BatchGetItemInput:
		return o.perTable("BatchGetItem", keys(in.RequestItems))
	case *dynamodb.BatchWriteItemInput:
		return o.perTable("BatchWriteItem", keys(in.RequestItems))
	case *dynamodb.QueryInput:
		return []Call{o.call("Query", o.index(in.TableName, in.IndexName))}
	case *dynamodb.ScanInput:
		return []Call{o.call("Scan", o.index(in.TableName, in.IndexName))}
	case *secretsmanager.GetSecretValueInput:
		return []Call{o.call("GetSecretValue", o.arn(TypeSecret, in.SecretId))}
	case *secretsmanager.BatchGetSecretValueInput:
		// The batch action is on no resource; each secret is read under
		// GetSecretValue. With filters the secrets are not known here.
		out := []Call{o.call("BatchGetSecretValue", "*")}
		for _, id := range in.SecretIdList {
			out = append(out, o.call("GetSecretValue", o.arn(TypeSecret, &id)))
		}
		if len(in.Filters) > 0 {
			out = append(out, o.call("GetSecretValue", ""))
		}
		return out
	case *sns.PublishInput:
		if in.PhoneNumber != nil {
			return []Call{o.call("Publish", "*")}
		}
		topic := in.TopicArn
		if topic == nil {
			topic = in.TargetArn
		}
		return []Call{o.call("Publish", o.arn(TypeTopic, topic))}
	case *lambda.InvokeInput:
		return []Call{o.call("InvokeFunction", o.arn(TypeFunction, in.FunctionName))}
	case *apigatewaymanagementapi.PostToConnectionInput:
		return []Call{o.connection("POST", in.ConnectionId)}
	case *apigatewaymanagementapi.GetConnectionInput:
		return []Call{o.connection("GET", in.ConnectionId)}
	case *apigatewaymanagementapi.DeleteConnectionInput:
		return []Call{o.connection("DELETE", in.ConnectionId)}
	}
	c := o.call(o.name, "")
	if a, ok := actions[o.service+"."+o.name]; ok {
		c.Action = a
	}
	if o.prefix() == "dynamodb" {
		// Every other item or table operation names one table.
		if name, ok := stringField(params, "TableName"); ok {
			c.Resource = o.table(name)
		}
	}
	return []Call{c}
}

// connection is ManageConnections on one connection of the stage:
// <stage ARN>/<method>/@connections/<id>.
func (o operation) connection(method string, id *string) Call {
	stage := o.namer(TypeStage, "")
	if stage == "" {
		c := o.call(o.name, "")
		c.Action = "execute-api:ManageConnections"
		return c
	}
	return Call{Function: o.function, Action: "execute-api:ManageConnections",
		Resource: stage + "/" + method + "/@connections/" + aws.ToString(id), Operation: o.service + "." + o.name}
}

func (o operation) perTable(action string, tables []string) []Call {
	out := make([]Call, 0, len(tables))
	for _, t := range tables {
		out = append(out, o.call(action, o.table(&t)))
	}
	return out
}

func (o operation) index(table, index *string) string {
	arn := o.table(table)
	if arn == "" || index == nil {
		return arn
	}
	return arn + "/index/" + *index
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// stringField returns the *string field of a struct pointer.
func stringField(params any, field string) (*string, bool) {
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	f := v.Elem().FieldByName(field)
	if !f.IsValid() || f.Type() != reflect.TypeFor[*string]() {
		return nil, false
	}
	return f.Interface().(*string), true
}

// plainName returns the physical name of a resource that a call names by
// name or by ARN.
func plainName(cfnType, id string) string {
	if !strings.HasPrefix(id, "arn:") {
		return id
	}
	parts := strings.SplitN(id, ":", 6)
	if len(parts) < 6 {
		return id
	}
	res := parts[5]
	switch cfnType {
	case TypeTable:
		res = strings.TrimPrefix(res, "table/")
		res, _, _ = strings.Cut(res, "/")
	case TypeSecret:
		// secret:NAME-AbCdEf: Secrets Manager appends six characters.
		res = strings.TrimPrefix(res, "secret:")
		if i := strings.LastIndexByte(res, '-'); i > 0 && len(res)-i == 7 {
			res = res[:i]
		}
	case TypeFunction:
		res = strings.TrimPrefix(res, "function:")
		res, _, _ = strings.Cut(res, ":") // a version or alias
	}
	return res
}
