package chat

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// The list index's storage: members' list places (listing.go).

// ListPlaces reads the list places of a conversation's entries.
func (s *DynamoStore) ListPlaces(ctx context.Context, tenantID, convID string) ([]entryRecord, error) {
	return s.entries(ctx, tenantID, convID, "memberId, lastSeq, hiddenSeq")
}

// MoveEntry moves a member's list place to m's newest message, on the
// condition that its place is older and the entry not hidden since, so
// that a late or repeated stream batch never moves a place back.
func (s *DynamoStore) MoveEntry(ctx context.Context, m Moved, memberID string) (bool, error) {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.Table),
		Key:              key(convPK(m.TenantID, m.ConversationID), entrySK(memberID)),
		UpdateExpression: aws.String("SET " + listed),
		ConditionExpression: aws.String("attribute_exists(pk) AND (attribute_not_exists(lastSeq) OR lastSeq < :n)" +
			" AND (attribute_not_exists(hiddenSeq) OR hiddenSeq < :n)"),
		ExpressionAttributeValues: listedValues(m.TenantID, memberID, m.ConversationID, m.Seq, m.At),
	})
	if dynamo.ConditionFailed(err) {
		return false, nil // moved further already, hidden since, or left
	}
	return err == nil, errs.Wrap(err, "move list place")
}
