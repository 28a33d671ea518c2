// Package notice is the per-member inbox of system notices: expiry
// warnings, reminders, approval steps. Other capabilities write to it; the
// messages function serves it at /v1/me/notices.
package notice

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Notice is one message from the platform to one member.
type Notice struct {
	ID        string            `json:"id" dynamodbav:"id"`
	TenantID  string            `json:"-" dynamodbav:"tenantId"`
	MemberID  string            `json:"-" dynamodbav:"memberId"`
	Kind      string            `json:"kind" dynamodbav:"kind"` // e.g. expiry_warning, calendar_reminder
	Title     string            `json:"title" dynamodbav:"title"`
	Body      string            `json:"body" dynamodbav:"body"`
	Data      map[string]string `json:"data,omitempty" dynamodbav:"data,omitempty"`
	CreatedAt time.Time         `json:"createdAt" dynamodbav:"createdAt"`
	ReadAt    *time.Time        `json:"readAt,omitempty" dynamodbav:"readAt,omitempty"`
}

// Sender delivers notices. Deliver is idempotent by notice id: a notice
// whose id was delivered before is not delivered again, so a retried or
// replayed job sends each notice once.
type Sender interface {
	Deliver(ctx context.Context, n Notice) error
}

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DynamoStore keeps each member's notices in one partition, sorted by id
// (ids are time-ordered, so the newest come first when read backwards).
type DynamoStore struct {
	DB    DB
	Table string
}

var _ Sender = (*DynamoStore)(nil)

const inboxPrefix = "INBOX#"

func inboxPK(tenantID, memberID string) string { return inboxPrefix + tenantID + "#" + memberID }

type record struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Notice
}

// Deliver implements Sender.
func (s *DynamoStore) Deliver(ctx context.Context, n Notice) error {
	if n.ID == "" || n.TenantID == "" || n.MemberID == "" {
		return errs.Wrap(errs.E(errs.Internal, "internal", "notice without id, tenant or member"), "deliver notice")
	}
	item, err := attributevalue.MarshalMap(record{PK: inboxPK(n.TenantID, n.MemberID), SK: n.ID, Notice: n})
	if err != nil {
		return errs.Wrap(err, "encode notice")
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return errs.Wrap(err, "deliver notice")
	}
	return nil
}

// List returns a member's notices newest first, a page at a time.
func (s *DynamoStore) List(ctx context.Context, tenantID, memberID, cursor string, limit int) ([]Notice, string, error) {
	pk := inboxPK(tenantID, memberID)
	cursors := dynamo.ListCursors("notices", pk)
	start, err := cursors.DecodeKey(cursor, dynamo.KeyIs("pk", pk), dynamo.KeyHasPrefix("sk", ""))
	if err != nil {
		return nil, "", err
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
		ExclusiveStartKey:         start,
	}
	out, err := s.DB.Query(ctx, in)
	if err != nil {
		return nil, "", errs.Wrap(err, "list notices")
	}
	notices := make([]Notice, 0, len(out.Items))
	for _, item := range out.Items {
		var r record
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return nil, "", errs.Wrap(err, "decode notice")
		}
		notices = append(notices, r.Notice)
	}
	return notices, cursors.EncodeKey(out.LastEvaluatedKey), nil
}

// MarkRead marks one of the member's notices read; marking twice is fine.
func (s *DynamoStore) MarkRead(ctx context.Context, tenantID, memberID, id string, at time.Time) error {
	readAt, _ := attributevalue.Marshal(at.UTC())
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: inboxPK(tenantID, memberID)},
			"sk": &types.AttributeValueMemberS{Value: id},
		},
		UpdateExpression:          aws.String("SET readAt = if_not_exists(readAt, :at)"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": readAt},
	})
	if dynamo.ConditionFailed(err) {
		return errs.NotFoundf("notice_not_found", "no such notice")
	}
	return errs.Wrap(err, "mark notice read")
}
