package tenant

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/billing"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
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

func (s *DynamoStore) Create(ctx context.Context, t Tenant, admin directory.Member) error {
	item, err := billing.TenantItem{ID: t.ID, Code: t.Code, Name: t.Name, CreatedAt: t.CreatedAt}.Encode()
	if err != nil {
		return err
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

// Get reads the tenant item and, in the same Query, its subscription item
// (sort key SUBSCRIPTION sorts just before TENANT, after the delivery
// records), so a login learns whether the tenant may still log in without
// another round trip.
func (s *DynamoStore) Get(ctx context.Context, code string) (Tenant, error) {
	out, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :sub AND :tenant"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk":     &types.AttributeValueMemberS{Value: billing.TenantPK(code)},
			":sub":    &types.AttributeValueMemberS{Value: billing.SubscriptionSK},
			":tenant": &types.AttributeValueMemberS{Value: billing.TenantSK},
		},
	})
	if err != nil {
		return Tenant{}, errs.Wrap(err, "get tenant")
	}
	var t Tenant
	var sub *billing.Subscription
	for _, item := range out.Items {
		sk, _ := item["sk"].(*types.AttributeValueMemberS)
		switch {
		case sk == nil:
		case sk.Value == billing.TenantSK:
			rec, err := billing.DecodeTenant(item)
			if err != nil {
				return Tenant{}, err
			}
			t = Tenant{ID: rec.ID, Code: rec.Code, Name: rec.Name, CreatedAt: rec.CreatedAt}
		case sk.Value == billing.SubscriptionSK:
			rec, err := billing.DecodeRecord(item)
			if err != nil {
				return Tenant{}, err
			}
			if got, ok := rec.Subscription(); ok {
				sub = &got
			}
		}
	}
	if t.ID == "" {
		return Tenant{}, errs.NotFoundf("tenant_not_found", "no tenant with this code")
	}
	t.Subscription = sub
	return t, nil
}
