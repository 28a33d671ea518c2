package chat

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	err := s.updateEntry(ctx, m.TenantID, m.ConversationID, memberID, "SET "+listed,
		"attribute_exists(pk) AND (attribute_not_exists(lastSeq) OR lastSeq < :n) AND (attribute_not_exists(hiddenSeq) OR hiddenSeq < :n)",
		listedValues(m.TenantID, memberID, m.ConversationID, m.Seq, m.At))
	if dynamo.ConditionFailed(err) {
		return false, nil // moved further already, hidden since, or left
	}
	return err == nil, errs.Wrap(err, "move list place")
}

// QueryList reads up to n rows of a list partition (pk) after the
// cursor, newest first; more is false when the partition has nothing
// after them.
func (s *DynamoStore) QueryList(ctx context.Context, pk string, after *listCursor, n int) ([]listRow, bool, error) {
	cond := "gsi3pk = :pk"
	vals := map[string]types.AttributeValue{":pk": str(pk)}
	if after != nil {
		cond += " AND gsi3sk < :after"
		vals[":after"] = str(listSK(after.At, after.ID))
	}
	res, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		IndexName:                 aws.String(listIndex),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeValues: vals,
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(n)),
	})
	if err != nil {
		return nil, false, errs.Wrap(err, "list conversations")
	}
	rows := make([]listRow, len(res.Items))
	for i, it := range res.Items {
		if err := unmarshal(it, &rows[i]); err != nil {
			return nil, false, err
		}
	}
	return rows, len(res.LastEvaluatedKey) > 0, nil
}

// Heads reads conversations' heads (one BatchGetItem, eventually
// consistent) by conversation id; a missing one is left out.
func (s *DynamoStore) Heads(ctx context.Context, pks []string) (map[string]headRecord, error) {
	keys := make([]map[string]types.AttributeValue, len(pks))
	for i, pk := range pks {
		keys[i] = key(pk, headSK)
	}
	items, err := batchGet(ctx, s.DB, s.Table, keys, false)
	if err != nil {
		return nil, err
	}
	heads := make(map[string]headRecord, len(items))
	for _, it := range items {
		var h headRecord
		if err := unmarshal(it, &h); err != nil {
			return nil, err
		}
		heads[h.ID] = h
	}
	return heads, nil
}

// Expressions that keep an entry's list place. listed puts it back in its
// list partition (the pinned one when it is pinned) at the place of a
// message: a new message brings a hidden conversation back.
const listed = "listPk = if_not_exists(listPk, :list), gsi3pk = if_not_exists(listPk, :list), gsi3sk = :place, lastSeq = :n"

func listedValues(tenantID, memberID, convID string, seq int64, at time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		":list": str(listPK(tenantID, memberID)), ":place": str(listSK(at, convID)), ":n": num(seq),
	}
}
