package directory

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ContactRead asks for what a message to members needs of their items
// (MemberKey), in a BatchGetItem of the caller's own: the id and whether
// the member is enabled (DecodeStanding), and when sealed also the sealed
// name and mobile, which Codec.Member opens. Chat reads it with its own
// items and copies the sealed part into an urgent message's reminder, so
// the sweep needs no directory read.
func ContactRead(sealed, consistent bool, keys ...map[string]types.AttributeValue) types.KeysAndAttributes {
	ka := types.KeysAndAttributes{
		Keys:                     keys,
		ConsistentRead:           aws.Bool(consistent),
		ProjectionExpression:     aws.String("#id, enabled"),
		ExpressionAttributeNames: map[string]string{"#id": "id"},
	}
	if sealed {
		ka.ProjectionExpression = aws.String("#id, tenantId, #n, mobile, enabled")
		ka.ExpressionAttributeNames["#n"] = "name"
	}
	return ka
}

// Standing is a member's id and whether it may be messaged.
type Standing struct {
	ID      string `dynamodbav:"id"`
	Enabled bool   `dynamodbav:"enabled"`
}

// DecodeStanding decodes a member item, read whole or with ContactRead.
func DecodeStanding(item map[string]types.AttributeValue) (Standing, error) {
	var s Standing
	if err := attributevalue.UnmarshalMap(item, &s); err != nil {
		return Standing{}, fmt.Errorf("directory: decode member: %w", err)
	}
	return s, nil
}
