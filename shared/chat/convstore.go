package chat

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Conversations, their members, read state and settings in the chat
// table (service.go).

// CreateDirect writes a new 1:1 conversation (its head and both entries,
// in one transaction); created is false when it exists already.
func (s *DynamoStore) CreateDirect(ctx context.Context, head headRecord, now time.Time) (created bool, err error) {
	tx, err := s.directItems(head, now)
	if err != nil {
		return false, err
	}
	for attempt := 0; ; attempt++ {
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		// A concurrent creation of the same pair still in flight: once it
		// commits, this one's condition fails and finds it.
		if !dynamo.Conflicted(err) || attempt == 3 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	if err != nil && !dynamo.ConditionFailed(err) {
		return false, errs.Wrap(err, "create conversation")
	}
	return err == nil, nil
}

// Show brings a member's entry back to their list, where it was (or at
// now, for an entry listed nowhere yet); a missing entry is left so.
func (s *DynamoStore) Show(ctx context.Context, tenantID, convID, memberID string, now time.Time) error {
	err := s.updateEntry(ctx, tenantID, convID, memberID,
		"SET listPk = if_not_exists(listPk, :list), gsi3pk = if_not_exists(listPk, :list), gsi3sk = if_not_exists(gsi3sk, :place) REMOVE hiddenSeq",
		"attribute_exists(pk)",
		map[string]types.AttributeValue{":list": str(listPK(tenantID, memberID)), ":place": str(listSK(now, convID))})
	if err != nil && !dynamo.ConditionFailed(err) {
		return errs.Wrap(err, "show conversation")
	}
	return nil
}

// CreateGroup writes the entries first and the head last, in
// transactions of at most 100 items: entries without a head belong to no
// conversation that any read can see, so a failure half-way shows nothing
// half-made.
func (s *DynamoStore) CreateGroup(ctx context.Context, head headRecord, entries []entryRecord) error {
	var items []types.TransactWriteItem
	for _, e := range entries {
		p, err := put(s.Table, e, "attribute_not_exists(pk)")
		if err != nil {
			return err
		}
		items = append(items, p)
	}
	h, err := put(s.Table, head, "attribute_not_exists(pk)")
	if err != nil {
		return err
	}
	items = append(items, h)
	for start := 0; start < len(items); start += dynamo.MaxTransactItems {
		end := min(start+dynamo.MaxTransactItems, len(items))
		if _, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items[start:end]}); err != nil {
			return errs.Wrap(err, "create group")
		}
	}
	return nil
}

// Load reads a conversation's head and a member's entry in one round trip
// (strongly consistent); nil for what is not there.
func (s *DynamoStore) Load(ctx context.Context, tenantID, convID, memberID string) (*headRecord, *entryRecord, error) {
	pk := convPK(tenantID, convID)
	items, err := batchGet(ctx, s.DB, s.Table, []map[string]types.AttributeValue{key(pk, headSK), key(pk, entrySK(memberID))}, true)
	if err != nil {
		return nil, nil, err
	}
	var head *headRecord
	var entry *entryRecord
	for _, it := range items {
		switch skOf(it) {
		case headSK:
			head = new(headRecord)
			err = unmarshal(it, head)
		default:
			entry = new(entryRecord)
			err = unmarshal(it, entry)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return head, entry, nil
}

// updateEntry updates a member's entry of a conversation on a condition.
func (s *DynamoStore) updateEntry(ctx context.Context, tenantID, convID, memberID, update, cond string, vals map[string]types.AttributeValue) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: key(convPK(tenantID, convID), entrySK(memberID)),
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
	})
	return err
}

// Roster reads the entries of every member of a conversation.
func (s *DynamoStore) Roster(ctx context.Context, tenantID, convID string) ([]entryRecord, error) {
	return s.entries(ctx, tenantID, convID, "")
}

// History reads up to limit messages of a conversation newest first, up
// to sequence upper (0: from the newest); more tells that older ones
// remain.
func (s *DynamoStore) History(ctx context.Context, tenantID, convID string, upper int64, limit int) ([]Message, bool, error) {
	cond := "pk = :pk AND begins_with(sk, :p)"
	vals := map[string]types.AttributeValue{":pk": str(convPK(tenantID, convID)), ":p": str(messagePrefix)}
	if upper > 0 {
		cond = "pk = :pk AND sk BETWEEN :lo AND :hi"
		vals = map[string]types.AttributeValue{":pk": vals[":pk"], ":lo": str(messageSK(1)), ":hi": str(messageSK(upper))}
	}
	return s.messages(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeValues: vals,
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	})
}

// After reads up to limit messages of a conversation from sequence from
// to to, oldest first.
func (s *DynamoStore) After(ctx context.Context, tenantID, convID string, from, to int64, limit int) ([]Message, error) {
	msgs, _, err := s.messages(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(convPK(tenantID, convID)), ":lo": str(messageSK(from)), ":hi": str(messageSK(to)),
		},
		Limit: aws.Int32(int32(limit)),
	})
	return msgs, err
}

func (s *DynamoStore) messages(ctx context.Context, in *dynamodb.QueryInput) ([]Message, bool, error) {
	res, err := s.DB.Query(ctx, in)
	if err != nil {
		return nil, false, errs.Wrap(err, "read history")
	}
	msgs := make([]Message, 0, len(res.Items))
	for _, it := range res.Items {
		var r messageRecord
		if err := unmarshal(it, &r); err != nil {
			return nil, false, err
		}
		msgs = append(msgs, r.message())
	}
	return msgs, len(res.LastEvaluatedKey) > 0, nil
}

// MoveRead moves a member's read cursor to seq (never back) and, in the
// same transaction, closes the pending reminders closing of the messages
// it passes, which the entry lists: the sweep never reads them. It is
// errNotMoved when the member left or a newer read won.
func (s *DynamoStore) MoveRead(ctx context.Context, entry entryRecord, seq int64, closing []int64, now time.Time) error {
	pk := convPK(entry.TenantID, entry.ConversationID)
	upd := &types.Update{
		TableName:           aws.String(s.Table),
		Key:                 key(pk, entrySK(entry.MemberID)),
		UpdateExpression:    aws.String("SET readSeq = :s, readAt = :at"),
		ConditionExpression: aws.String("attribute_exists(pk) AND readSeq < :s"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": num(seq), ":at": av(now),
		},
	}
	readOnly := func() error {
		_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: upd.TableName, Key: upd.Key, UpdateExpression: upd.UpdateExpression,
			ConditionExpression: upd.ConditionExpression, ExpressionAttributeValues: upd.ExpressionAttributeValues,
		})
		return err
	}
	var err error
	if len(closing) == 0 {
		err = readOnly()
	} else {
		withClose := *upd
		withClose.UpdateExpression = aws.String("SET readSeq = :s, readAt = :at DELETE reminders :closed")
		withClose.ExpressionAttributeValues = maps.Clone(upd.ExpressionAttributeValues)
		withClose.ExpressionAttributeValues[":closed"] = seqSet(closing)
		tx := append([]types.TransactWriteItem{{Update: &withClose}}, s.closeReminders(pk, closing, now)...)
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		if dynamo.Conflicted(err) {
			// A sweep is on one of the reminders right now: the read alone,
			// and the sweep's check of the read cursor cancels the SMS.
			err = readOnly()
		}
	}
	if dynamo.ConditionFailed(err) {
		return errNotMoved
	}
	return errs.Wrap(err, "mark read")
}

// Sender reads who sent a message; found is false when there is no such
// message.
func (s *DynamoStore) Sender(ctx context.Context, tenantID, convID string, seq int64) (senderID string, found bool, err error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: key(convPK(tenantID, convID), messageSK(seq)),
		ProjectionExpression: aws.String("senderId"),
	})
	if err != nil {
		return "", false, errs.Wrap(err, "read message")
	}
	if out.Item == nil {
		return "", false, nil
	}
	var msg struct {
		SenderID string `dynamodbav:"senderId"`
	}
	err = unmarshal(out.Item, &msg)
	return msg.SenderID, err == nil, err
}

// SetPinned pins or unpins a member's entry: it moves between the
// member's two list partitions, keeping its place. A hidden entry (out of
// the list) only records where it goes back to. A missing entry is
// errConversationNotFound.
func (s *DynamoStore) SetPinned(ctx context.Context, tenantID, convID, memberID string, pinned bool, now time.Time) error {
	upd := "SET pinned = :pinned, listPk = :pk"
	vals := map[string]types.AttributeValue{
		":pinned": &types.AttributeValueMemberBOOL{Value: pinned}, ":pk": str(listPK(tenantID, memberID)),
	}
	if pinned {
		upd += ", pinnedAt = :at"
		vals[":pk"], vals[":at"] = str(pinPK(tenantID, memberID)), av(now)
	} else {
		upd += " REMOVE pinnedAt"
	}
	k := key(convPK(tenantID, convID), entrySK(memberID))
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: k,
		UpdateExpression:          aws.String(strings.Replace(upd, "listPk = :pk", "listPk = :pk, gsi3pk = :pk", 1)),
		ConditionExpression:       aws.String("attribute_exists(gsi3pk)"),
		ExpressionAttributeValues: vals,
	})
	if dynamo.ConditionFailed(err) {
		// Not in the list (hidden, or gone): the entry alone, if it exists.
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.Table), Key: k,
			UpdateExpression:          aws.String(upd),
			ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(gsi3pk)"),
			ExpressionAttributeValues: vals,
		})
	}
	if dynamo.ConditionFailed(err) {
		return errConversationNotFound
	}
	return errs.Wrap(err, "pin conversation")
}

// Hide takes a member's entry out of their list and marks it read up to
// seq, the head's sequence read: errNotMoved when a newer read or a newer
// message's place came meanwhile (or the entry is gone).
func (s *DynamoStore) Hide(ctx context.Context, tenantID, convID, memberID string, seq int64) error {
	err := s.updateEntry(ctx, tenantID, convID, memberID,
		// Out of the list index (gsi3pk removed) until a new message.
		"SET hiddenSeq = :s, readSeq = :s, pinned = :f, listPk = :list REMOVE pinnedAt, gsi3pk",
		// A read of a message newer than the head we saw must not be
		// undone, nor a newer message's place in the list.
		"attribute_exists(pk) AND readSeq <= :s AND (attribute_not_exists(lastSeq) OR lastSeq <= :s)",
		map[string]types.AttributeValue{":s": num(seq), ":f": &types.AttributeValueMemberBOOL{Value: false}, ":list": str(listPK(tenantID, memberID))})
	if dynamo.ConditionFailed(err) {
		return errNotMoved
	}
	return errs.Wrap(err, "hide conversation")
}

var errOwnerOnly = errs.E(errs.Forbidden, "owner_only", "only the group's owner may do this")

// Rename renames a group, on the condition that ownerID still owns it.
func (s *DynamoStore) Rename(ctx context.Context, tenantID, convID, ownerID, name string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key(convPK(tenantID, convID), headSK),
		UpdateExpression:          aws.String("SET #n = :n"),
		ConditionExpression:       aws.String("ownerId = :o"),
		ExpressionAttributeNames:  map[string]string{"#n": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": str(name), ":o": str(ownerID)},
	})
	if dynamo.ConditionFailed(err) {
		return errOwnerOnly
	}
	return errs.Wrap(err, "rename group")
}

var errMembersChanged = errs.E(errs.Conflict, "members_changed", "the group changed meanwhile; try again")

// AddMembers adds entries to a group whose members are roster (read
// consistently), in one transaction with the head's update: its count
// (held to the roster read), and its fan-out list while the group stays
// small enough for it.
func (s *DynamoStore) AddMembers(ctx context.Context, ownerID string, head headRecord, roster []entryRecord, fresh []entryRecord) error {
	ids := make([]string, len(fresh))
	for i, e := range fresh {
		ids[i] = e.MemberID
	}
	tx := []types.TransactWriteItem{{Update: s.growHead(ownerID, head, roster, ids)}}
	for _, e := range fresh {
		p, err := put(s.Table, e, "attribute_not_exists(pk)")
		if err != nil {
			return err
		}
		tx = append(tx, p)
	}
	if _, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx}); err != nil {
		if dynamo.ConditionFailed(err) || dynamo.Conflicted(err) {
			return errMembersChanged
		}
		return errs.Wrap(err, "add members")
	}
	return nil
}

// growHead is the head update of adding fresh to a group of roster: the
// count, and the fan-out list while the group stays small enough for it.
func (s *DynamoStore) growHead(ownerID string, head headRecord, roster []entryRecord, fresh []string) *types.Update {
	u := &types.Update{
		TableName:           aws.String(s.Table),
		Key:                 key(convPK(head.TenantID, head.ID), headSK),
		UpdateExpression:    aws.String("SET memberCount = memberCount + :n REMOVE fanout"),
		ConditionExpression: aws.String("ownerId = :o AND memberCount <= :room"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": num(int64(len(fresh))), ":o": str(ownerID), ":room": num(int64(MaxGroupMembers - len(fresh))),
		},
	}
	all := append([]string{}, fresh...)
	for _, e := range roster {
		all = append(all, e.MemberID)
	}
	if fan := fanoutOf(all); fan != nil {
		u.UpdateExpression = aws.String("SET memberCount = memberCount + :n, fanout = :fan")
		u.ConditionExpression = aws.String("ownerId = :o AND memberCount = :count")
		delete(u.ExpressionAttributeValues, ":room")
		u.ExpressionAttributeValues[":fan"] = &types.AttributeValueMemberSS{Value: fan}
		u.ExpressionAttributeValues[":count"] = num(int64(head.MemberCount))
	}
	return u
}

// RemoveMember deletes a member's entry of a group in one transaction with
// the head's update (count, fan-out list, and newOwner when the owner
// changes), on the condition that the owner read still owns it.
func (s *DynamoStore) RemoveMember(ctx context.Context, head headRecord, memberID, newOwner string) error {
	upd := "SET memberCount = memberCount - :one"
	vals := map[string]types.AttributeValue{":one": num(1), ":o": str(head.OwnerID)}
	if newOwner != head.OwnerID {
		upd += ", ownerId = :new"
		vals[":new"] = str(newOwner)
	}
	if len(head.Fanout) > 0 {
		upd += " DELETE fanout :gone"
		vals[":gone"] = &types.AttributeValueMemberSS{Value: []string{memberID}}
	}
	pk := convPK(head.TenantID, head.ID)
	tx := []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:           aws.String(s.Table),
			Key:                 key(pk, entrySK(memberID)),
			ConditionExpression: aws.String("attribute_exists(pk)"),
		}},
		{Update: &types.Update{
			TableName:                 aws.String(s.Table),
			Key:                       key(pk, headSK),
			UpdateExpression:          aws.String(upd),
			ConditionExpression:       aws.String("ownerId = :o"),
			ExpressionAttributeValues: vals,
		}},
	}
	_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	switch {
	case err == nil:
		return nil
	case dynamo.FailedCondition(err, 0):
		return errs.NotFoundf("member_not_found", "%s is not a member of this group", memberID)
	case dynamo.ConditionFailed(err) || dynamo.Conflicted(err):
		return errMembersChanged
	}
	return errs.Wrap(err, "remove member")
}

// Settings reads the tenant's chat settings, defaults when never set.
func (s *DynamoStore) Settings(ctx context.Context, tenantID string) (Settings, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: settingsKey(tenantID)})
	if err != nil {
		return Settings{}, errs.Wrap(err, "read chat settings")
	}
	return settingsOf(out.Item)
}

func settingsOf(item map[string]types.AttributeValue) (Settings, error) {
	if item == nil {
		return Settings{RocketReminderMinutes: DefaultReminderMinutes}, nil
	}
	var r settingsRecord
	if err := unmarshal(item, &r); err != nil {
		return Settings{}, err
	}
	if r.ReminderMinutes < MinReminderMinutes || r.ReminderMinutes > MaxReminderMinutes {
		r.ReminderMinutes = DefaultReminderMinutes
	}
	return Settings{RocketReminderMinutes: r.ReminderMinutes}, nil
}

// PutSettings writes the tenant's chat settings and, in the same
// transaction, their audit entry.
func (s *DynamoStore) PutSettings(ctx context.Context, tenantID string, in Settings, now time.Time) error {
	k := settingsKey(tenantID)
	rec := settingsRecord{
		PK: k["pk"].(*types.AttributeValueMemberS).Value, SK: k["sk"].(*types.AttributeValueMemberS).Value,
		Type: "chat_settings", ReminderMinutes: in.RocketReminderMinutes, UpdatedAt: now,
	}
	p, err := put(s.Table, rec, "")
	if err != nil {
		return err
	}
	change := audit.Change{Action: audit.ChatSettingsUpdate, Target: "chat-settings", Fields: []string{"rocketReminderMinutes"}}
	if err := s.Audit.Write(ctx, s.DB, tenantID, change, types.TransactWriteItem{Put: &types.Put{TableName: p.Put.TableName, Item: p.Put.Item}}); err != nil {
		return errs.Wrap(err, "put chat settings")
	}
	return nil
}
