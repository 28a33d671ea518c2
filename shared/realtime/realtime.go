// Package realtime is live delivery: the open WebSocket connections of
// members, and the events pushed to them when a message is sent, a
// conversation is read or changed, or a notice arrives.
//
// Sending stays one write whatever the group size: the chat and notices
// tables' streams feed Pusher, which looks up the recipients' open
// connections and posts each event to each of them. docs/realtime.md has
// the event catalogue, ordering and catch-up rules and the costs.
package realtime

import (
	"strconv"
	"time"

	"workbench/shared/chat"
	"workbench/shared/notice"
)

// Event types.
const (
	MessageCreated      = "message.created"
	ConversationRead    = "conversation.read"
	ConversationUpdated = "conversation.updated"
	NoticeCreated       = "notice.created"
)

// Event is one frame pushed to a client. ID is the same on every delivery
// of the same change, so a retried batch can be recognised; clients of
// conversation events de-duplicate by (conversationId, seq) for messages.
type Event struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	At             time.Time `json:"at"`
	ConversationID string    `json:"conversationId,omitempty"`
	// Seq is the message's seq (message.created) or the read cursor
	// (conversation.read).
	Seq     int64          `json:"seq,omitempty"`
	Message *chat.Message  `json:"message,omitempty"`
	Notice  *notice.Notice `json:"notice,omitempty"`
	// MemberID is who read (conversation.read), or whose own view changed
	// (conversation.updated: pinned, unpinned, hidden).
	MemberID string `json:"memberId,omitempty"`
	// Change says what conversation.updated is about: created, renamed,
	// owner, members, pinned, unpinned or hidden.
	Change  string   `json:"change,omitempty"`
	Name    string   `json:"name,omitempty"`
	OwnerID string   `json:"ownerId,omitempty"`
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Key is what a client de-duplicates an event by: (conversationId, seq) for
// a message, the event id otherwise.
func (e Event) Key() string {
	if e.Type == MessageCreated {
		return e.ConversationID + "#" + strconv.FormatInt(e.Seq, 10)
	}
	return e.ID
}

// Dedup remembers the events a client has seen, by Key, so that a batch
// delivered twice (delivery is at least once) shows once.
type Dedup struct{ seen map[string]bool }

// First reports whether e is seen for the first time.
func (d *Dedup) First(e Event) bool {
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	k := e.Key()
	if d.seen[k] {
		return false
	}
	d.seen[k] = true
	return true
}
