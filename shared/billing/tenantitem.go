package billing

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// TenantSK is the sort key of the tenant item. Tenant items are keyed by
// code (TenantPK): the code is what logins and the operator name a tenant
// by, and keying by it makes its uniqueness a plain condition.
const TenantSK = "TENANT"

// TenantPK is the partition of tenant code's items: the tenant item, its
// subscription item and the notice deliveries.
func TenantPK(code string) string { return tenantPrefix + code }

func itemKey(code, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: TenantPK(code)},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

// TenantKey is the primary key of tenant code's tenant item.
func TenantKey(code string) map[string]types.AttributeValue { return itemKey(code, TenantSK) }

// TenantItem is the tenant item of the tenants table.
type TenantItem struct {
	ID        string    `dynamodbav:"id"`
	Code      string    `dynamodbav:"code"`
	Name      string    `dynamodbav:"name"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
}

// Encode returns the item, keyed by its code.
func (t TenantItem) Encode() (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(t)
	if err != nil {
		return nil, errs.Wrap(err, "encode tenant")
	}
	for k, v := range itemKey(t.Code, TenantSK) {
		item[k] = v
	}
	return item, nil
}

// DecodeTenant decodes a tenant item, whole or projected; a missing item
// decodes to one with no ID.
func DecodeTenant(item map[string]types.AttributeValue) (TenantItem, error) {
	var t TenantItem
	if err := attributevalue.UnmarshalMap(item, &t); err != nil {
		return TenantItem{}, errs.Wrap(err, "decode tenant")
	}
	return t, nil
}
