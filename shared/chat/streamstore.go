package chat

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// The chat table's stream, as the live push and the fan-out read it, and
// the roster the live push reads.

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
	images, err := decodeImages(base, sk, oldImage, newImage)
	if err != nil {
		return nil, err
	}
	return change(base, sk, images), nil
}

// decodeImages decodes what change reads of a record's images: a new
// message (only a message's first write), an entry before and after, a
// head after and, when there is one after, before.
func decodeImages(c Change, sk string, oldImage, newImage map[string]types.AttributeValue) (changeImages, error) {
	im := changeImages{hadOld: oldImage != nil}
	var err error
	switch {
	case strings.HasPrefix(sk, messagePrefix):
		if oldImage == nil && newImage != nil {
			if im.newMessage, err = decodeImage[messageRecord](newImage); err != nil {
				return im, err
			}
			r := im.newMessage
			if r.TenantID != c.TenantID || r.ConversationID != c.ConversationID || r.Seq < 1 {
				return im, errs.Wrap(errs.E(errs.Internal, "internal", "message item does not match its key"), "decode change")
			}
		}
	case strings.HasPrefix(sk, entryPrefix):
		if im.oldEntry, err = decodeImage[entryRecord](oldImage); err == nil {
			im.newEntry, err = decodeImage[entryRecord](newImage)
		}
	case sk == headSK:
		if newImage != nil {
			if im.newHead, err = decodeImage[headRecord](newImage); err == nil {
				im.oldHead, err = decodeImage[headRecord](oldImage)
			}
		}
	}
	return im, err
}

// decodeImage decodes an image; no image (nil) is nil.
func decodeImage[T any](image map[string]types.AttributeValue) (*T, error) {
	if image == nil {
		return nil, nil
	}
	v := new(T)
	if err := unmarshal(image, v); err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeMoved reads a stream record of the chat table: ok when it is a
// head whose sequence moved and whose send did not update its members'
// entries itself (a group without a fan-out list: large, or made before
// the list index).
func DecodeMoved(keys, oldImage, newImage map[string]types.AttributeValue) (Moved, bool, error) {
	rest, isConv := strings.CutPrefix(pkOf(keys), "CONV#")
	if !isConv || skOf(keys) != headSK || newImage == nil {
		return Moved{}, false, nil
	}
	after, err := decodeImage[headRecord](newImage)
	if err != nil {
		return Moved{}, false, err
	}
	before, err := decodeImage[headRecord](oldImage)
	if err != nil {
		return Moved{}, false, err
	}
	if before == nil {
		before = &headRecord{}
	}
	tenantID, convID, _ := strings.Cut(rest, "#")
	return movedOf(tenantID, convID, *before, *after)
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
	entries, err := (&DynamoStore{DB: r.DB, Table: r.Table}).entries(ctx, tenantID, convID, "")
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.MemberID
	}
	return ids, err
}
