package chat

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// DB is the part of the DynamoDB client chat uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var (
	_ DB            = (*dynamodb.Client)(nil)
	_ Store         = (*DynamoStore)(nil)
	_ ReminderStore = (*DynamoStore)(nil)
	_ FanoutStore   = (*DynamoStore)(nil)
)

// DynamoStore keeps chat in the chat table, and reads members from the
// directory table through the directory's exported keys and decoders. It
// is the Store of the Service, the ReminderStore of the sweep and the
// FanoutStore of the stream's fan-out.
type DynamoStore struct {
	DB        DB
	Table     string           // the chat table
	Directory *directory.Codec // keys of member items; Keys too where reminders open them
	Shards    int              // partitions of the due index (INDEX_SHARDS); zero means dynamo.DefaultShards
	Audit     *audit.Log       // admins' settings changes are audited (nil: not)
}

// person is a member's directory item as a send reads it
// (directory.ContactRead): whether the member is enabled, and the sealed name
// and mobile an urgent 1:1 message's reminder carries to its sweep.
type person struct {
	ID      string
	Enabled bool
	item    map[string]types.AttributeValue
}

// Keys of the chat table. Everything of a conversation shares its partition
// "CONV#<tenant>#<conversation>": the head, the members' entries, the
// messages (sorted by sequence), the client-id claims and the reminders.
// The tenant in every key keeps tenants apart by construction.
func convPK(tenantID, convID string) string      { return "CONV#" + tenantID + "#" + convID }
func entrySK(memberID string) string             { return "MEMBER#" + memberID }
func memberGSI(tenantID, memberID string) string { return "MEMBER#" + tenantID + "#" + memberID }
func messageSK(seq int64) string                 { return fmt.Sprintf("MSG#%012d", seq) }
func reminderSK(seq int64) string                { return fmt.Sprintf("REMIND#%012d", seq) }
func clientSK(senderID, clientID string) string  { return "CLIENT#" + senderID + "#" + clientID }

const (
	headSK        = "HEAD"
	entryPrefix   = "MEMBER#"
	messagePrefix = "MSG#"
	conversationG = "CONV#"

	// dueIndex holds only pending reminders (a sparse index): its
	// partitions are the shards of "DUE" (dynamo.Shards) and its sort key
	// the due time, so the sweep reads exactly the reminders that are due.
	dueIndex = "gsi2"
	duePK    = "DUE"
	dueTime  = "2006-01-02T15:04:05.000Z"
)

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func settingsKey(tenantID string) map[string]types.AttributeValue {
	return key("TENANT#"+tenantID, "CHAT_SETTINGS")
}

// headRecord is a conversation's head: what it is, and its newest message.
// Sending updates it (sequence and last message) and nothing else shared.
type headRecord struct {
	PK       string   `dynamodbav:"pk"`
	SK       string   `dynamodbav:"sk"`
	Type     string   `dynamodbav:"type"`
	ID       string   `dynamodbav:"id"`
	TenantID string   `dynamodbav:"tenantId"`
	Kind     string   `dynamodbav:"kind"`
	Name     string   `dynamodbav:"name,omitempty"`
	OwnerID  string   `dynamodbav:"ownerId,omitempty"`
	Members  []string `dynamodbav:"members,omitempty"` // a 1:1's two members
	// Fanout names every member of a group of at most FanoutMembers: a
	// send updates their entries' list positions in its own transaction.
	// A group without it is fanned out from the stream (Fanout).
	Fanout      []string     `dynamodbav:"fanout,stringset,omitempty"`
	MemberCount int          `dynamodbav:"memberCount"`
	Seq         int64        `dynamodbav:"seq"`
	LastMessage *LastMessage `dynamodbav:"lastMessage,omitempty"`
	LastAt      time.Time    `dynamodbav:"lastAt"`
	CreatedAt   time.Time    `dynamodbav:"createdAt"`
}

func (h headRecord) peerOf(memberID string) string {
	for _, m := range h.Members {
		if m != memberID {
			return m
		}
	}
	return ""
}

// fanoutTargets are the members other than sender whose entries a send
// updates in its own transaction: a 1:1's peer, a small group's members.
func (h headRecord) fanoutTargets(sender string) []string {
	all := h.Fanout
	if h.Kind == Direct {
		all = h.Members
	}
	var out []string
	for _, m := range all {
		if m != sender {
			out = append(out, m)
		}
	}
	return out
}

// entryRecord is one member's entry in a conversation: membership, pin,
// hide, read cursor, and its place in the member's list (gsi3: the
// partition ListPK, "LIST#…" or "PIN#…", while not hidden; the sort key the
// conversation's last activity and id). The member's own actions change
// it, and a new message moves its place (listing.go).
type entryRecord struct {
	PK             string     `dynamodbav:"pk"`
	SK             string     `dynamodbav:"sk"`
	GSI1PK         string     `dynamodbav:"gsi1pk"`
	GSI1SK         string     `dynamodbav:"gsi1sk"`
	GSI3PK         string     `dynamodbav:"gsi3pk,omitempty"`
	GSI3SK         string     `dynamodbav:"gsi3sk,omitempty"`
	ListPK         string     `dynamodbav:"listPk,omitempty"`
	LastSeq        int64      `dynamodbav:"lastSeq"`                       // the newest message its list place reflects
	Reminders      []int64    `dynamodbav:"reminders,numberset,omitempty"` // pending 1:1 reminders of messages to this member
	Type           string     `dynamodbav:"type"`
	ConversationID string     `dynamodbav:"conversationId"`
	TenantID       string     `dynamodbav:"tenantId"`
	MemberID       string     `dynamodbav:"memberId"`
	Pinned         bool       `dynamodbav:"pinned"`
	PinnedAt       *time.Time `dynamodbav:"pinnedAt,omitempty"`
	ReadSeq        int64      `dynamodbav:"readSeq"`
	ReadAt         *time.Time `dynamodbav:"readAt,omitempty"`
	HiddenSeq      *int64     `dynamodbav:"hiddenSeq,omitempty"` // set by delete: hidden until seq passes it
	JoinedSeq      int64      `dynamodbav:"joinedSeq"`           // messages up to it were never unread for this member
	JoinedAt       time.Time  `dynamodbav:"joinedAt"`
}

// newEntry is a member's entry of a conversation whose last activity was
// at lastAt, listed at that place.
func newEntry(tenantID, convID, memberID string, joinedSeq int64, lastAt, now time.Time) entryRecord {
	list := listPK(tenantID, memberID)
	return entryRecord{
		PK: convPK(tenantID, convID), SK: entrySK(memberID),
		GSI1PK: memberGSI(tenantID, memberID), GSI1SK: conversationG + convID,
		GSI3PK: list, GSI3SK: listSK(lastAt, convID), ListPK: list, LastSeq: joinedSeq,
		Type: "member", ConversationID: convID, TenantID: tenantID, MemberID: memberID,
		ReadSeq: joinedSeq, JoinedSeq: joinedSeq, JoinedAt: now,
	}
}

type messageRecord struct {
	PK              string    `dynamodbav:"pk"`
	SK              string    `dynamodbav:"sk"`
	Type            string    `dynamodbav:"type"`
	ID              string    `dynamodbav:"id"`
	ConversationID  string    `dynamodbav:"conversationId"`
	TenantID        string    `dynamodbav:"tenantId"`
	Seq             int64     `dynamodbav:"seq"`
	SenderID        string    `dynamodbav:"senderId"`
	Text            string    `dynamodbav:"text"`
	ReplyTo         *Quote    `dynamodbav:"replyTo,omitempty"`
	Urgent          bool      `dynamodbav:"urgent,omitempty"`
	ClientMessageID string    `dynamodbav:"clientMessageId,omitempty"`
	CreatedAt       time.Time `dynamodbav:"createdAt"`
}

func (r messageRecord) message() Message {
	return Message{
		ID: r.ID, ConversationID: r.ConversationID, Seq: r.Seq, SenderID: r.SenderID, Text: r.Text,
		ReplyTo: r.ReplyTo, Urgent: r.Urgent, ClientMessageID: r.ClientMessageID, CreatedAt: r.CreatedAt,
	}
}

// clientRecord claims a sender's client message id in a conversation: it
// is written in the same transaction as the message, so a retried send
// finds it and answers with the first message.
type clientRecord struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Type string `dynamodbav:"type"`
	Seq  int64  `dynamodbav:"seq"`
}

// reminderRecord is the pending SMS reminder of an urgent message. It is
// one item whatever the number of recipients: the sweep reads the
// conversation's read cursors when it is due. While pending it carries the
// due-index keys; when done they are removed, so the index holds only what
// is still to do.
type reminderRecord struct {
	PK             string     `dynamodbav:"pk"`
	SK             string     `dynamodbav:"sk"`
	GSI2PK         string     `dynamodbav:"gsi2pk,omitempty"`
	GSI2SK         string     `dynamodbav:"gsi2sk,omitempty"`
	Type           string     `dynamodbav:"type"`
	TenantID       string     `dynamodbav:"tenantId"`
	ConversationID string     `dynamodbav:"conversationId"`
	Seq            int64      `dynamodbav:"seq"`
	SenderID       string     `dynamodbav:"senderId"`
	Snippet        string     `dynamodbav:"snippet"`
	DueAt          time.Time  `dynamodbav:"dueAt"`
	CreatedAt      time.Time  `dynamodbav:"createdAt"`
	LeaseUntil     int64      `dynamodbav:"leaseUntil,omitempty"` // unix ms; a sweep holds it until then
	Attempts       int        `dynamodbav:"attempts"`
	Sent           []string   `dynamodbav:"sent,stringset,omitempty"` // recipients already reminded
	DoneAt         *time.Time `dynamodbav:"doneAt,omitempty"`
	// Recipient is a 1:1's other member, the one to remind; People are the
	// sender's and the recipient's directory items (sealed name and mobile,
	// directory.ContactRead) copied at send time. A group's reminder has
	// neither: its sweep reads the roster and the directory.
	Recipient string   `dynamodbav:"recipient,omitempty"`
	People    []person `dynamodbav:"-"`
}

// item encodes the reminder, People as a list of maps under "people".
func (r reminderRecord) item() (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(r)
	if err != nil {
		return nil, errs.Wrap(err, "encode reminder")
	}
	if len(r.People) > 0 {
		l := make([]types.AttributeValue, len(r.People))
		for i, p := range r.People {
			l[i] = &types.AttributeValueMemberM{Value: p.item}
		}
		item["people"] = &types.AttributeValueMemberL{Value: l}
	}
	return item, nil
}

func decodeReminder(item map[string]types.AttributeValue) (reminderRecord, error) {
	var r reminderRecord
	if err := unmarshal(item, &r); err != nil {
		return r, err
	}
	if l, ok := item["people"].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			if m, ok := v.(*types.AttributeValueMemberM); ok {
				r.People = append(r.People, person{item: m.Value})
			}
		}
	}
	return r, nil
}

// settingsRecord is a tenant's chat settings.
type settingsRecord struct {
	PK              string    `dynamodbav:"pk"`
	SK              string    `dynamodbav:"sk"`
	Type            string    `dynamodbav:"type"`
	ReminderMinutes int       `dynamodbav:"reminderMinutes"`
	UpdatedAt       time.Time `dynamodbav:"updatedAt"`
}

func put(table string, v any, cond string) (types.TransactWriteItem, error) {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return types.TransactWriteItem{}, errs.Wrap(err, "encode item")
	}
	p := &types.Put{TableName: aws.String(table), Item: item}
	if cond != "" {
		p.ConditionExpression = aws.String(cond)
	}
	return types.TransactWriteItem{Put: p}, nil
}

func av(v any) types.AttributeValue {
	a, err := attributevalue.Marshal(v)
	if err != nil {
		// Only our own plain values go through here.
		panic(err)
	}
	return a
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func seqSet(seqs []int64) types.AttributeValue {
	v := make([]string, len(seqs))
	for i, n := range seqs {
		v[i] = fmt.Sprint(n)
	}
	return &types.AttributeValueMemberNS{Value: v}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

// batchGet reads keys of one table, 100 at a time, retrying what DynamoDB
// left unprocessed. Items come back in no particular order.
func batchGet(ctx context.Context, db DB, table string, keys []map[string]types.AttributeValue, consistent bool) ([]map[string]types.AttributeValue, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	ka := types.KeysAndAttributes{Keys: keys, ConsistentRead: aws.Bool(consistent)}
	got, err := dynamo.BatchGet(ctx, db, map[string]types.KeysAndAttributes{table: ka})
	return got[table], err
}

func unmarshal(item map[string]types.AttributeValue, v any) error {
	if err := attributevalue.UnmarshalMap(item, v); err != nil {
		return errs.Wrap(err, "decode item")
	}
	return nil
}

func skOf(item map[string]types.AttributeValue) string {
	if s, ok := item["sk"].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func pkOf(item map[string]types.AttributeValue) string {
	if s, ok := item["pk"].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// entries reads a conversation's entries (strongly consistent), only the
// attributes of projection when it is not empty.
func (s *DynamoStore) entries(ctx context.Context, tenantID, convID, projection string) ([]entryRecord, error) {
	var out []entryRecord
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(convPK(tenantID, convID)), ":p": str(entryPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	if projection != "" {
		in.ProjectionExpression = aws.String(projection)
	}
	for {
		res, err := s.DB.Query(ctx, in)
		if err != nil {
			return nil, errs.Wrap(err, "read members")
		}
		for _, it := range res.Items {
			var e entryRecord
			if err := unmarshal(it, &e); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// Persons reads members' directory items, by id (directory.ContactRead):
// whether they are enabled and, when sealed, their sealed name and mobile;
// strongly consistent when consistent. A member the directory does not
// have (in this tenant) is left out.
func (s *DynamoStore) Persons(ctx context.Context, tenantID string, memberIDs []string, sealed, consistent bool) (map[string]person, error) {
	if len(memberIDs) == 0 {
		return map[string]person{}, nil
	}
	keys := make([]map[string]types.AttributeValue, len(memberIDs))
	for i, id := range memberIDs {
		keys[i] = directory.MemberKey(tenantID, id)
	}
	got, err := dynamo.BatchGet(ctx, s.DB, map[string]types.KeysAndAttributes{
		s.Directory.Table: directory.ContactRead(sealed, consistent, keys...),
	})
	if err != nil {
		return nil, err
	}
	items := got[s.Directory.Table]
	out := make(map[string]person, len(items))
	for _, it := range items {
		m, err := directory.DecodeStanding(it)
		if err != nil {
			return nil, errs.Wrap(err, "decode member")
		}
		out[m.ID] = person{ID: m.ID, Enabled: m.Enabled, item: it}
	}
	return out, nil
}
