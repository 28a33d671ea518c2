package chat

import (
	"context"
	"strings"
	"time"

	"workbench/shared/auth"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// The list index: every entry not hidden is in its member's list
// partition, "PIN#…" while pinned and "LIST#…" otherwise, sorted by the
// conversation's last activity and then id, so that a page of the list is
// a Query of each partition with a Limit (docs/messages.md, "The
// conversation list at scale").
const (
	listIndex = "gsi3"
	listTime  = "2006-01-02T15:04:05.000Z" // fixed width: sort keys order by time
	// FanoutMembers is the largest group whose send updates every member's
	// list place in its own transaction; larger groups are updated from the
	// table's stream (Fanout), so that their send stays O(1).
	FanoutMembers = 20
)

// listProjection are the attributes the list index carries besides the
// keys (template.yaml declares the same): what a page needs of an entry,
// so that it reads no entry item.
var listProjection = []string{"conversationId", "readSeq", "joinedSeq", "hiddenSeq"}

func listPK(tenantID, memberID string) string { return "LIST#" + tenantID + "#" + memberID }
func pinPK(tenantID, memberID string) string  { return "PIN#" + tenantID + "#" + memberID }

// idDigits are the characters of conversation ids in ascending order.
const idDigits = "0123456789abcdefghijklmnopqrstuvwxyz"

// listSK is an entry's sort key in its list partition. The list reads it
// newest first; the id is written with every digit mirrored (0↔z), so that
// conversations active at the same millisecond come in ascending id order
// all the same.
func listSK(at time.Time, convID string) string {
	b := []byte(convID)
	for i, c := range b {
		if j := strings.IndexByte(idDigits, c); j >= 0 {
			b[i] = idDigits[len(idDigits)-1-j]
		}
	}
	return at.UTC().Format(listTime) + "#" + string(b)
}

// listCursor is where a page of the conversation list ended, in list
// order: pinned first, then newest activity, then id. It names a place in
// the list index, not an item: the item may have moved since.
type listCursor struct {
	Pinned bool      `json:"p"`
	At     time.Time `json:"t"`
	ID     string    `json:"i"`
}

// listCursors are the cursors of a member's conversation list, bound to
// the query q of a search ("" for the whole list): a cursor of another
// member's list, or of another search, is refused.
func listCursors(p auth.Principal, q string) dynamo.Cursors {
	return dynamo.ListCursors("chat/conversations", p.TenantID, p.MemberID, q)
}

func decodeCursor(cursors dynamo.Cursors, cursor string) (*listCursor, error) {
	var c listCursor
	ok, err := cursors.Decode(cursor, &c)
	if err != nil || ok && !validConversationID(c.ID) {
		return nil, dynamo.InvalidCursor()
	}
	if !ok {
		return nil, nil
	}
	return &c, nil
}

// listRow is an entry as the list index projects it.
type listRow struct {
	PK        string `dynamodbav:"pk"`
	GSI3PK    string `dynamodbav:"gsi3pk"`
	GSI3SK    string `dynamodbav:"gsi3sk"`
	ConvID    string `dynamodbav:"conversationId"`
	ReadSeq   int64  `dynamodbav:"readSeq"`
	JoinedSeq int64  `dynamodbav:"joinedSeq"`
	HiddenSeq *int64 `dynamodbav:"hiddenSeq"`
}

func (r listRow) place() listCursor {
	at, _ := time.Parse(listTime, strings.SplitN(r.GSI3SK, "#", 2)[0])
	return listCursor{Pinned: strings.HasPrefix(r.GSI3PK, "PIN#"), At: at, ID: r.ConvID}
}

// listRows reads up to n rows of the member's list after the cursor, in
// list order: the pinned partition while the cursor is in it, then the
// others. more is false when the list has nothing after the rows. Each
// Query reads at most n items; two Queries at most.
func (s *Service) listRows(ctx context.Context, p auth.Principal, after *listCursor, n int) (rows []listRow, more bool, err error) {
	if after == nil || after.Pinned {
		// A full page of pinned ones says more whatever follows: the
		// others come after them.
		rows, _, err = s.Store.QueryList(ctx, pinPK(p.TenantID, p.MemberID), after, n)
		if err != nil || len(rows) == n {
			return rows, true, err
		}
		after = nil // the pinned ones are done: the others from their start
	}
	rest, more, err := s.Store.QueryList(ctx, listPK(p.TenantID, p.MemberID), after, n-len(rows))
	return append(rows, rest...), more, err
}

// withHeads reads the heads of the rows' conversations (one BatchGetItem,
// eventually consistent) and returns the conversations in the rows' order.
// A row whose head is missing (a group whose creation did not finish) or
// that is hidden still is skipped.
func (s *Service) withHeads(ctx context.Context, p auth.Principal, rows []listRow) ([]Conversation, error) {
	pks := make([]string, len(rows))
	for i, r := range rows {
		pks[i] = r.PK
	}
	heads, err := s.Store.Heads(ctx, pks)
	if err != nil {
		return nil, err
	}
	out := make([]Conversation, 0, len(rows))
	for _, r := range rows {
		h, ok := heads[r.ConvID]
		if !ok || r.HiddenSeq != nil && h.Seq <= *r.HiddenSeq {
			continue
		}
		e := entryRecord{MemberID: p.MemberID, ReadSeq: r.ReadSeq, JoinedSeq: r.JoinedSeq, Pinned: r.place().Pinned}
		out = append(out, view(h, e))
	}
	return out, nil
}

// List returns a page of the member's conversations, pinned first, then by
// last activity, then id: a Query of the member's pinned partition of the
// list index (on the pages that reach into it), a Query of the others, and
// one BatchGetItem of those conversations' heads — at most 3 round trips
// and 2 × limit items whatever the number of conversations.
func (s *Service) List(ctx context.Context, p auth.Principal, cursor string, limit int) ([]Conversation, string, error) {
	cursors := listCursors(p, "")
	after, err := decodeCursor(cursors, cursor)
	if err != nil {
		return nil, "", err
	}
	rows, more, err := s.listRows(ctx, p, after, limit)
	if err != nil {
		return nil, "", err
	}
	page, err := s.withHeads(ctx, p, rows)
	next := ""
	if more && len(rows) > 0 {
		next = cursors.Encode(rows[len(rows)-1].place())
	}
	return page, next, err
}

// MaxQueryRunes bounds a search of conversations by name.
const MaxQueryRunes = 30

// searchBatch is how many conversations a search reads per step.
const searchBatch = 100

// SearchGroups lists the member's group conversations whose name holds q
// (letters compared case-insensitively), in the order of List. Names are
// on the heads, so it walks the list a hundred conversations at a time
// (3 round trips each) until the page is full: its cost follows the
// conversations walked to fill it, at most all of the member's.
func (s *Service) SearchGroups(ctx context.Context, p auth.Principal, q, cursor string, limit int) ([]Conversation, string, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" || len([]rune(q)) > MaxQueryRunes {
		return nil, "", errs.Invalidf("q", "invalid_query", "q must be 1 to %d characters", MaxQueryRunes)
	}
	cursors := listCursors(p, q)
	after, err := decodeCursor(cursors, cursor)
	if err != nil {
		return nil, "", err
	}
	page := []Conversation{}
	for {
		rows, more, err := s.listRows(ctx, p, after, searchBatch)
		if err != nil {
			return nil, "", err
		}
		convs, err := s.withHeads(ctx, p, rows)
		if err != nil {
			return nil, "", err
		}
		for _, c := range convs {
			if c.Kind != Group || !strings.Contains(strings.ToLower(c.Name), q) {
				continue
			}
			page = append(page, c)
			if len(page) == limit {
				return page, cursors.Encode(listCursor{Pinned: c.Pinned, At: placeOf(rows, c.ID).At, ID: c.ID}), nil
			}
		}
		if !more || len(rows) == 0 {
			return page, "", nil
		}
		last := rows[len(rows)-1].place()
		after = &last
	}
}

func placeOf(rows []listRow, convID string) listCursor {
	for _, r := range rows {
		if r.ConvID == convID {
			return r.place()
		}
	}
	return listCursor{}
}

// fanoutOf is the fan-out list of a group of members: all of them while
// they are at most FanoutMembers, none (the stream's fan-out) beyond.
func fanoutOf(members []string) []string {
	if len(members) > FanoutMembers {
		return nil
	}
	return members
}
