package chat

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
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

// DecodeChange reads a stream record of the chat table: its keys and the
// item's images before and after (nil when there is none). A record of an
// item clients never see is ChangeUnchanged; an item that does not decode
// is an error.
func DecodeChange(keys, oldImage, newImage map[string]types.AttributeValue) ([]Change, error) {
	pk, sk := pkOf(keys), skOf(keys)
	rest, ok := strings.CutPrefix(pk, "CONV#")
	tenantID, convID, ok2 := strings.Cut(rest, "#")
	if !ok || !ok2 {
		return []Change{{Kind: ChangeUnchanged}}, nil
	}
	base := Change{TenantID: tenantID, ConversationID: convID}
	switch {
	case strings.HasPrefix(sk, messagePrefix):
		return decodeMessage(base, oldImage, newImage)
	case strings.HasPrefix(sk, entryPrefix):
		return decodeEntry(base, oldImage, newImage)
	case sk == headSK:
		return decodeHead(base, oldImage, newImage)
	}
	return []Change{{Kind: ChangeUnchanged}}, nil
}

func decodeMessage(c Change, oldImage, newImage map[string]types.AttributeValue) ([]Change, error) {
	if oldImage != nil || newImage == nil {
		return []Change{{Kind: ChangeUnchanged}}, nil // messages are written once
	}
	var r messageRecord
	if err := unmarshal(newImage, &r); err != nil {
		return nil, err
	}
	if r.TenantID != c.TenantID || r.ConversationID != c.ConversationID || r.Seq < 1 {
		return nil, errs.Wrap(errs.E(errs.Internal, "internal", "message item does not match its key"), "decode change")
	}
	m := r.message()
	c.Kind, c.Message, c.At = ChangeMessage, &m, m.CreatedAt
	return []Change{c}, nil
}

func decodeEntry(c Change, oldImage, newImage map[string]types.AttributeValue) ([]Change, error) {
	var before, after entryRecord
	if oldImage != nil {
		if err := unmarshal(oldImage, &before); err != nil {
			return nil, err
		}
	}
	if newImage != nil {
		if err := unmarshal(newImage, &after); err != nil {
			return nil, err
		}
	}
	switch {
	case oldImage == nil && newImage != nil:
		c.Kind, c.MemberID, c.At = ChangeJoined, after.MemberID, after.JoinedAt
		return []Change{c}, nil
	case oldImage != nil && newImage == nil:
		c.Kind, c.MemberID = ChangeLeft, before.MemberID
		return []Change{c}, nil
	case oldImage == nil:
		return []Change{{Kind: ChangeUnchanged}}, nil
	}
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
			kind, at = ChangePinned, aws.ToTime(after.PinnedAt)
		}
		add(kind, at)
	}
	if after.ReadSeq > before.ReadSeq {
		add(ChangeRead, aws.ToTime(after.ReadAt))
		out[len(out)-1].ReadSeq = after.ReadSeq
	}
	if len(out) == 0 {
		return []Change{{Kind: ChangeUnchanged}}, nil
	}
	return out, nil
}

func decodeHead(c Change, oldImage, newImage map[string]types.AttributeValue) ([]Change, error) {
	if newImage == nil {
		return []Change{{Kind: ChangeUnchanged}}, nil
	}
	var before, after headRecord
	if err := unmarshal(newImage, &after); err != nil {
		return nil, err
	}
	if oldImage == nil {
		c.Kind, c.Name, c.OwnerID, c.At = ChangeCreated, after.Name, after.OwnerID, after.CreatedAt
		return []Change{c}, nil
	}
	if err := unmarshal(oldImage, &before); err != nil {
		return nil, err
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
		return []Change{{Kind: ChangeUnchanged}}, nil
	}
	return out, nil
}

// Roster lists the members of conversations, for the live push.
type Roster struct {
	DB    DB
	Table string
}

// MemberIDs returns the ids of a conversation's members: one strongly
// consistent Query of the conversation's entries (a page holds a
// 500-member group), so a member added just before is included.
func (r *Roster) MemberIDs(ctx context.Context, tenantID, convID string) ([]string, error) {
	entries, err := (&Service{DB: r.DB, Table: r.Table}).roster(ctx, tenantID, convID)
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.MemberID
	}
	return ids, err
}
