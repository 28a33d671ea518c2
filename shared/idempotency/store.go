package idempotency

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoStore keeps records in the idempotency table: one item per key,
// pk "<scope>#<hash of route and key>", removed by the table's TTL on
// attribute "ttl" a day after it was claimed.
type DynamoStore struct {
	DB    *dynamodb.Client
	Table string
}

const (
	statePending  = "pending"
	stateDone     = "done"
	stateReleased = "released" // its request left nothing to replay: the key is free
)

// Claim puts a pending record unless a live one is there: an absent,
// released or expired record (TTL deletes lazily), or a pending one of the
// same request whose lock has run out (its request died), may be taken.
func (s *DynamoStore) Claim(ctx context.Context, id, fp, token string, now time.Time, lock, ttl time.Duration) (*Record, error) {
	nowN := num(now.Unix())
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.Table,
		Item: map[string]types.AttributeValue{
			"pk":        str(id),
			"state":     str(statePending),
			"fp":        str(fp),
			"token":     str(token),
			"lockUntil": num(now.Add(lock).Unix()),
			"ttl":       num(now.Add(ttl).Unix()),
		},
		ConditionExpression: aws.String("attribute_not_exists(pk) OR #ttl < :now OR #state = :released OR " +
			"(#state = :pending AND lockUntil < :now AND fp = :fp)"),
		ExpressionAttributeNames: map[string]string{"#ttl": "ttl", "#state": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": nowN, ":pending": str(statePending), ":fp": str(fp), ":released": str(stateReleased),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return nil, fmt.Errorf("claim %s: %w", s.Table, err)
	}
	if ccf.Item == nil {
		return nil, fmt.Errorf("claim %s: the failed condition returned no item", s.Table)
	}
	return decode(ccf.Item)
}

// Complete stores the answer of the request holding the claim.
func (s *DynamoStore) Complete(ctx context.Context, id, token string, a Answer) error {
	header := map[string]types.AttributeValue{}
	for k, v := range a.Header {
		header[k] = str(v)
	}
	body := a.Body
	if body == nil {
		body = []byte{}
	}
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.Table,
		Key:                 map[string]types.AttributeValue{"pk": str(id)},
		UpdateExpression:    aws.String("SET #state = :done, #status = :status, body = :body, header = :header REMOVE lockUntil"),
		ConditionExpression: aws.String("#token = :token"),
		ExpressionAttributeNames: map[string]string{
			"#state": "state", "#status": "status", "#token": "token",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":done": str(stateDone), ":status": num(int64(a.Status)),
			":body": &types.AttributeValueMemberB{Value: body}, ":header": &types.AttributeValueMemberM{Value: header},
			":token": str(token),
		},
	})
	if err != nil {
		return fmt.Errorf("complete %s: %w", s.Table, err)
	}
	return nil
}

// Release frees the key of a request that left nothing to replay. It
// marks the record rather than deleting it, so that the functions need no
// more than PutItem and UpdateItem on the table.
func (s *DynamoStore) Release(ctx context.Context, id, token string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.Table,
		Key:                       map[string]types.AttributeValue{"pk": str(id)},
		UpdateExpression:          aws.String("SET #state = :released"),
		ConditionExpression:       aws.String("#token = :token"),
		ExpressionAttributeNames:  map[string]string{"#token": "token", "#state": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": str(token), ":released": str(stateReleased)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("release %s: %w", s.Table, err)
	}
	return nil
}

func decode(item map[string]types.AttributeValue) (*Record, error) {
	var rec Record
	if v, ok := item["fp"].(*types.AttributeValueMemberS); ok {
		rec.Fingerprint = v.Value
	}
	state, _ := item["state"].(*types.AttributeValueMemberS)
	if state == nil || state.Value != stateDone {
		return &rec, nil
	}
	rec.Done = true
	status, _ := item["status"].(*types.AttributeValueMemberN)
	if status == nil {
		return nil, fmt.Errorf("idempotency record %v has no status", item["pk"])
	}
	n, err := strconv.Atoi(status.Value)
	if err != nil {
		return nil, fmt.Errorf("idempotency record status %q: %w", status.Value, err)
	}
	rec.Answer.Status = n
	if b, ok := item["body"].(*types.AttributeValueMemberB); ok {
		rec.Answer.Body = b.Value
	}
	rec.Answer.Header = map[string]string{}
	if m, ok := item["header"].(*types.AttributeValueMemberM); ok {
		for k, v := range m.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				rec.Answer.Header[k] = s.Value
			}
		}
	}
	return &rec, nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
