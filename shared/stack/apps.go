package stack

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/approval"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/lambdahttp"
	"workbench/shared/notice"
)

// Approvals serves /v1/approvals/...
func Approvals(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("APPROVALS_TABLE")
	noticesTable := c.Required("NOTICES_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	members, err := memberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	svc := &approval.Service{
		Store:     &approval.DynamoStore{DB: env.DynamoDB, Table: table},
		Directory: &directoryMembers{DB: env.DynamoDB, Table: directoryTable},
		Notices:   &notice.DynamoStore{DB: env.DynamoDB, Table: noticesTable},
		Now:       env.Now,
	}
	r := httpapi.NewRouter()
	(&approval.HTTP{Service: svc, Members: members}).Register(r)
	return lambdahttp.Handler(r), nil
}

// directoryMembers reads member items of the directory table to tell which
// ids are enabled members of a tenant, 100 keys per BatchGetItem. Only the
// enabled flag and department ids are read: no personal data is opened.
type directoryMembers struct {
	DB interface {
		BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	}
	Table string
}

type memberFacts struct {
	ID            string   `dynamodbav:"id"`
	Enabled       bool     `dynamodbav:"enabled"`
	DepartmentIDs []string `dynamodbav:"departmentIds"`
}

func (d *directoryMembers) facts(ctx context.Context, tenantID string, memberIDs []string) (map[string]memberFacts, error) {
	found := map[string]memberFacts{}
	seen := map[string]bool{}
	var keys []map[string]types.AttributeValue
	for _, id := range memberIDs {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		keys = append(keys, map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: directory.TenantPK(tenantID)},
			"sk": &types.AttributeValueMemberS{Value: directory.MemberSK(id)},
		})
	}
	for len(keys) > 0 {
		n := min(len(keys), dynamo.MaxBatchGet)
		req := map[string]types.KeysAndAttributes{d.Table: {
			Keys: keys[:n], ProjectionExpression: aws.String("id, enabled, departmentIds"),
		}}
		keys = keys[n:]
		for len(req) > 0 {
			out, err := d.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, errs.Wrap(err, "read members")
			}
			for _, item := range out.Responses[d.Table] {
				var f memberFacts
				if err := attributevalue.UnmarshalMap(item, &f); err != nil {
					return nil, errs.Wrap(err, "decode member")
				}
				found[f.ID] = f
			}
			req = out.UnprocessedKeys
		}
	}
	return found, nil
}

// Enabled implements the Directory interfaces of the apps.
func (d *directoryMembers) Enabled(ctx context.Context, tenantID string, memberIDs []string) (map[string]bool, error) {
	facts, err := d.facts(ctx, tenantID, memberIDs)
	if err != nil {
		return nil, err
	}
	ok := make(map[string]bool, len(facts))
	for id, f := range facts {
		ok[id] = f.Enabled
	}
	return ok, nil
}
