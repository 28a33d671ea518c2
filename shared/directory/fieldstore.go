package directory

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// The field definitions of a tenant are one item, versioned, so that member
// writes can check in their transaction that the definitions they were
// validated against still hold.
type fieldsRecord struct {
	PK      string  `dynamodbav:"pk"`
	SK      string  `dynamodbav:"sk"`
	Type    string  `dynamodbav:"type"`
	Version int     `dynamodbav:"version"`
	Fields  []Field `dynamodbav:"fields"`
}

func decodeFields(item map[string]types.AttributeValue) ([]Field, int, error) {
	var rec fieldsRecord
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return nil, 0, errs.Wrap(err, "decode fields")
	}
	if rec.Fields == nil {
		rec.Fields = []Field{}
	}
	return rec.Fields, rec.Version, nil
}

// fields reads the definitions and their version (0: none yet).
func (s *Service) fields(ctx context.Context, tenantID string) ([]Field, int, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.table(), Key: key(tenantID, fieldsSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, 0, errs.Wrap(err, "get fields")
	}
	if out.Item == nil {
		return []Field{}, 0, nil
	}
	return decodeFields(out.Item)
}

// Fields returns the tenant's custom field definitions.
func (s *Service) Fields(ctx context.Context, tenantID string) ([]Field, error) {
	f, _, err := s.fields(ctx, tenantID)
	return f, err
}

// PutFields replaces the tenant's custom field definitions. Codes are
// immutable: a code keeps its type; removing a code removes the field.
func (s *Service) PutFields(ctx context.Context, tenantID string, in []Field) ([]Field, error) {
	var out []Field
	err := retry(ctx, func() error {
		prev, version, err := s.fields(ctx, tenantID)
		if err != nil {
			return err
		}
		if out, err = NormalizeFields(in, prev); err != nil {
			return err
		}
		item, err := attributevalue.MarshalMap(fieldsRecord{PK: TenantPK(tenantID), SK: fieldsSK, Type: "fields", Version: version + 1, Fields: out})
		if err != nil {
			return errs.Wrap(err, "encode fields")
		}
		put := &types.Put{TableName: s.table(), Item: item}
		if version == 0 {
			put.ConditionExpression = aws.String("attribute_not_exists(pk)")
		} else {
			put.ConditionExpression = aws.String("version = :v")
			put.ExpressionAttributeValues = map[string]types.AttributeValue{":v": avn(version)}
		}
		// One transaction, so the definitions and their audit entry are
		// written together.
		t := &txn{}
		t.add(errRetry, types.TransactWriteItem{Put: put})
		if err := s.audited(ctx, t, tenantID, fieldsChange(prev, out)); err != nil {
			return err
		}
		return t.run(ctx, s.DB)
	})
	return out, err
}
