package partner

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/errs"
)

// DepartmentPrefix is the sort-key prefix of the directory's department
// items (directory.DepartmentSK).
var DepartmentPrefix = directory.DepartmentSK("")

// DynamoDirectory reads a tenant's directory through the directory
// capability: departments with directory.Service.Departments, members
// opened with directory.Codec.Member, events from the directory's outbox.
type DynamoDirectory struct {
	DB    directory.DB
	Codec *directory.Codec
}

var _ Directory = (*DynamoDirectory)(nil)

func (d *DynamoDirectory) Snapshot(ctx context.Context, tenantID string) (Snapshot, error) {
	var snap Snapshot
	q := &dynamodb.QueryInput{
		TableName:              aws.String(d.Codec.Table),
		KeyConditionExpression: aws.String("pk = :p AND begins_with(sk, :s)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": s(directory.TenantPK(tenantID)), ":s": s(directory.MemberSK("")),
		},
		ConsistentRead: aws.Bool(true),
	}
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
	depts, err := (&directory.Service{DB: d.DB, Codec: d.Codec}).Departments(ctx, tenantID)
	if err != nil {
		return Snapshot{}, err
	}
	for _, dep := range depts {
		snap.Departments = append(snap.Departments, Department{ID: dep.ID, Name: dep.Name, ParentID: dep.ParentID})
	}
	return snap, nil
}

// Events returns up to limit directory events of the tenant after the
// event id after ("" for all), oldest first.
func (d *DynamoDirectory) Events(ctx context.Context, tenantID, after string, limit int) ([]directory.Event, error) {
	if after == "" {
		after = "!" // sorts before every id; DynamoDB refuses empty key values
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.Codec.Table),
		KeyConditionExpression: aws.String("pk = :p AND sk > :after"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": s(directory.EventPK(tenantID)), ":after": s(after),
		},
		ConsistentRead: aws.Bool(true),
	}
	var evs []directory.Event
	// A Query returns at most 1 MB: page until limit.
	for len(evs) < limit {
		in.Limit = aws.Int32(int32(limit - len(evs)))
		out, err := d.DB.Query(ctx, in)
		if err != nil {
			return nil, errs.Wrap(err, "read directory events")
		}
		var page []directory.Event
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &page); err != nil {
			return nil, errs.Wrap(err, "decode directory events")
		}
		evs = append(evs, page...)
		if in.ExclusiveStartKey = out.LastEvaluatedKey; in.ExclusiveStartKey == nil {
			break
		}
	}
	return evs, nil
}
