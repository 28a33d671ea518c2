package directory

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// What other capabilities read of the directory table, and only through
// these: a member's item by key, who holds a unique value, and where a
// member stands, without opening personal data. Identity and the member
// middleware read them in the BatchGetItem of their own items, so the
// keys and projections are exported rather than a read.

// MemberKey is the primary key of a member's item.
func MemberKey(tenantID, memberID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: TenantPK(tenantID)},
		"sk": &types.AttributeValueMemberS{Value: MemberSK(memberID)},
	}
}

// Holder returns the id of the member a unique item (keyed by
// Codec.UniqueKey) reserves its value for; a missing item (nil) holds none.
func Holder(item map[string]types.AttributeValue) (string, error) {
	var rec struct {
		MemberID string `dynamodbav:"memberId"`
	}
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return "", fmt.Errorf("directory: decode unique item: %w", err)
	}
	return rec.MemberID, nil
}

// Principal is where a member stands: what a session check, a refresh or
// an admin-only code needs of a member item, and no personal data.
type Principal struct {
	Role          string   `dynamodbav:"role"`
	Enabled       bool     `dynamodbav:"enabled"`
	DepartmentIDs []string `dynamodbav:"departmentIds"`
	// SessionsNotBefore ends the sessions that began before it.
	SessionsNotBefore *time.Time `dynamodbav:"sessionsNotBefore"`
}

// IsEnabledAdmin reports whether the member may act as an admin now.
func (p Principal) IsEnabledAdmin() bool { return p.Role == RoleAdmin && p.Enabled }

// PrincipalRead asks for the Principal part of the member items with the
// given keys (MemberKey), in a BatchGetItem; its projection and names serve
// a GetItem too.
func PrincipalRead(keys ...map[string]types.AttributeValue) types.KeysAndAttributes {
	return types.KeysAndAttributes{
		Keys:                     keys,
		ProjectionExpression:     aws.String("#r, enabled, departmentIds, sessionsNotBefore"),
		ExpressionAttributeNames: map[string]string{"#r": "role"},
	}
}

// DecodePrincipal decodes a member item, read whole or with PrincipalRead.
func DecodePrincipal(item map[string]types.AttributeValue) (Principal, error) {
	var p Principal
	if err := attributevalue.UnmarshalMap(item, &p); err != nil {
		return Principal{}, fmt.Errorf("directory: decode member: %w", err)
	}
	if p.DepartmentIDs == nil {
		p.DepartmentIDs = []string{}
	}
	return p, nil
}
