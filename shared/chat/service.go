package chat

import (
	"context"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Service is the chat of every tenant. All its methods act for a principal
// and touch only that principal's tenant.
type Service struct {
	DB        DB
	Table     string           // the chat table
	Directory *directory.Codec // keys of member items (no personal data is opened here)
	Contacts  ContactRecorder  // may be nil: frequent contacts are then not recorded
	Now       func() time.Time
	Shards    int        // partitions of the due index (INDEX_SHARDS); zero means dynamo.DefaultShards
	Audit     *audit.Log // admins' settings changes are audited (nil: not)
}

func (s *Service) dueShards() dynamo.Shards { return dynamo.Shards{Key: duePK, N: s.Shards} }

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
	byID, err := s.store().Persons(ctx, tenantID, append(append([]string{}, memberIDs...), also...), sealed, true)
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
	tx, err := s.store().directItems(directHead(p.TenantID, convID, p.MemberID, peer, now), now)
	if err != nil {
		return Conversation{}, false, err
	}
	for attempt := 0; ; attempt++ {
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		// A concurrent creation of the same pair still in flight: once it
		// commits, this one's condition fails and finds it.
		if !dynamo.Conflicted(err) || attempt == 3 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	created := err == nil
	if err != nil && !dynamo.ConditionFailed(err) {
		return Conversation{}, false, errs.Wrap(err, "create conversation")
	}
	if !created {
		// It exists: asking for it again brings it back to my list, where
		// it was (or now, for an entry listed nowhere yet).
		_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           aws.String(s.Table),
			Key:                 key(convPK(p.TenantID, convID), entrySK(p.MemberID)),
			UpdateExpression:    aws.String("SET listPk = if_not_exists(listPk, :list), gsi3pk = if_not_exists(listPk, :list), gsi3sk = if_not_exists(gsi3sk, :place) REMOVE hiddenSeq"),
			ConditionExpression: aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":list": str(listPK(p.TenantID, p.MemberID)), ":place": str(listSK(now, convID)),
			},
		})
		if err != nil && !dynamo.ConditionFailed(err) {
			return Conversation{}, false, errs.Wrap(err, "show conversation")
		}
	}
	c, err := s.Get(ctx, p, convID)
	return c, created, err
}

// createGroup writes the entries first and the head last, in transactions
// of at most 100 items: entries without a head belong to no conversation
// that any read can see, so a failure half-way shows nothing half-made.
func (s *Service) createGroup(ctx context.Context, p auth.Principal, name string, others []string, now time.Time) (Conversation, bool, error) {
	convID := ids.New(now)
	members := append([]string{p.MemberID}, others...)
	var items []types.TransactWriteItem
	for _, m := range members {
		e, err := put(s.Table, newEntry(p.TenantID, convID, m, 0, now, now), "attribute_not_exists(pk)")
		if err != nil {
			return Conversation{}, false, err
		}
		items = append(items, e)
	}
	head, err := put(s.Table, headRecord{
		PK: convPK(p.TenantID, convID), SK: headSK, Type: "conversation", ID: convID, TenantID: p.TenantID,
		Kind: Group, Name: name, OwnerID: p.MemberID, MemberCount: len(members), Fanout: fanoutOf(members), LastAt: now, CreatedAt: now,
	}, "attribute_not_exists(pk)")
	if err != nil {
		return Conversation{}, false, err
	}
	items = append(items, head)
	for start := 0; start < len(items); start += dynamo.MaxTransactItems {
		end := min(start+dynamo.MaxTransactItems, len(items))
		if _, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items[start:end]}); err != nil {
			return Conversation{}, false, errs.Wrap(err, "create group")
		}
	}
	c, err := s.Get(ctx, p, convID)
	return c, true, err
}

// load reads a conversation's head and the member's entry in one round
// trip; a conversation the member is not in is not found.
func (s *Service) load(ctx context.Context, p auth.Principal, convID string) (headRecord, entryRecord, error) {
	var head headRecord
	var entry entryRecord
	if !validConversationID(convID) {
		return head, entry, errConversationNotFound
	}
	pk := convPK(p.TenantID, convID)
	items, err := batchGet(ctx, s.DB, s.Table, []map[string]types.AttributeValue{key(pk, headSK), key(pk, entrySK(p.MemberID))}, true, "", nil)
	if err != nil {
		return head, entry, err
	}
	var gotHead, gotEntry bool
	for _, it := range items {
		switch skOf(it) {
		case headSK:
			gotHead = true
			err = unmarshal(it, &head)
		default:
			gotEntry = true
			err = unmarshal(it, &entry)
		}
		if err != nil {
			return head, entry, err
		}
	}
	if !gotHead || !gotEntry {
		return head, entry, errConversationNotFound
	}
	return head, entry, nil
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
	return s.store().entries(ctx, tenantID, convID, "")
}

// store is the service's storage while the move to DynamoStore is under way.
func (s *Service) store() *DynamoStore {
	return &DynamoStore{DB: s.DB, Table: s.Table, Directory: s.Directory, Shards: s.Shards, Audit: s.Audit}
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
	cond := "pk = :pk AND begins_with(sk, :p)"
	vals := map[string]types.AttributeValue{":pk": str(convPK(p.TenantID, convID)), ":p": str(messagePrefix)}
	if upper > 0 {
		cond = "pk = :pk AND sk BETWEEN :lo AND :hi"
		vals = map[string]types.AttributeValue{":pk": vals[":pk"], ":lo": str(messageSK(1)), ":hi": str(messageSK(upper))}
	}
	res, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeValues: vals,
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, "", errs.Wrap(err, "read history")
	}
	msgs := make([]Message, 0, len(res.Items))
	for _, it := range res.Items {
		var r messageRecord
		if err := unmarshal(it, &r); err != nil {
			return nil, "", err
		}
		msgs = append(msgs, r.message())
	}
	next := ""
	if len(res.LastEvaluatedKey) > 0 && len(msgs) > 0 && msgs[len(msgs)-1].Seq > 1 {
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
	res, err := s.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(convPK(p.TenantID, convID)), ":lo": str(messageSK(afterSeq + 1)), ":hi": str(messageSK(head.Seq)),
		},
		Limit: aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, errs.Wrap(err, "read history")
	}
	for _, it := range res.Items {
		var r messageRecord
		if err := unmarshal(it, &r); err != nil {
			return nil, err
		}
		msgs = append(msgs, r.message())
	}
	return msgs, nil
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
	err = s.moveRead(ctx, p, entry, seq, now)
	switch {
	case dynamo.ConditionFailed(err):
		// Left, or a newer read won the race: either way nothing to move.
	case err != nil:
		return Conversation{}, errs.Wrap(err, "mark read")
	default:
		entry.ReadSeq, entry.ReadAt = seq, &now
	}
	return view(head, entry), nil
}

// moveRead moves the member's read cursor to seq (never back) and, in the
// same transaction, closes the pending reminders of the messages it
// passes, which the entry lists: the sweep never reads them.
func (s *Service) moveRead(ctx context.Context, p auth.Principal, entry entryRecord, seq int64, now time.Time) error {
	pk := convPK(p.TenantID, entry.ConversationID)
	upd := &types.Update{
		TableName:           aws.String(s.Table),
		Key:                 key(pk, entrySK(p.MemberID)),
		UpdateExpression:    aws.String("SET readSeq = :s, readAt = :at"),
		ConditionExpression: aws.String("attribute_exists(pk) AND readSeq < :s"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": num(seq), ":at": av(now),
		},
	}
	readOnly := func() error {
		_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: upd.TableName, Key: upd.Key, UpdateExpression: upd.UpdateExpression,
			ConditionExpression: upd.ConditionExpression, ExpressionAttributeValues: upd.ExpressionAttributeValues,
		})
		return err
	}
	closing := dueReminders(entry.Reminders, seq)
	if len(closing) == 0 {
		return readOnly()
	}
	withClose := *upd
	withClose.UpdateExpression = aws.String("SET readSeq = :s, readAt = :at DELETE reminders :closed")
	withClose.ExpressionAttributeValues = maps.Clone(upd.ExpressionAttributeValues)
	withClose.ExpressionAttributeValues[":closed"] = seqSet(closing)
	tx := append([]types.TransactWriteItem{{Update: &withClose}}, s.store().closeReminders(pk, closing, now)...)
	_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	if dynamo.Conflicted(err) {
		// A sweep is on one of the reminders right now: the read alone,
		// and the sweep's check of the read cursor cancels the SMS.
		return readOnly()
	}
	return err
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
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: key(convPK(p.TenantID, convID), messageSK(seq)),
		ProjectionExpression: aws.String("senderId"),
	})
	if err != nil {
		return Reads{}, errs.Wrap(err, "read message")
	}
	if out.Item == nil {
		return Reads{}, notFound
	}
	var msg struct {
		SenderID string `dynamodbav:"senderId"`
	}
	if err := unmarshal(out.Item, &msg); err != nil {
		return Reads{}, err
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
		if e.MemberID == msg.SenderID || e.JoinedSeq >= seq {
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
	upd := "SET pinned = :pinned, listPk = :pk"
	vals := map[string]types.AttributeValue{
		":pinned": &types.AttributeValueMemberBOOL{Value: pinned}, ":pk": str(listPK(p.TenantID, p.MemberID)),
	}
	if pinned {
		upd += ", pinnedAt = :at"
		vals[":pk"], vals[":at"] = str(pinPK(p.TenantID, p.MemberID)), av(s.now())
	} else {
		upd += " REMOVE pinnedAt"
	}
	k := key(convPK(p.TenantID, convID), entrySK(p.MemberID))
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: k,
		UpdateExpression:          aws.String(strings.Replace(upd, "listPk = :pk", "listPk = :pk, gsi3pk = :pk", 1)),
		ConditionExpression:       aws.String("attribute_exists(gsi3pk)"),
		ExpressionAttributeValues: vals,
	})
	if dynamo.ConditionFailed(err) {
		// Not in the list (hidden, or gone): the entry alone, if it exists.
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.Table), Key: k,
			UpdateExpression:          aws.String(upd),
			ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(gsi3pk)"),
			ExpressionAttributeValues: vals,
		})
	}
	if dynamo.ConditionFailed(err) {
		return errConversationNotFound
	}
	return errs.Wrap(err, "pin conversation")
}

// Hide removes a conversation from the member's list and marks it read; a
// new message brings it back with only the new messages unread.
func (s *Service) Hide(ctx context.Context, p auth.Principal, convID string) error {
	for attempt := 0; attempt < 3; attempt++ {
		head, _, err := s.load(ctx, p, convID)
		if err != nil {
			return err
		}
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.Table),
			Key:       key(convPK(p.TenantID, convID), entrySK(p.MemberID)),
			// Out of the list index (gsi3pk removed) until a new message.
			UpdateExpression: aws.String("SET hiddenSeq = :s, readSeq = :s, pinned = :f, listPk = :list REMOVE pinnedAt, gsi3pk"),
			// A read of a message newer than the head we saw must not be
			// undone, nor a newer message's place in the list.
			ConditionExpression: aws.String("attribute_exists(pk) AND readSeq <= :s AND (attribute_not_exists(lastSeq) OR lastSeq <= :s)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":s": num(head.Seq), ":f": &types.AttributeValueMemberBOOL{Value: false}, ":list": str(listPK(p.TenantID, p.MemberID)),
			},
		})
		if !dynamo.ConditionFailed(err) {
			return errs.Wrap(err, "hide conversation")
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
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       key(convPK(p.TenantID, convID), headSK),
		UpdateExpression:          aws.String("SET #n = :n"),
		ConditionExpression:       aws.String("ownerId = :o"),
		ExpressionAttributeNames:  map[string]string{"#n": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": str(name), ":o": str(p.MemberID)},
	})
	if dynamo.ConditionFailed(err) {
		return Conversation{}, errs.E(errs.Forbidden, "owner_only", "only the group's owner may do this")
	}
	if err != nil {
		return Conversation{}, errs.Wrap(err, "rename group")
	}
	return s.Get(ctx, p, convID)
}

func ownerOnly(head headRecord, p auth.Principal) error {
	if head.Kind != Group {
		return errs.Invalidf("", "not_a_group", "a 1:1 conversation has no owner, members to manage or name")
	}
	if head.OwnerID != p.MemberID {
		return errs.E(errs.Forbidden, "owner_only", "only the group's owner may do this")
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
	tx := []types.TransactWriteItem{{Update: s.growHead(p, head, roster, fresh)}}
	for _, id := range fresh {
		// New members see the history but none of it as unread.
		e, err := put(s.Table, newEntry(p.TenantID, convID, id, head.Seq, head.LastAt, now), "attribute_not_exists(pk)")
		if err != nil {
			return Conversation{}, err
		}
		tx = append(tx, e)
	}
	if _, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx}); err != nil {
		if dynamo.ConditionFailed(err) || dynamo.Conflicted(err) {
			return Conversation{}, errs.E(errs.Conflict, "members_changed", "the group changed meanwhile; try again")
		}
		return Conversation{}, errs.Wrap(err, "add members")
	}
	return s.Get(ctx, p, convID)
}

// growHead is the head update of adding fresh to a group of roster: the
// count, and the fan-out list while the group stays small enough for it.
func (s *Service) growHead(p auth.Principal, head headRecord, roster []entryRecord, fresh []string) *types.Update {
	u := &types.Update{
		TableName:           aws.String(s.Table),
		Key:                 key(convPK(p.TenantID, head.ID), headSK),
		UpdateExpression:    aws.String("SET memberCount = memberCount + :n REMOVE fanout"),
		ConditionExpression: aws.String("ownerId = :o AND memberCount <= :room"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": num(int64(len(fresh))), ":o": str(p.MemberID), ":room": num(int64(MaxGroupMembers - len(fresh))),
		},
	}
	all := append([]string{}, fresh...)
	for _, e := range roster {
		all = append(all, e.MemberID)
	}
	if fan := fanoutOf(all); fan != nil {
		u.UpdateExpression = aws.String("SET memberCount = memberCount + :n, fanout = :fan")
		u.ConditionExpression = aws.String("ownerId = :o AND memberCount = :count")
		delete(u.ExpressionAttributeValues, ":room")
		u.ExpressionAttributeValues[":fan"] = &types.AttributeValueMemberSS{Value: fan}
		u.ExpressionAttributeValues[":count"] = num(int64(head.MemberCount))
	}
	return u
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
	upd := "SET memberCount = memberCount - :one"
	vals := map[string]types.AttributeValue{":one": num(1), ":o": str(head.OwnerID)}
	if newOwner != head.OwnerID {
		upd += ", ownerId = :new"
		vals[":new"] = str(newOwner)
	}
	if len(head.Fanout) > 0 {
		upd += " DELETE fanout :gone"
		vals[":gone"] = &types.AttributeValueMemberSS{Value: []string{memberID}}
	}
	tx := []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:           aws.String(s.Table),
			Key:                 key(convPK(p.TenantID, convID), entrySK(memberID)),
			ConditionExpression: aws.String("attribute_exists(pk)"),
		}},
		{Update: &types.Update{
			TableName:                 aws.String(s.Table),
			Key:                       key(convPK(p.TenantID, convID), headSK),
			UpdateExpression:          aws.String(upd),
			ConditionExpression:       aws.String("ownerId = :o"),
			ExpressionAttributeValues: vals,
		}},
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	switch {
	case err == nil:
		return nil
	case dynamo.FailedCondition(err, 0):
		return errs.NotFoundf("member_not_found", "%s is not a member of this group", memberID)
	case dynamo.ConditionFailed(err) || dynamo.Conflicted(err):
		return errs.E(errs.Conflict, "members_changed", "the group changed meanwhile; try again")
	}
	return errs.Wrap(err, "remove member")
}

// Settings are a tenant's chat settings.
type Settings struct {
	RocketReminderMinutes int `json:"rocketReminderMinutes"`
}

// Settings returns the tenant's chat settings, defaults when never set.
func (s *Service) Settings(ctx context.Context, tenantID string) (Settings, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: settingsKey(tenantID)})
	if err != nil {
		return Settings{}, errs.Wrap(err, "read chat settings")
	}
	return settingsOf(out.Item)
}

func settingsOf(item map[string]types.AttributeValue) (Settings, error) {
	if item == nil {
		return Settings{RocketReminderMinutes: DefaultReminderMinutes}, nil
	}
	var r settingsRecord
	if err := unmarshal(item, &r); err != nil {
		return Settings{}, err
	}
	if r.ReminderMinutes < MinReminderMinutes || r.ReminderMinutes > MaxReminderMinutes {
		r.ReminderMinutes = DefaultReminderMinutes
	}
	return Settings{RocketReminderMinutes: r.ReminderMinutes}, nil
}

// PutSettings changes the tenant's chat settings.
func (s *Service) PutSettings(ctx context.Context, tenantID string, in Settings) (Settings, error) {
	if in.RocketReminderMinutes < MinReminderMinutes || in.RocketReminderMinutes > MaxReminderMinutes {
		return Settings{}, errs.Invalidf("rocketReminderMinutes", "invalid_reminder_window",
			"rocketReminderMinutes must be a whole number of minutes from %d to %d", MinReminderMinutes, MaxReminderMinutes)
	}
	k := settingsKey(tenantID)
	rec := settingsRecord{
		PK: k["pk"].(*types.AttributeValueMemberS).Value, SK: k["sk"].(*types.AttributeValueMemberS).Value,
		Type: "chat_settings", ReminderMinutes: in.RocketReminderMinutes, UpdatedAt: s.now(),
	}
	p, err := put(s.Table, rec, "")
	if err != nil {
		return Settings{}, err
	}
	change := audit.Change{Action: audit.ChatSettingsUpdate, Target: "chat-settings", Fields: []string{"rocketReminderMinutes"}}
	if err := s.Audit.Write(ctx, s.DB, tenantID, change, types.TransactWriteItem{Put: &types.Put{TableName: p.Put.TableName, Item: p.Put.Item}}); err != nil {
		return Settings{}, errs.Wrap(err, "put chat settings")
	}
	return in, nil
}

// now is the service's clock in UTC to the millisecond, the precision
// every time the API shows has.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }
