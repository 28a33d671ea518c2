// Package chat is the messaging of a tenant: 1:1 and group conversations,
// messages with replies, read state, pin and delete, rocket (urgent)
// messages with SMS reminders, and the member's inbox of system notices.
//
// A message is written once per conversation whatever its size: each
// conversation has a head item holding the last sequence number and the
// last message, and each member a small entry (pinned, hidden, read
// cursor, place in the member's conversation list) that changes when that
// member acts or a new message moves the conversation in the member's
// list — in the send's transaction for 1:1s and small groups, from the
// table's stream (Fanout) for large ones. Unread counts are the head's
// sequence minus the member's read cursor. docs/messages.md has the items,
// keys, indexes and capacity units.
package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"workbench/shared/errs"
	texts "workbench/shared/text"
)

// Limits of the chat rules (SPEC.md §3 and the messages issue).
const (
	MaxTextRunes      = 4000
	MaxGroupNameRunes = 30
	MaxGroupMembers   = 500 // the owner included
	MaxAddMembers     = 99  // per request, so that adding is one transaction
	MaxRocketTargets  = 100
	SnippetRunes      = 60 // the quote of a reply and the text of a reminder SMS
	MaxClientIDBytes  = 64

	DefaultReminderMinutes = 5
	MinReminderMinutes     = 1
	MaxReminderMinutes     = 60
)

// Conversation kinds.
const (
	Direct = "direct"
	Group  = "group"
)

// Conversation is one conversation as one member sees it.
type Conversation struct {
	ID             string       `json:"id"`
	Kind           string       `json:"kind"`
	Name           string       `json:"name"`
	OwnerID        string       `json:"ownerId,omitempty"`
	PeerID         string       `json:"peerId,omitempty"` // the other member of a 1:1
	MemberCount    int          `json:"memberCount"`
	Pinned         bool         `json:"pinned"`
	Unread         int64        `json:"unread"`
	LastSeq        int64        `json:"lastSeq"`
	ReadSeq        int64        `json:"readSeq"`
	LastMessage    *LastMessage `json:"lastMessage"`
	LastActivityAt time.Time    `json:"lastActivityAt"`
	CreatedAt      time.Time    `json:"createdAt"`
	Members        []string     `json:"members,omitempty"` // only on GET /v1/conversations/{id}
}

// LastMessage is what a conversation list shows of the newest message.
type LastMessage struct {
	ID        string    `json:"id" dynamodbav:"id"`
	SenderID  string    `json:"senderId" dynamodbav:"senderId"`
	Text      string    `json:"text" dynamodbav:"text"` // a snippet when the text is long
	Urgent    bool      `json:"urgent,omitempty" dynamodbav:"urgent,omitempty"`
	CreatedAt time.Time `json:"createdAt" dynamodbav:"createdAt"`
}

// Message is one message of a conversation.
type Message struct {
	ID              string    `json:"id"`
	ConversationID  string    `json:"conversationId"`
	Seq             int64     `json:"seq"`
	SenderID        string    `json:"senderId"`
	Text            string    `json:"text"`
	ReplyTo         *Quote    `json:"replyTo,omitempty"`
	Urgent          bool      `json:"urgent"`
	ClientMessageID string    `json:"clientMessageId,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
}

// Quote is the part of a replied-to message that a reply carries.
type Quote struct {
	ID       string `json:"id" dynamodbav:"id"`
	SenderID string `json:"senderId" dynamodbav:"senderId"`
	Snippet  string `json:"snippet" dynamodbav:"snippet"`
}

// MessageID is a message's id: its conversation and sequence number. An id
// that names its own key makes every lookup of a message (a reply's quote,
// a read cursor, who read it) a read by primary key, with no index.
func MessageID(conversationID string, seq int64) string {
	return conversationID + "-" + strconv.FormatInt(seq, 10)
}

// ParseMessageID splits a message id; ok is false for ids this package
// never made.
func ParseMessageID(id string) (conversationID string, seq int64, ok bool) {
	conv, s, found := strings.Cut(id, "-")
	if !found || !validConversationID(conv) {
		return "", 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != s {
		return "", 0, false
	}
	return conv, n, true
}

// validConversationID accepts the two forms of conversation id: a group's
// ULID and a 1:1's "d" followed by 25 hex digits.
func validConversationID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}

// DirectID is the id of the 1:1 conversation of two members of a tenant. It
// is derived from the pair, so that creating the conversation twice, even
// concurrently, meets the same item and the second creation finds the
// first.
func DirectID(tenantID, a, b string) string {
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(tenantID + "|" + a + "|" + b))
	return "d" + hex.EncodeToString(sum[:])[:25]
}

// NormalizeText trims a message text and checks it: 1–4,000 characters, no
// control characters other than newline (a tab becomes a space, a CR LF a
// newline).
func NormalizeText(field, text string) (string, error) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\t", " ")
	text = strings.TrimSpace(text)
	if err := texts.Lines(field, text); err != nil {
		return "", err
	}
	n := utf8.RuneCountInString(text)
	if n == 0 {
		return "", errs.Invalidf(field, "empty_text", "%s is required and must not be blank", field)
	}
	if n > MaxTextRunes {
		return "", errs.Invalidf(field, "text_too_long", "%s must be at most %d characters, not %d", field, MaxTextRunes, n)
	}
	for _, r := range text {
		if r != '\n' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return "", errs.Invalidf(field, "invalid_text", "%s must not hold control characters (found U+%04X)", field, r)
		}
	}
	return text, nil
}

// NormalizeGroupName trims a group name and checks it: 1–30 characters, no
// control characters.
func NormalizeGroupName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "", errs.Invalidf(field, "invalid_group_name", "%s must not be blank", field)
	}
	if n > MaxGroupNameRunes {
		return "", errs.Invalidf(field, "invalid_group_name", "%s must be at most %d characters, not %d", field, MaxGroupNameRunes, n)
	}
	if err := texts.Line(field, name); err != nil {
		return "", err
	}
	return name, nil
}

// NormalizeClientID checks an optional client message id.
func NormalizeClientID(field, id string) (string, error) {
	id = strings.TrimSpace(id)
	if len(id) > MaxClientIDBytes {
		return "", errs.Invalidf(field, "invalid_client_message_id", "%s must be at most %d bytes", field, MaxClientIDBytes)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r > unicode.MaxASCII {
			return "", errs.Invalidf(field, "invalid_client_message_id", "%s may hold only printable ASCII without spaces", field)
		}
	}
	return id, nil
}

// NormalizeMemberIDs checks a list of member ids: none blank, no
// duplicates, at most max. The caller's own id is dropped when allowSelf,
// refused otherwise.
func NormalizeMemberIDs(field string, ids []string, self string, allowSelf bool, max int) ([]string, error) {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > 64 {
			return nil, errs.Invalidf(field, "invalid_member_id", "%s must hold member ids", field)
		}
		if seen[id] {
			return nil, errs.Invalidf(field, "duplicate_member", "%s names member %s more than once", field, id)
		}
		seen[id] = true
		if id == self {
			if allowSelf {
				continue
			}
			return nil, errs.Invalidf(field, "self_not_allowed", "%s must not name yourself", field)
		}
		out = append(out, id)
	}
	if len(out) > max {
		return nil, errs.Invalidf(field, "too_many_members", "%s may name at most %d members, not %d", field, max, len(out))
	}
	return out, nil
}

// Snippet shortens text to at most SnippetRunes characters, ending with an
// ellipsis when it was cut, so that a long text is never shown whole where
// a snippet is meant.
func Snippet(text string) string {
	return snippet(text, SnippetRunes)
}

func snippet(text string, max int) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= max {
		return text
	}
	runes := []rune(text)
	return strings.TrimSpace(string(runes[:max-1])) + "…"
}

// ContactRecorder records whom a member messages: the directory's frequent
// contacts. Sending calls it after the message is stored; its failure is
// logged, never the sender's problem.
type ContactRecorder interface {
	Touch(ctx context.Context, tenantID, memberID string, contactIDs []string, at time.Time) error
}
