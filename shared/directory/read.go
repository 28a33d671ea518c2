package directory

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// The reads other capabilities make of the directory (billing's notice
// recipients, partner sync's snapshot and events) are Roster methods, so
// that no other package builds a directory key or decodes its items.

// Members returns the tenant's members with the given ids, personal data
// opened, in the order of ids; ids of no member are left out.
func (d *Roster) Members(ctx context.Context, tenantID string, ids []string) ([]Member, error) {
	return membersByID(ctx, d.DB, d.Codec, tenantID, ids)
}

// AllMembers returns every member of the tenant, personal data opened,
// reading the tenant's member items a page (1 MB) at a time.
func (d *Roster) AllMembers(ctx context.Context, tenantID string) ([]Member, error) {
	var list []Member
	err := d.query(ctx, tenantID, MemberSK(""), "", func(item map[string]types.AttributeValue) error {
		m, err := d.Codec.Member(item)
		if err != nil {
			return errs.Wrap(err, "decode member")
		}
		list = append(list, m)
		return nil
	})
	return list, err
}

// Departments returns every department of the tenant, flat.
func (d *Roster) Departments(ctx context.Context, tenantID string) ([]Department, error) {
	return departments(ctx, d.DB, d.Table, tenantID)
}

// Events returns up to limit events of the tenant's outbox after the event
// id after ("" for all), oldest first.
func (d *Roster) Events(ctx context.Context, tenantID, after string, limit int) ([]Event, error) {
	if after == "" {
		after = "!" // sorts before every id; DynamoDB refuses empty key values
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.Table),
		KeyConditionExpression: aws.String("pk = :p AND sk > :after"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": avs(EventPK(tenantID)), ":after": avs(after),
		},
		ConsistentRead: aws.Bool(true),
	}
	var evs []Event
	// A Query returns at most 1 MB: page until limit.
	for len(evs) < limit {
		in.Limit = aws.Int32(int32(limit - len(evs)))
		out, err := d.DB.Query(ctx, in)
		if err != nil {
			return nil, errs.Wrap(err, "read directory events")
		}
		var page []Event
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

// membersByID reads members by id with one BatchGetItem per 100, in the
// order of ids.
func membersByID(ctx context.Context, db dynamo.BatchGetter, c *Codec, tenantID string, ids []string) ([]Member, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			keys = append(keys, c.Key(tenantID, id))
		}
	}
	items, err := batchGet(ctx, db, c.Table, keys)
	if err != nil {
		return nil, err
	}
	byID := map[string]Member{}
	for _, it := range items {
		m, err := c.Member(it)
		if err != nil {
			return nil, errs.Wrap(err, "decode member")
		}
		byID[m.ID] = m
	}
	out := make([]Member, 0, len(byID))
	for _, id := range ids {
		if m, ok := byID[id]; ok {
			out = append(out, m)
			delete(byID, id)
		}
	}
	return out, nil
}

// departments reads the tenant's department items.
func departments(ctx context.Context, db dynamo.Querier, table, tenantID string) ([]Department, error) {
	var out []Department
	var start map[string]types.AttributeValue
	for {
		res, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(table),
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": avs(TenantPK(tenantID)), ":p": avs(DepartmentSK("")),
			},
			ExclusiveStartKey: start,
			ConsistentRead:    aws.Bool(true),
		})
		if err != nil {
			return nil, errs.Wrap(err, "list departments")
		}
		for _, it := range res.Items {
			var rec departmentRecord
			if err := attributevalue.UnmarshalMap(it, &rec); err != nil {
				return nil, errs.Wrap(err, "decode department")
			}
			rec.Sub = []*Department{}
			out = append(out, rec.Department)
		}
		if start = res.LastEvaluatedKey; start == nil {
			return out, nil
		}
	}
}
