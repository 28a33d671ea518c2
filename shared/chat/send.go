package chat

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/auth"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// SendInput is the body of POST /v1/conversations/{id}/messages.
type SendInput struct {
	Text            string `json:"text"`
	ReplyTo         string `json:"replyTo"`
	Urgent          bool   `json:"urgent"`
	ClientMessageID string `json:"clientMessageId"`
}

// sendAttempts bounds the retries of a send that lost the race for the
// next sequence number to a concurrent send.
const sendAttempts = 20

// Send appends a message to a conversation the member is in. It costs two
// round trips whatever the conversation's size: one BatchGetItem (head,
// the sender's entry, and the client-id claim, the replied message and the
// tenant's settings when they matter) and one transaction (head, message,
// sender's entry, and the claim and reminder when they matter). A retried
// send with the same client message id returns the first message.
func (s *Service) Send(ctx context.Context, p auth.Principal, convID string, in SendInput) (Message, error) {
	text, err := NormalizeText("text", in.Text)
	if err != nil {
		return Message{}, err
	}
	clientID, err := NormalizeClientID("clientMessageId", in.ClientMessageID)
	if err != nil {
		return Message{}, err
	}
	var replySeq int64
	if in.ReplyTo != "" {
		conv, seq, ok := ParseMessageID(in.ReplyTo)
		if !ok || conv != convID {
			return Message{}, errs.Invalidf("replyTo", "reply_to_other_conversation", "replyTo must be a message of this conversation")
		}
		replySeq = seq
	}
	if !validConversationID(convID) {
		return Message{}, errConversationNotFound
	}
	m, peers, err := s.appendMessage(ctx, p, draft{convID: convID, text: text, replySeq: replySeq, urgent: in.Urgent, clientID: clientID})
	if err != nil {
		return Message{}, err
	}
	s.touch(ctx, p, peers, m.CreatedAt)
	return m, nil
}

// draft is a message about to be appended.
type draft struct {
	convID   string
	text     string
	replySeq int64
	urgent   bool
	clientID string
	peer     string // for rocket messages: create the 1:1 with peer when it does not exist
	// people are directory items (personProjection) by member id, read
	// already: an urgent 1:1 message's reminder carries the sender's and
	// the recipient's, so that its sweep reads nothing else.
	people map[string]map[string]types.AttributeValue
}

// appendMessage assigns the next sequence number and writes the message
// in one transaction conditional on the head's sequence being the one
// read: concurrent sends cannot both take a number, and a number is never
// taken without its message, so sequences are unique and gap-free. The
// loser of a race reads again and retries. It returns the message and the
// peers whose frequent-contact standing it changes (the other member of a
// 1:1).
func (s *Service) appendMessage(ctx context.Context, p auth.Principal, d draft) (Message, []string, error) {
	pk := convPK(p.TenantID, d.convID)
	for attempt := 0; attempt < sendAttempts; attempt++ {
		if attempt > 0 {
			// Jittered, so that the losers of one race do not meet again.
			time.Sleep(time.Duration(rand.IntN(5*attempt)+1) * time.Millisecond)
		}
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
		items, err := batchGet(ctx, s.DB, s.Table, keys, true, "", nil)
		if err != nil {
			return Message{}, nil, err
		}
		var head *headRecord
		var entry *entryRecord
		var claim *clientRecord
		var reply *messageRecord
		var settingsItem map[string]types.AttributeValue
		for _, it := range items {
			sk := skOf(it)
			switch {
			case sk == headSK:
				head = new(headRecord)
				err = unmarshal(it, head)
			case sk == entrySK(p.MemberID):
				entry = new(entryRecord)
				err = unmarshal(it, entry)
			case d.clientID != "" && sk == clientSK(p.MemberID, d.clientID):
				claim = new(clientRecord)
				err = unmarshal(it, claim)
			case d.replySeq > 0 && sk == messageSK(d.replySeq):
				reply = new(messageRecord)
				err = unmarshal(it, reply)
			case pkOf(it) != pk:
				settingsItem = it
			}
			if err != nil {
				return Message{}, nil, err
			}
		}
		creating := false
		switch {
		case head == nil && d.peer != "":
			creating = true
			h := directHead(p.TenantID, d.convID, p.MemberID, d.peer, s.now())
			head = &h
		case head == nil || entry == nil:
			return Message{}, nil, errConversationNotFound
		}
		if claim != nil {
			m, err := s.message(ctx, p.TenantID, d.convID, claim.Seq)
			return m, nil, err
		}
		if d.replySeq > 0 && reply == nil {
			return Message{}, nil, errs.Invalidf("replyTo", "reply_not_found", "replyTo is not a message of this conversation")
		}
		settings, err := settingsOf(settingsItem)
		if err != nil {
			return Message{}, nil, err
		}
		now := s.now()
		seq := head.Seq + 1
		rec := messageRecord{
			PK: pk, SK: messageSK(seq), Type: "message", ID: MessageID(d.convID, seq),
			ConversationID: d.convID, TenantID: p.TenantID, Seq: seq, SenderID: p.MemberID,
			Text: d.text, Urgent: d.urgent, ClientMessageID: d.clientID, CreatedAt: now,
		}
		if reply != nil {
			rec.ReplyTo = &Quote{ID: reply.ID, SenderID: reply.SenderID, Snippet: Snippet(reply.Text)}
		}
		last := LastMessage{ID: rec.ID, SenderID: p.MemberID, Text: snippet(d.text, LastMessageRunes), Urgent: d.urgent, CreatedAt: now}

		var tx []types.TransactWriteItem
		if creating {
			head.Seq, head.LastMessage, head.LastAt = seq, &last, now
			if tx, err = s.directItems(*head, now); err != nil {
				return Message{}, nil, err
			}
			// The sender has read what it sent; both are listed at it.
			tx[1].Put.Item["readSeq"] = num(seq)
			tx[1].Put.Item["readAt"] = av(now)
			tx[1].Put.Item["lastSeq"], tx[2].Put.Item["lastSeq"] = num(seq), num(seq)
			if d.urgent {
				tx[2].Put.Item["reminders"] = &types.AttributeValueMemberNS{Value: []string{fmt.Sprint(seq)}}
			}
		} else {
			tx = s.sendUpdates(p, *head, *entry, seq, last, d.urgent)
		}
		msgPut, err := put(s.Table, rec, "attribute_not_exists(pk)")
		if err != nil {
			return Message{}, nil, err
		}
		tx = append(tx, msgPut)
		claimAt := -1
		if d.clientID != "" {
			c, err := put(s.Table, clientRecord{PK: pk, SK: clientSK(p.MemberID, d.clientID), Type: "client", Seq: seq}, "attribute_not_exists(pk)")
			if err != nil {
				return Message{}, nil, err
			}
			claimAt = len(tx)
			tx = append(tx, c)
		}
		if d.urgent {
			r, err := s.reminder(ctx, p, &d, *head, seq, now.Add(time.Duration(settings.RocketReminderMinutes)*time.Minute), now)
			if err != nil {
				return Message{}, nil, err
			}
			tx = append(tx, r)
		}
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		switch {
		case err == nil:
			var peers []string
			if head.Kind == Direct {
				peers = []string{head.peerOf(p.MemberID)}
			}
			return rec.message(), peers, nil
		case !creating && dynamo.FailedCondition(err, 1):
			return Message{}, nil, errConversationNotFound
		case claimAt >= 0 && dynamo.FailedCondition(err, claimAt):
			continue // a concurrent send with this client id won: the next round returns its message
		case dynamo.ConditionFailed(err) || dynamo.Conflicted(err):
			continue // another send took the number
		}
		return Message{}, nil, errs.Wrap(err, "send message")
	}
	return Message{}, nil, errs.E(errs.Unavailable, "conversation_busy", "the conversation is too busy right now; try again")
}

// sendUpdates are the updates of a send to an existing conversation: the
// head (conditional on the sequence read), the sender's entry (read up to
// the message, listed at it, its own pending reminders closed), and, when
// the conversation is a 1:1 or a small group, the other members' list
// places (and an urgent 1:1 message's pending reminder on the recipient's
// entry). A large group's other entries are left to the stream (Fanout).
func (s *Service) sendUpdates(p auth.Principal, head headRecord, entry entryRecord, seq int64, last LastMessage, urgent bool) []types.TransactWriteItem {
	pk := convPK(p.TenantID, head.ID)
	headUpd := &types.Update{
		TableName:           aws.String(s.Table),
		Key:                 key(pk, headSK),
		UpdateExpression:    aws.String("SET seq = :n, lastMessage = :lm, lastAt = :at"),
		ConditionExpression: aws.String("seq = :prev"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": num(seq), ":prev": num(head.Seq), ":lm": av(last), ":at": av(last.CreatedAt),
		},
	}
	others := head.fanoutTargets(p.MemberID)
	if head.Kind == Group && len(others) > 0 {
		// The members read are the members written: a change of them meanwhile retries.
		headUpd.ConditionExpression = aws.String("seq = :prev AND memberCount = :mc")
		headUpd.ExpressionAttributeValues[":mc"] = num(int64(head.MemberCount))
	}
	closing := dueReminders(entry.Reminders, seq)
	mine := listedValues(p.TenantID, p.MemberID, head.ID, seq, last.CreatedAt)
	mine[":at"] = av(last.CreatedAt)
	upd := "SET readSeq = :n, readAt = :at, " + listed + " REMOVE hiddenSeq"
	if len(closing) > 0 {
		upd += " DELETE reminders :closed"
		mine[":closed"] = seqSet(closing)
	}
	tx := []types.TransactWriteItem{
		{Update: headUpd},
		{Update: &types.Update{
			TableName:        aws.String(s.Table),
			Key:              key(pk, entrySK(p.MemberID)),
			UpdateExpression: aws.String(upd),
			// Still a member: a sender removed meanwhile must not post.
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: mine,
		}},
	}
	for _, m := range others {
		vals := listedValues(p.TenantID, m, head.ID, seq, last.CreatedAt)
		upd := "SET " + listed
		if urgent && head.Kind == Direct {
			upd += " ADD reminders :r"
			vals[":r"] = seqSet([]int64{seq})
		}
		tx = append(tx, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(s.Table), Key: key(pk, entrySK(m)),
			UpdateExpression: aws.String(upd), ConditionExpression: aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: vals,
		}})
	}
	return append(tx, s.closeReminders(pk, closing, last.CreatedAt)...)
}

// reminder is the put of an urgent message's reminder. In a 1:1 it names
// its one recipient and carries the directory items its SMS needs (read
// here unless the caller read them), so the sweep reads only the due row.
func (s *Service) reminder(ctx context.Context, p auth.Principal, d *draft, head headRecord, seq int64, due, now time.Time) (types.TransactWriteItem, error) {
	rec := reminderRecord{
		PK: convPK(p.TenantID, d.convID), SK: reminderSK(seq),
		GSI2PK: s.dueShards().For(reminderID(p.TenantID, d.convID, seq)), GSI2SK: dueKey(due, p.TenantID, d.convID, seq),
		Type: "reminder", TenantID: p.TenantID, ConversationID: d.convID, Seq: seq,
		SenderID: p.MemberID, Snippet: Snippet(d.text), DueAt: due, CreatedAt: now,
	}
	if head.Kind == Direct {
		rec.Recipient = head.peerOf(p.MemberID)
		if d.people[rec.Recipient] == nil || d.people[p.MemberID] == nil {
			keys := []map[string]types.AttributeValue{s.Directory.Key(p.TenantID, p.MemberID), s.Directory.Key(p.TenantID, rec.Recipient)}
			items, err := batchGet(ctx, s.DB, s.Directory.Table, keys, false, personProjection, personNames)
			if err != nil {
				return types.TransactWriteItem{}, err
			}
			d.people = map[string]map[string]types.AttributeValue{}
			for _, it := range items {
				if id, ok := it["id"].(*types.AttributeValueMemberS); ok {
					d.people[id.Value] = it
				}
			}
		}
		for _, id := range []string{p.MemberID, rec.Recipient} {
			if it := d.people[id]; it != nil {
				rec.People = append(rec.People, it)
			}
		}
	}
	item, err := rec.item()
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(s.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}, nil
}

func reminderID(tenantID, convID string, seq int64) string {
	return tenantID + "#" + convID + "#" + messageSK(seq)
}

func dueKey(due time.Time, tenantID, convID string, seq int64) string {
	return due.UTC().Format(dueTime) + "#" + tenantID + "#" + convID + "#" + messageSK(seq)
}

func (s *Service) message(ctx context.Context, tenantID, convID string, seq int64) (Message, error) {
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

// touch records the peers as the sender's frequent contacts. Its failure
// costs the sender nothing: the message is stored already.
func (s *Service) touch(ctx context.Context, p auth.Principal, peers []string, at time.Time) {
	if s.Contacts == nil || len(peers) == 0 {
		return
	}
	if err := s.Contacts.Touch(ctx, p.TenantID, p.MemberID, peers, at); err != nil {
		slog.WarnContext(ctx, "frequent contacts not updated", "tenant", p.TenantID, "member", p.MemberID, "error", err.Error())
	}
}

// RocketInput is the body of POST /v1/rocket-messages.
type RocketInput struct {
	MemberIDs       []string `json:"memberIds"`
	Text            string   `json:"text"`
	ClientMessageID string   `json:"clientMessageId"`
}

// Rocket is the result of a rocket send: one urgent message per recipient,
// each in the 1:1 conversation with them, and when the reminders fall due.
type Rocket struct {
	Messages []Message `json:"messages"`
	RemindAt time.Time `json:"remindAt"`
}

// SendRocket delivers an urgent message to each recipient in the 1:1
// conversation with them (creating it when there is none) and schedules
// its reminder. Every recipient is checked before anything is written. A
// retry with the same client message id completes what a failed attempt
// left undone and sends nothing twice.
func (s *Service) SendRocket(ctx context.Context, p auth.Principal, in RocketInput) (Rocket, error) {
	text, err := NormalizeText("text", in.Text)
	if err != nil {
		return Rocket{}, err
	}
	clientID, err := NormalizeClientID("clientMessageId", in.ClientMessageID)
	if err != nil {
		return Rocket{}, err
	}
	targets, err := NormalizeMemberIDs("memberIds", in.MemberIDs, p.MemberID, false, MaxRocketTargets)
	if err != nil {
		return Rocket{}, err
	}
	if len(targets) == 0 {
		return Rocket{}, errs.Invalidf("memberIds", "no_members", "memberIds must name at least one recipient")
	}
	people, err := s.readMembers(ctx, p.TenantID, "memberIds", targets, []string{p.MemberID}, personProjection)
	if err != nil {
		return Rocket{}, err
	}
	out := Rocket{Messages: make([]Message, 0, len(targets))}
	for _, t := range targets {
		m, _, err := s.appendMessage(ctx, p, draft{
			convID: DirectID(p.TenantID, p.MemberID, t), text: text, urgent: true, clientID: clientID, peer: t, people: people,
		})
		if err != nil {
			return Rocket{}, err
		}
		out.Messages = append(out.Messages, m)
	}
	settings, err := s.Settings(ctx, p.TenantID)
	if err != nil {
		return Rocket{}, err
	}
	out.RemindAt = out.Messages[0].CreatedAt.Add(time.Duration(settings.RocketReminderMinutes) * time.Minute)
	s.touch(ctx, p, targets, out.Messages[0].CreatedAt)
	return out, nil
}
