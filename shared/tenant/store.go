package tenant

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// DynamoStore keeps tenants in the tenants table; a tenant's first admin
// goes to the directory table in the same transaction.
type DynamoStore struct {
	DB        DB
	Table     string
	Directory *directory.Codec
}

var _ Store = (*DynamoStore)(nil)

// Tenant items are keyed by code: the code is what logins and the operator
// name a tenant by, and keying by it makes its uniqueness a plain condition.
func tenantKey(code string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "TENANT#" + code},
		"sk": &types.AttributeValueMemberS{Value: "TENANT"},
	}
}

type tenantRecord struct {
	PK        string    `dynamodbav:"pk"`
	SK        string    `dynamodbav:"sk"`
	ID        string    `dynamodbav:"id"`
	Code      string    `dynamodbav:"code"`
	Name      string    `dynamodbav:"name"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
}

func (s *DynamoStore) Create(ctx context.Context, t Tenant, admin directory.Member) error {
	item, err := attributevalue.MarshalMap(tenantRecord{
		PK: "TENANT#" + t.Code, SK: "TENANT", ID: t.ID, Code: t.Code, Name: t.Name, CreatedAt: t.CreatedAt,
	})
	if err != nil {
		return errs.Wrap(err, "encode tenant")
	}
	memberItems, err := s.Directory.CreateItems(admin, admin.ID)
	if err != nil {
		return errs.Wrap(err, "encode admin")
	}
	tx := append([]types.TransactWriteItem{{Put: &types.Put{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}}, memberItems...)
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	switch {
	case err == nil:
		return nil
	case dynamo.FailedCondition(err, 0):
		return errs.E(errs.Conflict, "tenant_code_taken", "a tenant with code %q exists already", t.Code)
	case dynamo.Conflicted(err):
		return errs.E(errs.Conflict, "tenant_code_taken", "a tenant with code %q is being created right now", t.Code)
	}
	return errs.Wrap(err, "create tenant")
}

func (s *DynamoStore) Get(ctx context.Context, code string) (Tenant, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: tenantKey(code)})
	if err != nil {
		return Tenant{}, errs.Wrap(err, "get tenant")
	}
	if out.Item == nil {
		return Tenant{}, errs.NotFoundf("tenant_not_found", "no tenant with this code")
	}
	var rec tenantRecord
	if err := attributevalue.UnmarshalMap(out.Item, &rec); err != nil {
		return Tenant{}, errs.Wrap(err, "decode tenant")
	}
	return Tenant{ID: rec.ID, Code: rec.Code, Name: rec.Name, CreatedAt: rec.CreatedAt}, nil
}
