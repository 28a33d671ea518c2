package chat

import (
	"context"
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
// sender's entry, the other members' list places in a 1:1 or a group of
// at most FanoutMembers, and the claim and reminder when they matter). A
// retried send with the same client message id returns the first message.
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
	people map[string]person
}

// appendMessage assigns the next sequence number and writes the message
// in one transaction conditional on the head's sequence being the one
// read: concurrent sends cannot both take a number, and a number is never
// taken without its message, so sequences are unique and gap-free. The
// loser of a race reads again and retries. It returns the message and the
// peers whose frequent-contact standing it changes (the other member of a
// 1:1).
func (s *Service) appendMessage(ctx context.Context, p auth.Principal, d draft) (Message, []string, error) {
	for attempt := 0; attempt < sendAttempts; attempt++ {
		if attempt > 0 {
			// Jittered, so that the losers of one race do not meet again.
			time.Sleep(time.Duration(rand.IntN(5*attempt)+1) * time.Millisecond)
		}
		items, err := batchGet(ctx, s.DB, s.Table, sendKeys(p, d), true, "", nil)
		if err != nil {
			return Message{}, nil, err
		}
		st, err := decodeSendState(items, p, d)
		if err != nil {
			return Message{}, nil, err
		}
		switch planSend(st, d) {
		case planNotFound:
			return Message{}, nil, errConversationNotFound
		case planReplyMissing:
			return Message{}, nil, errs.Invalidf("replyTo", "reply_not_found", "replyTo is not a message of this conversation")
		case planRetried:
			m, err := s.message(ctx, p.TenantID, d.convID, st.claim.Seq)
			return m, nil, err
		case planCreate:
			h := directHead(p.TenantID, d.convID, p.MemberID, d.peer, s.now())
			st.head = &h
		}
		w, err := s.sendWrite(ctx, p, &d, st)
		if err != nil {
			return Message{}, nil, err
		}
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: w.tx})
		switch sendOutcome(err, st.entry != nil, w.claimAt) {
		case outcomeSent:
			var peers []string
			if st.head.Kind == Direct {
				peers = []string{st.head.peerOf(p.MemberID)}
			}
			return w.rec.message(), peers, nil
		case outcomeNotMember:
			return Message{}, nil, errConversationNotFound
		case outcomeRetry:
			continue
		}
		return Message{}, nil, errs.Wrap(err, "send message")
	}
	return Message{}, nil, errs.E(errs.Unavailable, "conversation_busy", "the conversation is too busy right now; try again")
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

// sendState is what a send read; nil for what is not there.
type sendState struct {
	head     *headRecord
	entry    *entryRecord
	claim    *clientRecord
	reply    *messageRecord
	settings map[string]types.AttributeValue
}

func decodeSendState(items []map[string]types.AttributeValue, p auth.Principal, d draft) (sendState, error) {
	var st sendState
	pk := convPK(p.TenantID, d.convID)
	for _, it := range items {
		var err error
		switch sk := skOf(it); {
		case pkOf(it) != pk:
			st.settings = it
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

// What a send does with what it read.
const (
	planAppend       = iota // append to the conversation
	planCreate              // a rocket's 1:1 that does not exist yet: create it with the message
	planNotFound            // no such conversation, or the sender is not in it
	planRetried             // the client id was used: answer with its message
	planReplyMissing        // the replied message is not in the conversation
)

func planSend(st sendState, d draft) int {
	switch {
	case st.head == nil && d.peer != "":
		return planCreate
	case st.head == nil || st.entry == nil:
		return planNotFound
	case st.claim != nil:
		return planRetried
	case d.replySeq > 0 && st.reply == nil:
		return planReplyMissing
	}
	return planAppend
}

// sendWrite is a send's transaction: tx, the message it writes, and the
// index of the client-id claim in tx (-1 for none).
type sendWrite struct {
	tx      []types.TransactWriteItem
	rec     messageRecord
	claimAt int
}

// sendWrite builds the transaction of the next message after st.head: the
// new 1:1 (creating, st.entry nil) or the updates of an existing
// conversation, the message, and the claim and reminder when they apply.
func (s *Service) sendWrite(ctx context.Context, p auth.Principal, d *draft, st sendState) (sendWrite, error) {
	settings, err := settingsOf(st.settings)
	if err != nil {
		return sendWrite{}, err
	}
	now := s.now()
	seq := st.head.Seq + 1
	rec, last := newMessage(p, *d, seq, st.reply, now)
	w := sendWrite{rec: rec, claimAt: -1}
	if st.entry == nil {
		st.head.Seq, st.head.LastMessage, st.head.LastAt = seq, &last, now
		if w.tx, err = s.createWithMessage(*st.head, d.urgent, now); err != nil {
			return w, err
		}
	} else {
		w.tx = s.sendUpdates(p, *st.head, *st.entry, seq, last, d.urgent)
	}
	msgPut, err := put(s.Table, rec, "attribute_not_exists(pk)")
	if err != nil {
		return w, err
	}
	w.tx = append(w.tx, msgPut)
	if d.clientID != "" {
		c, err := put(s.Table, clientRecord{PK: rec.PK, SK: clientSK(p.MemberID, d.clientID), Type: "client", Seq: seq}, "attribute_not_exists(pk)")
		if err != nil {
			return w, err
		}
		w.claimAt = len(w.tx)
		w.tx = append(w.tx, c)
	}
	if d.urgent {
		r, err := s.reminder(ctx, p, d, *st.head, seq, now.Add(time.Duration(settings.RocketReminderMinutes)*time.Minute), now)
		if err != nil {
			return w, err
		}
		w.tx = append(w.tx, r)
	}
	return w, nil
}

// newMessage is the message record of a send and what the list shows of it.
func newMessage(p auth.Principal, d draft, seq int64, reply *messageRecord, now time.Time) (messageRecord, LastMessage) {
	rec := messageRecord{
		PK: convPK(p.TenantID, d.convID), SK: messageSK(seq), Type: "message", ID: MessageID(d.convID, seq),
		ConversationID: d.convID, TenantID: p.TenantID, Seq: seq, SenderID: p.MemberID,
		Text: d.text, Urgent: d.urgent, ClientMessageID: d.clientID, CreatedAt: now,
	}
	if reply != nil {
		rec.ReplyTo = &Quote{ID: reply.ID, SenderID: reply.SenderID, Snippet: Snippet(reply.Text)}
	}
	return rec, LastMessage{ID: rec.ID, SenderID: p.MemberID, Text: snippet(d.text, LastMessageRunes), Urgent: d.urgent, CreatedAt: now}
}

// createWithMessage are the items of a new 1:1 whose head holds its first
// message: the sender (head.Members[0]) has read it, both are listed at
// it, and an urgent one's reminder is pending on the recipient's entry.
func (s *Service) createWithMessage(head headRecord, urgent bool, now time.Time) ([]types.TransactWriteItem, error) {
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
	return append(tx, s.store().closeReminders(pk, closing, last.CreatedAt)...)
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
		_, haveRecipient := d.people[rec.Recipient]
		if _, haveSender := d.people[p.MemberID]; !haveSender || !haveRecipient {
			people, err := s.store().Persons(ctx, p.TenantID, []string{p.MemberID, rec.Recipient}, true, false)
			if err != nil {
				return types.TransactWriteItem{}, err
			}
			d.people = people
		}
		for _, id := range []string{p.MemberID, rec.Recipient} {
			if it, ok := d.people[id]; ok {
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
	people, err := s.readMembers(ctx, p.TenantID, "memberIds", targets, []string{p.MemberID}, true)
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
