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

// Roster answers what other capabilities ask of the directory: which ids
// are enabled members, the departments below some departments, members'
// mobiles, the recipients of notices, partner sync's snapshot and events. Checking ids reads only the enabled flag and department ids, 100
// keys per BatchGetItem, so a function without data keys can do it; Codec
// is needed only to open names and mobiles.
type Roster struct {
	DB interface {
		GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
		BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
		Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	}
	Table string
	Codec *Codec // opens names; only the read report needs it
}

type memberFacts struct {
	ID            string   `dynamodbav:"id"`
	Enabled       bool     `dynamodbav:"enabled"`
	DepartmentIDs []string `dynamodbav:"departmentIds"`
}

func (d *Roster) facts(ctx context.Context, tenantID string, memberIDs []string) (map[string]memberFacts, error) {
	found := map[string]memberFacts{}
	err := d.batch(ctx, tenantID, memberIDs, "id, enabled, departmentIds", func(item map[string]types.AttributeValue) error {
		var f memberFacts
		if err := attributevalue.UnmarshalMap(item, &f); err != nil {
			return errs.Wrap(err, "decode member")
		}
		found[f.ID] = f
		return nil
	})
	return found, err
}

// batch reads the member items of memberIDs, 100 keys per BatchGetItem.
func (d *Roster) batch(ctx context.Context, tenantID string, memberIDs []string, projection string, f func(map[string]types.AttributeValue) error) error {
	seen := map[string]bool{}
	var keys []map[string]types.AttributeValue
	for _, id := range memberIDs {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		keys = append(keys, map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: TenantPK(tenantID)},
			"sk": &types.AttributeValueMemberS{Value: MemberSK(id)},
		})
	}
	if len(keys) == 0 {
		return nil
	}
	ka := types.KeysAndAttributes{Keys: keys}
	if projection != "" {
		ka.ProjectionExpression = aws.String(projection)
	}
	got, err := dynamo.BatchGet(ctx, d.DB, map[string]types.KeysAndAttributes{d.Table: ka})
	if err != nil {
		return errs.Wrap(err, "read members")
	}
	for _, item := range got[d.Table] {
		if err := f(item); err != nil {
			return err
		}
	}
	return nil
}

// Enabled tells, of memberIDs, which are members of the tenant and whether
// each is enabled; unknown ids are absent.
func (d *Roster) Enabled(ctx context.Context, tenantID string, memberIDs []string) (map[string]bool, error) {
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

// departmentFacts is what the apps read of a department item.
type departmentFacts struct {
	ID       string `dynamodbav:"id"`
	ParentID string `dynamodbav:"parentId"`
}

// Subtree returns departmentIDs and every department below them, from one
// Query of the tenant's departments; unknown is the index of the first id
// that is not a department of the tenant, or -1.
func (d *Roster) Subtree(ctx context.Context, tenantID string, departmentIDs []string) ([]string, int, error) {
	var deps []departmentFacts
	err := d.query(ctx, tenantID, DepartmentSK(""), "id, parentId", func(item map[string]types.AttributeValue) error {
		var f departmentFacts
		if err := attributevalue.UnmarshalMap(item, &f); err != nil {
			return errs.Wrap(err, "decode department")
		}
		deps = append(deps, f)
		return nil
	})
	if err != nil {
		return nil, -1, err
	}
	children := map[string][]string{}
	known := map[string]bool{}
	for _, f := range deps {
		known[f.ID] = true
		children[f.ParentID] = append(children[f.ParentID], f.ID)
	}
	var all []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		all = append(all, id)
		for _, c := range children[id] {
			walk(c)
		}
	}
	for i, id := range departmentIDs {
		if !known[id] {
			return nil, i, nil
		}
		walk(id)
	}
	return all, -1, nil
}

// EnabledMembers lists the tenant's enabled members, personal data opened.
func (d *Roster) EnabledMembers(ctx context.Context, tenantID string) ([]Member, error) {
	var list []Member
	err := d.query(ctx, tenantID, MemberSK(""), "", func(item map[string]types.AttributeValue) error {
		m, err := d.Codec.Member(item)
		if err != nil {
			return errs.Wrap(err, "decode member")
		}
		if m.Enabled {
			list = append(list, m)
		}
		return nil
	})
	return list, err
}

func (d *Roster) query(ctx context.Context, tenantID, prefix, projection string, f func(map[string]types.AttributeValue) error) error {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: TenantPK(tenantID)},
			":p":  &types.AttributeValueMemberS{Value: prefix},
		},
		// Partner sync's snapshot must see the writes whose events it
		// follows.
		ConsistentRead: aws.Bool(true),
	}
	if projection != "" {
		in.ProjectionExpression = aws.String(projection)
	}
	for {
		out, err := d.DB.Query(ctx, in)
		if err != nil {
			return errs.Wrap(err, "query directory")
		}
		for _, item := range out.Items {
			if err := f(item); err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Mobiles returns the mobiles of the enabled members among memberIDs,
// opened from their sealed items.
func (d *Roster) Mobiles(ctx context.Context, tenantID string, memberIDs []string) (map[string]string, error) {
	out := map[string]string{}
	err := d.batch(ctx, tenantID, memberIDs, "", func(item map[string]types.AttributeValue) error {
		m, err := d.Codec.Member(item)
		if err != nil {
			return errs.Wrap(err, "decode member")
		}
		if m.Enabled {
			out[m.ID] = m.Mobile
		}
		return nil
	})
	return out, err
}
