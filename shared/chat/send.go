package chat

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"workbench/shared/auth"
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
	// people are directory items (directory.ContactRead) by member id, read
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
		st, err := s.Store.SendState(ctx, p, d)
		if err != nil {
			return Message{}, nil, err
		}
		switch planSend(st, d) {
		case planNotFound:
			return Message{}, nil, errConversationNotFound
		case planReplyMissing:
			return Message{}, nil, errs.Invalidf("replyTo", "reply_not_found", "replyTo is not a message of this conversation")
		case planRetried:
			m, err := s.Store.Message(ctx, p.TenantID, d.convID, st.claim.Seq)
			return m, nil, err
		case planCreate:
			h := directHead(p.TenantID, d.convID, p.MemberID, d.peer, s.now())
			st.head = &h
		}
		w, err := s.sendWrite(ctx, p, &d, st)
		if err != nil {
			return Message{}, nil, err
		}
		switch err := s.Store.Append(ctx, w); {
		case err == nil:
			var peers []string
			if st.head.Kind == Direct {
				peers = []string{st.head.peerOf(p.MemberID)}
			}
			return w.rec.message(), peers, nil
		case errors.Is(err, errNotMember):
			return Message{}, nil, errConversationNotFound
		case !errors.Is(err, errRetry):
			return Message{}, nil, err
		}
	}
	return Message{}, nil, errs.E(errs.Unavailable, "conversation_busy", "the conversation is too busy right now; try again")
}

// sendState is what a send read; nil for what is not there, and the
// tenant's settings (defaults when never set, or not read).
type sendState struct {
	head     *headRecord
	entry    *entryRecord
	claim    *clientRecord
	reply    *messageRecord
	settings Settings
}

// What a send's write can meet besides an error.
var (
	errNotMember = errors.New("sender is not a member")         // removed meanwhile
	errRetry     = errors.New("another send took the sequence") // or the client id: read again
)

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

// sendWrite is what a send writes in one transaction (DynamoStore.Append):
// the new 1:1 with its first message (creating), or the updates of the
// conversation read (head, conditional on its sequence; the sender's entry,
// its reminders closing; the list places of others); the message, and the
// client-id claim and the reminder when they apply.
type sendWrite struct {
	head     headRecord
	creating bool
	closing  []int64
	others   []string
	rec      messageRecord
	last     LastMessage
	clientID string
	reminder *reminderRecord
}

// sendWrite is the write of the next message after st.head.
func (s *Service) sendWrite(ctx context.Context, p auth.Principal, d *draft, st sendState) (sendWrite, error) {
	now := s.now()
	seq := st.head.Seq + 1
	rec, last := newMessage(p, *d, seq, st.reply, now)
	w := sendWrite{head: *st.head, creating: st.entry == nil, rec: rec, last: last, clientID: d.clientID}
	if w.creating {
		w.head.Seq, w.head.LastMessage, w.head.LastAt = seq, &last, now
	} else {
		w.closing = dueReminders(st.entry.Reminders, seq)
		w.others = st.head.fanoutTargets(p.MemberID)
	}
	if d.urgent {
		due := now.Add(time.Duration(st.settings.RocketReminderMinutes) * time.Minute)
		r, err := s.reminder(ctx, p, d, *st.head, seq, due, now)
		if err != nil {
			return w, err
		}
		w.reminder = &r
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

// reminder is the reminder of an urgent message's reminder. In a 1:1 it names
// its one recipient and carries the directory items its SMS needs (read
// here unless the caller read them), so the sweep reads only the due row.
func (s *Service) reminder(ctx context.Context, p auth.Principal, d *draft, head headRecord, seq int64, due, now time.Time) (reminderRecord, error) {
	rec := reminderRecord{
		PK: convPK(p.TenantID, d.convID), SK: reminderSK(seq),
		GSI2SK: dueKey(due, p.TenantID, d.convID, seq), // its shard is the store's
		Type:   "reminder", TenantID: p.TenantID, ConversationID: d.convID, Seq: seq,
		SenderID: p.MemberID, Snippet: Snippet(d.text), DueAt: due, CreatedAt: now,
	}
	if head.Kind == Direct {
		rec.Recipient = head.peerOf(p.MemberID)
		_, haveRecipient := d.people[rec.Recipient]
		if _, haveSender := d.people[p.MemberID]; !haveSender || !haveRecipient {
			people, err := s.Store.Persons(ctx, p.TenantID, []string{p.MemberID, rec.Recipient}, true, false)
			if err != nil {
				return rec, err
			}
			d.people = people
		}
		for _, id := range []string{p.MemberID, rec.Recipient} {
			if it, ok := d.people[id]; ok {
				rec.People = append(rec.People, it)
			}
		}
	}
	return rec, nil
}

func reminderID(tenantID, convID string, seq int64) string {
	return tenantID + "#" + convID + "#" + messageSK(seq)
}

func dueKey(due time.Time, tenantID, convID string, seq int64) string {
	return due.UTC().Format(dueTime) + "#" + tenantID + "#" + convID + "#" + messageSK(seq)
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
