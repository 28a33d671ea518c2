package chat

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/auth"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// A send's storage: what it reads, and its one transaction (send.go).

// SendState reads what a send needs in one BatchGetItem (strongly
// consistent): the head and the sender's entry, and the client-id claim,
// the replied message and the tenant's settings when they matter.
func (s *DynamoStore) SendState(ctx context.Context, p auth.Principal, d draft) (sendState, error) {
	items, err := batchGet(ctx, s.DB, s.Table, sendKeys(p, d), true)
	if err != nil {
		return sendState{}, err
	}
	return decodeSendState(items, p, d)
}

// Append writes a send in one transaction: errRetry when another send took
// the sequence number or the client id (or the members changed), and
// errNotMember when the sender was removed meanwhile.
func (s *DynamoStore) Append(ctx context.Context, w sendWrite) error {
	tx, claimAt, err := s.appendItems(w)
	if err != nil {
		return err
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	switch sendOutcome(err, !w.creating, claimAt) {
	case outcomeSent:
		return nil
	case outcomeNotMember:
		return errNotMember
	case outcomeRetry:
		return errRetry
	}
	return errs.Wrap(err, "send message")
}

// appendItems are a send's transaction and the index of its client-id
// claim in it (-1 for none).
func (s *DynamoStore) appendItems(w sendWrite) ([]types.TransactWriteItem, int, error) {
	var tx []types.TransactWriteItem
	if w.creating {
		var err error
		if tx, err = s.createWithMessage(w.head, w.rec.Urgent, w.rec.CreatedAt); err != nil {
			return nil, -1, err
		}
	} else {
		tx = s.sendUpdates(w)
	}
	msgPut, err := put(s.Table, w.rec, "attribute_not_exists(pk)")
	if err != nil {
		return nil, -1, err
	}
	tx = append(tx, msgPut)
	claimAt := -1
	if w.clientID != "" {
		c, err := put(s.Table, clientRecord{PK: w.rec.PK, SK: clientSK(w.rec.SenderID, w.clientID), Type: "client", Seq: w.rec.Seq}, "attribute_not_exists(pk)")
		if err != nil {
			return nil, -1, err
		}
		claimAt = len(tx)
		tx = append(tx, c)
	}
	if w.reminder != nil {
		rec := *w.reminder
		rec.GSI2PK = s.dueShards().For(reminderID(rec.TenantID, rec.ConversationID, rec.Seq))
		item, err := rec.item()
		if err != nil {
			return nil, -1, err
		}
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}})
	}
	return tx, claimAt, nil
}

// sendKeys are the items a send reads: the head and the sender's entry,
// and the client-id claim, the replied message and the tenant's settings
// when they matter.
func sendKeys(p auth.Principal, d draft) []map[string]types.AttributeValue {
	pk := convPK(p.TenantID, d.convID)
	keys := []map[string]types.AttributeValue{key(pk, headSK), key(pk, entrySK(p.MemberID))}
	if d.clientID != "" {
		keys = append(keys, key(pk, clientSK(p.MemberID, d.clientID)))
	}
	if d.replySeq > 0 {
		keys = append(keys, key(pk, messageSK(d.replySeq)))
	}
	if d.urgent {
		keys = append(keys, settingsKey(p.TenantID))
	}
	return keys
}

func decodeSendState(items []map[string]types.AttributeValue, p auth.Principal, d draft) (sendState, error) {
	st := sendState{settings: Settings{RocketReminderMinutes: DefaultReminderMinutes}}
	pk := convPK(p.TenantID, d.convID)
	for _, it := range items {
		var err error
		switch sk := skOf(it); {
		case pkOf(it) != pk:
			st.settings, err = settingsOf(it)
		case sk == headSK:
			st.head = new(headRecord)
			err = unmarshal(it, st.head)
		case sk == entrySK(p.MemberID):
			st.entry = new(entryRecord)
			err = unmarshal(it, st.entry)
		case d.clientID != "" && sk == clientSK(p.MemberID, d.clientID):
			st.claim = new(clientRecord)
			err = unmarshal(it, st.claim)
		case d.replySeq > 0 && sk == messageSK(d.replySeq):
			st.reply = new(messageRecord)
			err = unmarshal(it, st.reply)
		}
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// directItems are the items of a new 1:1 conversation: its head and both
// entries, each conditional on not existing.
func (s *DynamoStore) directItems(head headRecord, now time.Time) ([]types.TransactWriteItem, error) {
	h, err := put(s.Table, head, "attribute_not_exists(pk)")
	if err != nil {
		return nil, err
	}
	tx := []types.TransactWriteItem{h}
	for _, m := range head.Members {
		e, err := put(s.Table, newEntry(head.TenantID, head.ID, m, 0, head.LastAt, now), "attribute_not_exists(pk)")
		if err != nil {
			return nil, err
		}
		tx = append(tx, e)
	}
	return tx, nil
}

// createWithMessage are the items of a new 1:1 whose head holds its first
// message: the sender (head.Members[0]) has read it, both are listed at
// it, and an urgent one's reminder is pending on the recipient's entry.
func (s *DynamoStore) createWithMessage(head headRecord, urgent bool, now time.Time) ([]types.TransactWriteItem, error) {
	tx, err := s.directItems(head, now)
	if err != nil {
		return nil, err
	}
	sender, recipient := tx[1].Put.Item, tx[2].Put.Item
	sender["readSeq"], sender["readAt"] = num(head.Seq), av(now)
	sender["lastSeq"], recipient["lastSeq"] = num(head.Seq), num(head.Seq)
	if urgent {
		recipient["reminders"] = seqSet([]int64{head.Seq})
	}
	return tx, nil
}

// What became of a send's transaction.
const (
	outcomeFailed    = iota // an error to report
	outcomeSent             // committed
	outcomeNotMember        // the sender's entry is gone: removed meanwhile
	outcomeRetry            // another send took the number or the client id: read again
)

// sendOutcome classifies a send's transaction error; appending says the
// sender's entry is the transaction's second item (not a creation).
func sendOutcome(err error, appending bool, claimAt int) int {
	switch {
	case err == nil:
		return outcomeSent
	case appending && dynamo.FailedCondition(err, 1):
		return outcomeNotMember
	case claimAt >= 0 && dynamo.FailedCondition(err, claimAt):
		return outcomeRetry // a concurrent send with this client id won: the next round returns its message
	case dynamo.ConditionFailed(err) || dynamo.Conflicted(err):
		return outcomeRetry // another send took the number
	}
	return outcomeFailed
}

// sendUpdates are the updates of a send to an existing conversation: the
// head (conditional on the sequence read), the sender's entry (read up to
// the message, listed at it, its own pending reminders closed), and, when
// the conversation is a 1:1 or a small group, the other members' list
// places (and an urgent 1:1 message's pending reminder on the recipient's
// entry). A large group's other entries are left to the stream (Fanout).
func (s *DynamoStore) sendUpdates(w sendWrite) []types.TransactWriteItem {
	head, last, seq := w.head, w.last, w.rec.Seq
	tenantID, sender := w.rec.TenantID, w.rec.SenderID
	pk := convPK(tenantID, head.ID)
	headUpd := &types.Update{
		TableName:           aws.String(s.Table),
		Key:                 key(pk, headSK),
		UpdateExpression:    aws.String("SET seq = :n, lastMessage = :lm, lastAt = :at"),
		ConditionExpression: aws.String("seq = :prev"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": num(seq), ":prev": num(head.Seq), ":lm": av(last), ":at": av(last.CreatedAt),
		},
	}
	switch {
	case head.Kind != Group:
	case len(head.Fanout) > 0:
		// The members read are the members written: a change of them meanwhile retries.
		headUpd.ConditionExpression = aws.String("seq = :prev AND memberCount = :mc")
		headUpd.ExpressionAttributeValues[":mc"] = num(int64(head.MemberCount))
	default:
		// The stream moves the others (Fanout skips a head that has a
		// fanout list): a list given to the group meanwhile retries, or
		// neither would move them.
		headUpd.ConditionExpression = aws.String("seq = :prev AND attribute_not_exists(fanout)")
	}
	mine := listedValues(tenantID, sender, head.ID, seq, last.CreatedAt)
	mine[":at"] = av(last.CreatedAt)
	upd := "SET readSeq = :n, readAt = :at, " + listed + " REMOVE hiddenSeq"
	if len(w.closing) > 0 {
		upd += " DELETE reminders :closed"
		mine[":closed"] = seqSet(w.closing)
	}
	tx := []types.TransactWriteItem{
		{Update: headUpd},
		{Update: &types.Update{
			TableName:        aws.String(s.Table),
			Key:              key(pk, entrySK(sender)),
			UpdateExpression: aws.String(upd),
			// Still a member: a sender removed meanwhile must not post.
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: mine,
		}},
	}
	for _, m := range w.others {
		vals := listedValues(tenantID, m, head.ID, seq, last.CreatedAt)
		upd := "SET " + listed
		if w.rec.Urgent && head.Kind == Direct {
			upd += " ADD reminders :r"
			vals[":r"] = seqSet([]int64{seq})
		}
		tx = append(tx, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.Table), Key: key(pk, entrySK(m)),
			UpdateExpression: aws.String(upd), ConditionExpression: aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: vals,
		}})
	}
	return append(tx, s.closeReminders(pk, w.closing, last.CreatedAt)...)
}

// Message reads one message (strongly consistent).
func (s *DynamoStore) Message(ctx context.Context, tenantID, convID string, seq int64) (Message, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: key(convPK(tenantID, convID), messageSK(seq)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Message{}, errs.Wrap(err, "read message")
	}
	if out.Item == nil {
		return Message{}, errs.NotFoundf("message_not_found", "no such message")
	}
	var r messageRecord
	if err := unmarshal(out.Item, &r); err != nil {
		return Message{}, err
	}
	return r.message(), nil
}
