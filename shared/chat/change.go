package chat

import (
	"strings"
	"time"
)

// Kinds of Change: what a write to the chat table means to a live client.
const (
	ChangeMessage   = "message"   // a message was sent
	ChangeRead      = "read"      // a member's read cursor moved
	ChangeCreated   = "created"   // a conversation was created
	ChangeRenamed   = "renamed"   // a group was renamed
	ChangeOwner     = "owner"     // a group changed hands
	ChangeJoined    = "joined"    // a member was added
	ChangeLeft      = "left"      // a member left or was removed
	ChangePinned    = "pinned"    // a member pinned the conversation
	ChangeUnpinned  = "unpinned"  // a member unpinned it
	ChangeHidden    = "hidden"    // a member deleted it from their list
	ChangeUnchanged = "unchanged" // nothing a client sees
)

// Change is one write to the chat table, as the table's stream reports it
// (the item's old and new images), in the terms clients use.
type Change struct {
	Kind           string
	TenantID       string
	ConversationID string
	MemberID       string // whose entry changed (read, joined, left, pinned, hidden)
	Message        *Message
	ReadSeq        int64
	Name           string // renamed
	OwnerID        string // owner
	At             time.Time
}

// change is what a stream record of the chat table means, given the
// record's sort key and its images decoded as the item the key names.
func change(c Change, sk string, images changeImages) []Change {
	switch {
	case strings.HasPrefix(sk, messagePrefix):
		return messageChange(c, images.newMessage, images.hadOld)
	case strings.HasPrefix(sk, entryPrefix):
		return entryChange(c, images.oldEntry, images.newEntry)
	case sk == headSK:
		return headChange(c, images.oldHead, images.newHead)
	}
	return []Change{{Kind: ChangeUnchanged}}
}

// changeImages are the images of a stream record (nil where there is
// none), decoded as the item its key names.
type changeImages struct {
	hadOld             bool
	newMessage         *messageRecord
	oldEntry, newEntry *entryRecord
	oldHead, newHead   *headRecord
}

func messageChange(c Change, r *messageRecord, hadOld bool) []Change {
	if hadOld || r == nil {
		return []Change{{Kind: ChangeUnchanged}} // messages are written once
	}
	m := r.message()
	c.Kind, c.Message, c.At = ChangeMessage, &m, m.CreatedAt
	return []Change{c}
}

func entryChange(c Change, old, cur *entryRecord) []Change {
	switch {
	case old == nil && cur != nil:
		c.Kind, c.MemberID, c.At = ChangeJoined, cur.MemberID, cur.JoinedAt
		return []Change{c}
	case old != nil && cur == nil:
		c.Kind, c.MemberID = ChangeLeft, old.MemberID
		return []Change{c}
	case old == nil:
		return []Change{{Kind: ChangeUnchanged}}
	}
	before, after := *old, *cur
	c.MemberID = after.MemberID
	var out []Change
	add := func(kind string, at time.Time) {
		ch := c
		ch.Kind, ch.At = kind, at
		out = append(out, ch)
	}
	if after.HiddenSeq != nil && (before.HiddenSeq == nil || *before.HiddenSeq != *after.HiddenSeq) {
		add(ChangeHidden, time.Time{})
	} else if after.Pinned != before.Pinned {
		kind, at := ChangeUnpinned, time.Time{}
		if after.Pinned {
			kind, at = ChangePinned, timeOf(after.PinnedAt)
		}
		add(kind, at)
	}
	if after.ReadSeq > before.ReadSeq {
		add(ChangeRead, timeOf(after.ReadAt))
		out[len(out)-1].ReadSeq = after.ReadSeq
	}
	if len(out) == 0 {
		return []Change{{Kind: ChangeUnchanged}}
	}
	return out
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func headChange(c Change, before, after *headRecord) []Change {
	if after == nil {
		return []Change{{Kind: ChangeUnchanged}}
	}
	if before == nil {
		c.Kind, c.Name, c.OwnerID, c.At = ChangeCreated, after.Name, after.OwnerID, after.CreatedAt
		return []Change{c}
	}
	var out []Change
	if after.Name != before.Name {
		ch := c
		ch.Kind, ch.Name = ChangeRenamed, after.Name
		out = append(out, ch)
	}
	if after.OwnerID != before.OwnerID && after.OwnerID != "" {
		ch := c
		ch.Kind, ch.OwnerID = ChangeOwner, after.OwnerID
		out = append(out, ch)
	}
	if len(out) == 0 {
		return []Change{{Kind: ChangeUnchanged}}
	}
	return out
}
