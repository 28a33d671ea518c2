package partner

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/errs"
)

// DepartmentPrefix is the sort-key prefix of department items in the
// directory table ("DEPT#<id>", attributes id, name, parentId).
const DepartmentPrefix = "DEPT#"

// DynamoDirectory reads a tenant's directory from the directory table:
// two Queries of the tenant's partition (members, departments), members
// opened with the directory's codec.
type DynamoDirectory struct {
	DB    DB
	Codec *directory.Codec
}

var _ Directory = (*DynamoDirectory)(nil)

type departmentRecord struct {
	ID       string `dynamodbav:"id"`
	Name     string `dynamodbav:"name"`
	ParentID string `dynamodbav:"parentId"`
}

func (d *DynamoDirectory) Snapshot(ctx context.Context, tenantID string) (Snapshot, error) {
	var snap Snapshot
	in := func(prefix string) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{
			TableName:              aws.String(d.Codec.Table),
			KeyConditionExpression: aws.String("pk = :p AND begins_with(sk, :s)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":p": s(directory.TenantPK(tenantID)), ":s": s(prefix),
			},
		}
	}
	q := in(directory.MemberSK(""))
	for {
		out, err := d.DB.Query(ctx, q)
		if err != nil {
			return Snapshot{}, errs.Wrap(err, "read members")
		}
		for _, item := range out.Items {
			m, err := d.Codec.Member(item)
			if err != nil {
				return Snapshot{}, errs.Wrap(err, "open member")
			}
			snap.Members = append(snap.Members, m)
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	depts, err := queryAll[departmentRecord](ctx, d.DB, in(DepartmentPrefix))
	if err != nil {
		return Snapshot{}, errs.Wrap(err, "read departments")
	}
	for _, r := range depts {
		snap.Departments = append(snap.Departments, Department(r))
	}
	return snap, nil
}
