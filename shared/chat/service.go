package chat

import (
	"context"
	"errors"
	"sort"
	"time"

	"workbench/shared/auth"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Store is the storage of the Service (DynamoStore): conversations and
// their members, messages, and the members' lists.
type Store interface {
	ConversationStore
	MessageStore
	ListStore
}

// ConversationStore keeps conversations, their members and the tenant's
// chat settings, and reads members of the directory.
type ConversationStore interface {
	Persons(ctx context.Context, tenantID string, memberIDs []string, sealed, consistent bool) (map[string]person, error)
	CreateDirect(ctx context.Context, head headRecord, now time.Time) (created bool, err error)
	CreateGroup(ctx context.Context, head headRecord, entries []entryRecord) error
	Load(ctx context.Context, tenantID, convID, memberID string) (*headRecord, *entryRecord, error)
	Roster(ctx context.Context, tenantID, convID string) ([]entryRecord, error)
	Rename(ctx context.Context, tenantID, convID, ownerID, name string) error
	AddMembers(ctx context.Context, ownerID string, head headRecord, roster, fresh []entryRecord) error
	RemoveMember(ctx context.Context, head headRecord, memberID, newOwner string) error
	Settings(ctx context.Context, tenantID string) (Settings, error)
	PutSettings(ctx context.Context, tenantID string, in Settings, now time.Time) error
}

// MessageStore keeps messages and read cursors.
type MessageStore interface {
	SendState(ctx context.Context, p auth.Principal, d draft) (sendState, error)
	Append(ctx context.Context, w sendWrite) error
	Message(ctx context.Context, tenantID, convID string, seq int64) (Message, error)
	Sender(ctx context.Context, tenantID, convID string, seq int64) (senderID string, found bool, err error)
	History(ctx context.Context, tenantID, convID string, upper int64, limit int) ([]Message, bool, error)
	After(ctx context.Context, tenantID, convID string, from, to int64, limit int) ([]Message, error)
	MoveRead(ctx context.Context, entry entryRecord, seq int64, closing []int64, now time.Time) error
}

// ListStore keeps the members' conversation lists.
type ListStore interface {
	QueryList(ctx context.Context, pk string, after *listCursor, n int) ([]listRow, bool, error)
	Heads(ctx context.Context, pks []string) (map[string]headRecord, error)
	Show(ctx context.Context, tenantID, convID, memberID string, now time.Time) error
	SetPinned(ctx context.Context, tenantID, convID, memberID string, pinned bool, now time.Time) error
	Hide(ctx context.Context, tenantID, convID, memberID string, seq int64) error
}

// errNotMoved is a read cursor or a hide that did not apply: the member
// left, or a newer read or message came meanwhile.
var errNotMoved = errors.New("entry not moved")

// Service is the chat of every tenant. All its methods act for a principal
// and touch only that principal's tenant.
type Service struct {
	Store    Store
	Contacts ContactRecorder // may be nil: frequent contacts are then not recorded
	Now      func() time.Time
}

// LastMessageRunes bounds the text of a conversation's last message as the
// list shows it.
const LastMessageRunes = 100

var errConversationNotFound = errs.NotFoundf("conversation_not_found", "no such conversation")

// checkMembers confirms that every id is an enabled member of the tenant
// (one BatchGetItem per 100 ids). A member of another tenant is simply not
// found under this tenant's partition.
func (s *Service) checkMembers(ctx context.Context, tenantID, field string, memberIDs []string) error {
	_, err := s.readMembers(ctx, tenantID, field, memberIDs, nil, false)
	return err
}

// readMembers is checkMembers returning the members read, by id, with
// their sealed name and mobile when sealed; also names ids read without
// being checked (the sender's own).
func (s *Service) readMembers(ctx context.Context, tenantID, field string, memberIDs, also []string, sealed bool) (map[string]person, error) {
	if len(memberIDs) == 0 {
		return nil, nil
	}
	byID, err := s.Store.Persons(ctx, tenantID, append(append([]string{}, memberIDs...), also...), sealed, true)
	if err != nil {
		return nil, err
	}
	for _, id := range memberIDs {
		if !byID[id].Enabled {
			return nil, errs.Invalidf(field, "unknown_member", "%s is not an enabled member of your organisation", id)
		}
	}
	return byID, nil
}

// CreateInput is the body of POST /v1/conversations.
type CreateInput struct {
	MemberIDs []string `json:"memberIds"`
	Name      *string  `json:"name"`
	Kind      string   `json:"kind"` // optional: "group" makes a group of two; a 1:1 ignores Name
}

// Create starts a conversation: the 1:1 one when one other member is named
// (returning the existing one, created false, when there is one), a group
// otherwise.
func (s *Service) Create(ctx context.Context, p auth.Principal, in CreateInput) (Conversation, bool, error) {
	kind := in.Kind
	switch kind {
	case "", Direct, Group:
	default:
		return Conversation{}, false, errs.Invalidf("kind", "invalid_kind", "kind must be direct or group")
	}
	others, err := NormalizeMemberIDs("memberIds", in.MemberIDs, p.MemberID, true, MaxGroupMembers-1)
	if err != nil {
		return Conversation{}, false, err
	}
	if len(others) == 0 {
		return Conversation{}, false, errs.Invalidf("memberIds", "no_members", "memberIds must name at least one other member")
	}
	if kind == "" {
		kind = Group
		if len(others) == 1 {
			kind = Direct // as API.md says: one other member is the 1:1, whatever the name
		}
	}
	if kind == Direct && len(others) != 1 {
		return Conversation{}, false, errs.Invalidf("memberIds", "invalid_members", "a 1:1 conversation has exactly one other member")
	}
	name := ""
	if kind == Group {
		name = "群聊"
		if in.Name != nil {
			if name, err = NormalizeGroupName("name", *in.Name); err != nil {
				return Conversation{}, false, err
			}
		}
	}
	if err := s.checkMembers(ctx, p.TenantID, "memberIds", others); err != nil {
		return Conversation{}, false, err
	}
	now := s.now()
	if kind == Direct {
		return s.createDirect(ctx, p, others[0], now)
	}
	return s.createGroup(ctx, p, name, others, now)
}

func directHead(tenantID, convID, a, b string, now time.Time) headRecord {
	return headRecord{
		PK: convPK(tenantID, convID), SK: headSK, Type: "conversation", ID: convID, TenantID: tenantID,
		Kind: Direct, Members: []string{a, b}, MemberCount: 2, LastAt: now, CreatedAt: now,
	}
}

func (s *Service) createDirect(ctx context.Context, p auth.Principal, peer string, now time.Time) (Conversation, bool, error) {
	convID := DirectID(p.TenantID, p.MemberID, peer)
	created, err := s.Store.CreateDirect(ctx, directHead(p.TenantID, convID, p.MemberID, peer, now), now)
	if err != nil {
		return Conversation{}, false, err
	}
	if !created {
		// It exists: asking for it again brings it back to my list.
		if err := s.Store.Show(ctx, p.TenantID, convID, p.MemberID, now); err != nil {
			return Conversation{}, false, err
		}
	}
	c, err := s.Get(ctx, p, convID)
	return c, created, err
}

// createGroup writes a new group: its members' entries, then its head
// (DynamoStore.CreateGroup), so that a failure half-way shows nothing.
func (s *Service) createGroup(ctx context.Context, p auth.Principal, name string, others []string, now time.Time) (Conversation, bool, error) {
	convID := ids.New(now)
	members := append([]string{p.MemberID}, others...)
	entries := make([]entryRecord, len(members))
	for i, m := range members {
		entries[i] = newEntry(p.TenantID, convID, m, 0, now, now)
	}
	head := headRecord{
		PK: convPK(p.TenantID, convID), SK: headSK, Type: "conversation", ID: convID, TenantID: p.TenantID,
		Kind: Group, Name: name, OwnerID: p.MemberID, MemberCount: len(members), Fanout: fanoutOf(members), LastAt: now, CreatedAt: now,
	}
	if err := s.Store.CreateGroup(ctx, head, entries); err != nil {
		return Conversation{}, false, err
	}
	c, err := s.Get(ctx, p, convID)
	return c, true, err
}

// load reads a conversation's head and the member's entry in one round
// trip; a conversation the member is not in is not found.
func (s *Service) load(ctx context.Context, p auth.Principal, convID string) (headRecord, entryRecord, error) {
	if !validConversationID(convID) {
		return headRecord{}, entryRecord{}, errConversationNotFound
	}
	head, entry, err := s.Store.Load(ctx, p.TenantID, convID, p.MemberID)
	if err != nil {
		return headRecord{}, entryRecord{}, err
	}
	if head == nil || entry == nil {
		return headRecord{}, entryRecord{}, errConversationNotFound
	}
	return *head, *entry, nil
}

func view(h headRecord, e entryRecord) Conversation {
	read := max(e.ReadSeq, e.JoinedSeq)
	c := Conversation{
		ID: h.ID, Kind: h.Kind, Name: h.Name, OwnerID: h.OwnerID, MemberCount: h.MemberCount,
		Pinned: e.Pinned, Unread: max(h.Seq-read, 0), LastSeq: h.Seq, ReadSeq: read,
		LastMessage: h.LastMessage, LastActivityAt: h.LastAt, CreatedAt: h.CreatedAt,
	}
	if h.Kind == Direct {
		c.PeerID = h.peerOf(e.MemberID)
	}
	return c
}

// Get returns one conversation with its member ids.
func (s *Service) Get(ctx context.Context, p auth.Principal, convID string) (Conversation, error) {
	head, entry, err := s.load(ctx, p, convID)
	if err != nil {
		return Conversation{}, err
	}
	c := view(head, entry)
	roster, err := s.roster(ctx, p.TenantID, convID)
	if err != nil {
		return Conversation{}, err
	}
	for _, e := range roster {
		c.Members = append(c.Members, e.MemberID)
	}
	return c, nil
}

// roster reads the entries of every member of a conversation.
func (s *Service) roster(ctx context.Context, tenantID, convID string) ([]entryRecord, error) {
	return s.Store.Roster(ctx, tenantID, convID)
}

// History returns messages of a conversation newest first, before the
// message id given (or from the newest).
func (s *Service) History(ctx context.Context, p auth.Principal, convID, beforeID string, limit int) ([]Message, string, error) {
	upper := int64(-1)
	if beforeID != "" {
		conv, seq, ok := ParseMessageID(beforeID)
		if !ok || conv != convID {
			return nil, "", errs.Invalidf("before", "invalid_cursor", "before must be the id of a message of this conversation")
		}
		upper = seq - 1
	}
	if _, _, err := s.load(ctx, p, convID); err != nil {
		return nil, "", err
	}
	if upper == 0 {
		return []Message{}, "", nil
	}
	msgs, more, err := s.Store.History(ctx, p.TenantID, convID, max(upper, 0), limit)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more && len(msgs) > 0 && msgs[len(msgs)-1].Seq > 1 {
		next = msgs[len(msgs)-1].ID
	}
	return msgs, next, nil
}

// After returns up to limit messages of a conversation with a seq above
// afterSeq, oldest first: what a client missed while it was offline.
func (s *Service) After(ctx context.Context, p auth.Principal, convID string, afterSeq int64, limit int) ([]Message, error) {
	head, _, err := s.load(ctx, p, convID)
	if err != nil {
		return nil, err
	}
	msgs := []Message{}
	if afterSeq >= head.Seq {
		return msgs, nil
	}
	return s.Store.After(ctx, p.TenantID, convID, afterSeq+1, head.Seq, limit)
}

// MarkRead moves the member's read cursor forward to the message (to the
// newest message when messageID is empty); it never moves it back.
func (s *Service) MarkRead(ctx context.Context, p auth.Principal, convID, messageID string) (Conversation, error) {
	head, entry, err := s.load(ctx, p, convID)
	if err != nil {
		return Conversation{}, err
	}
	seq := head.Seq
	if messageID != "" {
		conv, n, ok := ParseMessageID(messageID)
		if !ok || conv != convID || n > head.Seq {
			return Conversation{}, errs.Invalidf("messageId", "message_not_in_conversation", "messageId is not a message of this conversation")
		}
		seq = n
	}
	if seq <= max(entry.ReadSeq, entry.JoinedSeq) {
		return view(head, entry), nil
	}
	now := s.now()
	err = s.Store.MoveRead(ctx, entry, seq, dueReminders(entry.Reminders, seq), now)
	switch {
	case errors.Is(err, errNotMoved):
		// Left, or a newer read won the race: either way nothing to move.
	case err != nil:
		return Conversation{}, err
	default:
		entry.ReadSeq, entry.ReadAt = seq, &now
	}
	return view(head, entry), nil
}

// Reader is one member's read state of a message.
type Reader struct {
	MemberID string     `json:"memberId"`
	ReadAt   *time.Time `json:"readAt,omitempty"` // when the member last moved the read cursor
}

// Reads is who has read a message and who has not (its sender excluded,
// and members who joined after it).
type Reads struct {
	MessageID   string   `json:"messageId"`
	ReadCount   int      `json:"readCount"`
	UnreadCount int      `json:"unreadCount"`
	Read        []Reader `json:"read"`
	Unread      []Reader `json:"unread"`
}

// Reads lists who has read a message.
func (s *Service) Reads(ctx context.Context, p auth.Principal, messageID string) (Reads, error) {
	notFound := errs.NotFoundf("message_not_found", "no such message")
	convID, seq, ok := ParseMessageID(messageID)
	if !ok {
		return Reads{}, notFound
	}
	senderID, found, err := s.Store.Sender(ctx, p.TenantID, convID, seq)
	if err != nil {
		return Reads{}, err
	}
	if !found {
		return Reads{}, notFound
	}
	roster, err := s.roster(ctx, p.TenantID, convID)
	if err != nil {
		return Reads{}, err
	}
	res := Reads{MessageID: messageID, Read: []Reader{}, Unread: []Reader{}}
	member := false
	for _, e := range roster {
		if e.MemberID == p.MemberID {
			member = true
		}
		if e.MemberID == senderID || e.JoinedSeq >= seq {
			continue
		}
		if e.ReadSeq >= seq {
			res.Read = append(res.Read, Reader{MemberID: e.MemberID, ReadAt: e.ReadAt})
		} else {
			res.Unread = append(res.Unread, Reader{MemberID: e.MemberID})
		}
	}
	if !member {
		return Reads{}, notFound
	}
	res.ReadCount, res.UnreadCount = len(res.Read), len(res.Unread)
	return res, nil
}

// SetPinned pins or unpins a conversation for the member: its entry moves
// between the member's two list partitions, keeping its place. A hidden
// entry (out of the list) only records where it goes back to.
func (s *Service) SetPinned(ctx context.Context, p auth.Principal, convID string, pinned bool) error {
	if !validConversationID(convID) {
		return errConversationNotFound
	}
	return s.Store.SetPinned(ctx, p.TenantID, convID, p.MemberID, pinned, s.now())
}

// Hide removes a conversation from the member's list and marks it read; a
// new message brings it back with only the new messages unread.
func (s *Service) Hide(ctx context.Context, p auth.Principal, convID string) error {
	for attempt := 0; attempt < 3; attempt++ {
		head, _, err := s.load(ctx, p, convID)
		if err != nil {
			return err
		}
		if err := s.Store.Hide(ctx, p.TenantID, convID, p.MemberID, head.Seq); !errors.Is(err, errNotMoved) {
			return err
		}
	}
	return errs.E(errs.Unavailable, "try_again", "the conversation is busy; try again")
}

// Rename changes a group's name (its owner only).
func (s *Service) Rename(ctx context.Context, p auth.Principal, convID string, name string) (Conversation, error) {
	name, err := NormalizeGroupName("name", name)
	if err != nil {
		return Conversation{}, err
	}
	head, _, err := s.load(ctx, p, convID)
	if err != nil {
		return Conversation{}, err
	}
	if err := ownerOnly(head, p); err != nil {
		return Conversation{}, err
	}
	if err := s.Store.Rename(ctx, p.TenantID, convID, p.MemberID, name); err != nil {
		return Conversation{}, err
	}
	return s.Get(ctx, p, convID)
}

func ownerOnly(head headRecord, p auth.Principal) error {
	if head.Kind != Group {
		return errs.Invalidf("", "not_a_group", "a 1:1 conversation has no owner, members to manage or name")
	}
	if head.OwnerID != p.MemberID {
		return errOwnerOnly
	}
	return nil
}

// AddMembers adds members to a group (its owner only). Members already in
// it are left as they are; the group never grows past 500.
func (s *Service) AddMembers(ctx context.Context, p auth.Principal, convID string, memberIDs []string) (Conversation, error) {
	ids, err := NormalizeMemberIDs("memberIds", memberIDs, p.MemberID, true, MaxAddMembers)
	if err != nil {
		return Conversation{}, err
	}
	if len(ids) == 0 {
		return Conversation{}, errs.Invalidf("memberIds", "no_members", "memberIds must name at least one other member")
	}
	head, _, err := s.load(ctx, p, convID)
	if err != nil {
		return Conversation{}, err
	}
	if err := ownerOnly(head, p); err != nil {
		return Conversation{}, err
	}
	if err := s.checkMembers(ctx, p.TenantID, "memberIds", ids); err != nil {
		return Conversation{}, err
	}
	roster, err := s.roster(ctx, p.TenantID, convID)
	if err != nil {
		return Conversation{}, err
	}
	in := map[string]bool{}
	for _, e := range roster {
		in[e.MemberID] = true
	}
	var fresh []string
	for _, id := range ids {
		if !in[id] {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) == 0 {
		return s.Get(ctx, p, convID)
	}
	if len(roster)+len(fresh) > MaxGroupMembers {
		return Conversation{}, errs.Invalidf("memberIds", "too_many_members", "a group has at most %d members; it has %d", MaxGroupMembers, len(roster))
	}
	now := s.now()
	head.MemberCount = len(roster) // as read, consistently: the update below holds it to that
	entries := make([]entryRecord, len(fresh))
	for i, id := range fresh {
		// New members see the history but none of it as unread.
		entries[i] = newEntry(p.TenantID, convID, id, head.Seq, head.LastAt, now)
	}
	if err := s.Store.AddMembers(ctx, p.MemberID, head, roster, entries); err != nil {
		return Conversation{}, err
	}
	return s.Get(ctx, p, convID)
}

// RemoveMember takes a member out of a group: the owner removes anyone,
// a member removes only themselves (leaving). An owner who leaves hands
// the group to the longest-standing other member.
func (s *Service) RemoveMember(ctx context.Context, p auth.Principal, convID, memberID string) error {
	head, _, err := s.load(ctx, p, convID)
	if err != nil {
		return err
	}
	if head.Kind != Group {
		return errs.Invalidf("", "not_a_group", "nobody leaves a 1:1 conversation; delete it from your list instead")
	}
	if memberID != p.MemberID && head.OwnerID != p.MemberID {
		return errs.E(errs.Forbidden, "owner_only", "only the group's owner may remove other members")
	}
	newOwner := head.OwnerID
	if memberID == head.OwnerID {
		roster, err := s.roster(ctx, p.TenantID, convID)
		if err != nil {
			return err
		}
		sort.Slice(roster, func(i, j int) bool { return roster[i].JoinedAt.Before(roster[j].JoinedAt) })
		newOwner = ""
		for _, e := range roster {
			if e.MemberID != memberID {
				newOwner = e.MemberID
				break
			}
		}
	}
	return s.Store.RemoveMember(ctx, head, memberID, newOwner)
}

// Settings are a tenant's chat settings.
type Settings struct {
	RocketReminderMinutes int `json:"rocketReminderMinutes"`
}

// Settings returns the tenant's chat settings, defaults when never set.
func (s *Service) Settings(ctx context.Context, tenantID string) (Settings, error) {
	return s.Store.Settings(ctx, tenantID)
}

// PutSettings changes the tenant's chat settings.
func (s *Service) PutSettings(ctx context.Context, tenantID string, in Settings) (Settings, error) {
	if in.RocketReminderMinutes < MinReminderMinutes || in.RocketReminderMinutes > MaxReminderMinutes {
		return Settings{}, errs.Invalidf("rocketReminderMinutes", "invalid_reminder_window",
			"rocketReminderMinutes must be a whole number of minutes from %d to %d", MinReminderMinutes, MaxReminderMinutes)
	}
	if err := s.Store.PutSettings(ctx, tenantID, in, s.now()); err != nil {
		return Settings{}, err
	}
	return in, nil
}

// now is the service's clock in UTC to the millisecond, the precision
// every time the API shows has.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }
