package notice

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// Unread counts a member's unread notices. It reads the member's inbox
// (one partition, keys and readAt only), which the inbox's size bounds.
func (s *DynamoStore) Unread(ctx context.Context, tenantID, memberID string) (int, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("attribute_not_exists(readAt)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: inboxPK(tenantID, memberID)}},
		Select:                    types.SelectCount,
	}
	n := 0
	for {
		out, err := s.DB.Query(ctx, in)
		if err != nil {
			return 0, errs.Wrap(err, "count unread notices")
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
