package chat

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// The reminders' storage (ReminderStore): the due index, the claim and
// its lease, and the read cursors and directory items a sweep reads.

func (s *DynamoStore) dueShards() dynamo.Shards { return dynamo.Shards{Key: duePK, N: s.Shards} }

// DueReminders reads the due index (only pending reminders are in it) up
// to now, every shard.
func (s *DynamoStore) DueReminders(ctx context.Context, now time.Time) ([]reminderRecord, error) {
	items, err := dynamo.QueryShards(ctx, s.DB, &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		IndexName:              aws.String(dueIndex),
		KeyConditionExpression: aws.String("gsi2pk = :pk AND gsi2sk < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			// '$' sorts after the '#' that follows the due time in the key,
			// so reminders due exactly now are included.
			":now": str(now.UTC().Format(dueTime) + "$"),
		},
	}, ":pk", s.dueShards().Partitions(), "gsi2sk")
	if err != nil {
		return nil, errs.Wrap(err, "query due reminders")
	}
	out := make([]reminderRecord, len(items))
	for i, it := range items {
		if out[i], err = decodeReminder(it); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// claimUpdate takes a pending reminder nobody holds (or whose holder's
// lease ran out) until leaseUntil.
func (s *DynamoStore) claimUpdate(rem reminderRecord, now, leaseUntil time.Time) *types.Update {
	return &types.Update{
		TableName:           aws.String(s.Table),
		Key:                 key(rem.PK, rem.SK),
		UpdateExpression:    aws.String("SET leaseUntil = :lease, attempts = attempts + :one"),
		ConditionExpression: aws.String("attribute_exists(gsi2pk) AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease": num(leaseUntil.UnixMilli()), ":now": num(now.UnixMilli()), ":one": num(1),
		},
	}
}

// Claim claims a reminder and returns it as stored: errTaken when it is
// done already or another sweep holds it.
func (s *DynamoStore) Claim(ctx context.Context, rem reminderRecord, now, leaseUntil time.Time) (reminderRecord, error) {
	claim := s.claimUpdate(rem, now, leaseUntil)
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: claim.TableName, Key: claim.Key, UpdateExpression: claim.UpdateExpression,
		ConditionExpression: claim.ConditionExpression, ExpressionAttributeValues: claim.ExpressionAttributeValues,
		ReturnValues: types.ReturnValueAllNew,
	})
	if dynamo.ConditionFailed(err) {
		return rem, errTaken
	}
	if err != nil {
		return rem, errs.Wrap(err, "claim reminder")
	}
	err = unmarshal(out.Attributes, &rem)
	return rem, err
}

// ClaimDirect claims a 1:1 reminder in one transaction with a check that
// its recipient's read cursor is still before the message: errTaken when
// it is done already or another sweep has it, errReadInTime when the
// recipient read it (or is no longer a member).
func (s *DynamoStore) ClaimDirect(ctx context.Context, rem reminderRecord, now, leaseUntil time.Time) error {
	_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: s.claimUpdate(rem, now, leaseUntil)},
		{ConditionCheck: &types.ConditionCheck{
			TableName:                 aws.String(s.Table),
			Key:                       key(rem.PK, entrySK(rem.Recipient)),
			ConditionExpression:       aws.String("readSeq < :seq AND joinedSeq < :seq"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":seq": num(rem.Seq)},
		}},
	}})
	switch {
	case dynamo.FailedCondition(err, 0) || dynamo.Conflicted(err):
		return errTaken
	case dynamo.FailedCondition(err, 1):
		return errReadInTime
	}
	return errs.Wrap(err, "claim reminder")
}

// ReadCursors reads the read cursors of a conversation's members.
func (s *DynamoStore) ReadCursors(ctx context.Context, tenantID, convID string) ([]entryRecord, error) {
	return s.entries(ctx, tenantID, convID, "memberId, readSeq, joinedSeq")
}

// People reads and opens the members' directory items (eventually
// consistent); a member the directory no longer has is left out.
func (s *DynamoStore) People(ctx context.Context, tenantID string, memberIDs []string) (map[string]directory.Member, error) {
	keys := make([]map[string]types.AttributeValue, len(memberIDs))
	for i, id := range memberIDs {
		keys[i] = directory.MemberKey(tenantID, id)
	}
	items, err := batchGet(ctx, s.DB, s.Directory.Table, keys, false)
	if err != nil {
		return nil, err
	}
	return s.open(items)
}

// Open opens the directory items a 1:1 reminder carries.
func (s *DynamoStore) Open(people []person) (map[string]directory.Member, error) {
	items := make([]map[string]types.AttributeValue, len(people))
	for i, p := range people {
		items[i] = p.item
	}
	return s.open(items)
}

func (s *DynamoStore) open(items []map[string]types.AttributeValue) (map[string]directory.Member, error) {
	out := make(map[string]directory.Member, len(items))
	for _, it := range items {
		m, err := s.Directory.Member(it)
		if err != nil {
			return nil, errs.Wrap(err, "open member")
		}
		out[m.ID] = m
	}
	return out, nil
}

// RecordSent records a member as reminded, right after the SMS.
func (s *DynamoStore) RecordSent(ctx context.Context, rem reminderRecord, memberID string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key(rem.PK, rem.SK),
		UpdateExpression:          aws.String("ADD sent :m"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":m": &types.AttributeValueMemberSS{Value: []string{memberID}}},
	})
	return errs.Wrap(err, "record reminder sent")
}

// Close takes a reminder out of the due index for good, recording sentTo
// (when not empty) as reminded in the same write. The copies of the
// directory items go with it: sealed or not, personal data is kept only
// while it is needed.
func (s *DynamoStore) Close(ctx context.Context, rem reminderRecord, sentTo string, now time.Time) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key(rem.PK, rem.SK),
		UpdateExpression:          aws.String("SET doneAt = :at REMOVE gsi2pk, gsi2sk, leaseUntil, people"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": av(now.UTC())},
	}
	if sentTo != "" {
		in.UpdateExpression = aws.String("SET doneAt = :at ADD sent :m REMOVE gsi2pk, gsi2sk, leaseUntil, people")
		in.ExpressionAttributeValues[":m"] = &types.AttributeValueMemberSS{Value: []string{sentTo}}
	}
	_, err := s.DB.UpdateItem(ctx, in)
	return errs.Wrap(err, "close reminder")
}

// Release gives a claimed reminder back before its lease ends.
func (s *DynamoStore) Release(ctx context.Context, rem reminderRecord) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.Table),
		Key:              key(rem.PK, rem.SK),
		UpdateExpression: aws.String("REMOVE leaseUntil"),
	})
	return err
}

// closeReminders are the updates that take reminders of a conversation
// out of the due index because their recipient read the message: the
// sweep never reads them. A reminder the sweep closed already keeps its
// doneAt.
func (s *DynamoStore) closeReminders(pk string, seqs []int64, now time.Time) []types.TransactWriteItem {
	tx := make([]types.TransactWriteItem, len(seqs))
	for i, n := range seqs {
		tx[i] = types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.Table),
			Key:                       key(pk, reminderSK(n)),
			UpdateExpression:          aws.String("SET doneAt = if_not_exists(doneAt, :at) REMOVE gsi2pk, gsi2sk, leaseUntil, people"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": av(now)},
		}}
	}
	return tx
}
