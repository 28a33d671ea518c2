// Package approvalfn builds ApprovalsFunction.
package approvalfn

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/approval"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/httpapi"
	"workbench/shared/lambdahttp"
	"workbench/shared/notice"
	"workbench/shared/stack/wire"
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
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	svc := &approval.Service{
		Store:     &approval.DynamoStore{DB: env.DynamoDB, Table: table},
		Directory: &directory.Roster{DB: env.DynamoDB, Table: directoryTable},
		Notices:   &notice.DynamoStore{DB: env.DynamoDB, Table: noticesTable},
		Now:       env.Now,
	}
	r := httpapi.NewRouter()
	(&approval.HTTP{Service: svc, Members: members}).Register(r)
	return lambdahttp.Handler(r), nil
}

var _ approval.Directory = (*directory.Roster)(nil)
