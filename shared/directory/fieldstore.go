package directory

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
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

func (st *DynamoStore) Fields(ctx context.Context, tenantID string) ([]Field, int, error) {
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Codec.Table), Key: key(tenantID, fieldsSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, 0, errs.Wrap(err, "get fields")
	}
	if out.Item == nil {
		return []Field{}, 0, nil
	}
	return decodeFields(out.Item)
}

func (st *DynamoStore) PutFields(ctx context.Context, tenantID string, fields []Field, prev int, change audit.Change) error {
	item, err := attributevalue.MarshalMap(fieldsRecord{PK: TenantPK(tenantID), SK: fieldsSK, Type: "fields", Version: prev + 1, Fields: fields})
	if err != nil {
		return errs.Wrap(err, "encode fields")
	}
	put := &types.Put{TableName: aws.String(st.Codec.Table), Item: item}
	if prev == 0 {
		put.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		put.ConditionExpression = aws.String("version = :v")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":v": avn(prev)}
	}
	// One transaction, so the definitions and their audit entry are
	// written together.
	t := &txn{}
	t.add(errRetry, types.TransactWriteItem{Put: put})
	if err := st.audited(ctx, t, tenantID, change); err != nil {
		return err
	}
	return t.run(ctx, st.DB)
}
