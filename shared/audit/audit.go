// Package audit keeps the admin audit log: one entry per admin action,
// written in the same DynamoDB transaction as the change it records, and
// chained per tenant by hashes so that a deleted or altered entry shows.
//
// An entry says who (the acting member), the tenant, the action
// ("member.update"), the target ("member/<id>"), which fields changed (by
// name, never their values: no personal data), the request id, the source
// IP and the time. Entries live a year (TTL).
//
// The chain: entry n holds the hash of entry n-1 and its own hash over
// everything it says. A per-tenant head item holds the last sequence number
// and hash; appending puts entry n on condition that it is new and moves
// the head from n-1 to n on condition that it still says n-1, inside the
// change's transaction. Two concurrent admin actions of a tenant cannot
// both append n: one transaction fails its condition, and its store retries
// the whole change from a fresh read.
//
// The table and its keys belong to this package; domain stores add the
// items Append returns to their transactions.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/httpapi"
)

// Retention is how long an entry is kept.
const Retention = 365 * 24 * time.Hour

// Actions, as entries name them.
const (
	MemberCreate          = "member.create"
	MemberUpdate          = "member.update"
	MemberRoleChange      = "member.role_change"
	MemberEnable          = "member.enable"
	MemberDisable         = "member.disable"
	MemberDelete          = "member.delete"
	MemberPasswordReset   = "member.password_reset"
	DepartmentCreate      = "department.create"
	DepartmentUpdate      = "department.update"
	DepartmentDelete      = "department.delete"
	FieldsUpdate          = "directory_fields.update"
	InvitationCreate      = "invitation.create"
	ChatSettingsUpdate    = "chat_settings.update"
	ApprovalChainUpdate   = "approval_chain.update"
	AnnouncementPublish   = "announcement.publish"
	AnnouncementUpdate    = "announcement.update"
	AnnouncementPin       = "announcement.pin"
	AnnouncementUnpin     = "announcement.unpin"
	AnnouncementUnpublish = "announcement.unpublish"
	AppBind               = "app.bind"
	AppUnbind             = "app.unbind"
	AppVisibilityUpdate   = "app.visibility_update"
	AppExtensionUpdate    = "app.extension_update"
	AppSyncRetry          = "app.sync_retry"
	NoticeSettingsUpdate  = "expiry_notice_settings.update"
	MemberImport          = "member.import"
)

// Change is what a store tells about an admin action.
type Change struct {
	Action string   // one of the actions above
	Target string   // "<kind>/<id>", e.g. "member/01J…"
	Fields []string // names of the fields that changed, never values
	// Summary describes an action that changes no one field, such as a
	// bulk import, by values that are never personal data: a file's
	// format, a row count, the options chosen.
	Summary map[string]string
}

// Entry is one stored audit entry.
type Entry struct {
	TenantID string   `json:"-" dynamodbav:"tenantId"`
	Seq      int64    `json:"seq" dynamodbav:"seq"`
	Actor    string   `json:"actor" dynamodbav:"actor"`
	Action   string   `json:"action" dynamodbav:"action"`
	Target   string   `json:"target" dynamodbav:"target"`
	Fields   []string `json:"fields" dynamodbav:"fields"`
	// Summary is Change.Summary, when there is one.
	Summary   map[string]string `json:"summary,omitempty" dynamodbav:"summary,omitempty"`
	RequestID string            `json:"requestId" dynamodbav:"requestId"`
	IP        string            `json:"ip" dynamodbav:"ip"`
	At        time.Time         `json:"at" dynamodbav:"at"`
	// PrevAt is when entry Seq-1 was written: a chain whose oldest kept
	// entry has a predecessor still within retention has lost it.
	PrevAt   *time.Time `json:"-" dynamodbav:"prevAt,omitempty"`
	PrevHash string     `json:"-" dynamodbav:"prevHash"`
	Hash     string     `json:"hash" dynamodbav:"hash"`
}

// digest is the entry's hash: SHA-256 over a fixed encoding of everything
// it says, including the previous entry's hash.
func (e Entry) digest() string {
	at := e.At.UTC().Format(time.RFC3339Nano)
	prevAt := ""
	if e.PrevAt != nil {
		prevAt = e.PrevAt.UTC().Format(time.RFC3339Nano)
	}
	fields := e.Fields
	if fields == nil {
		fields = []string{}
	}
	parts := []any{e.TenantID, e.Seq, e.Actor, e.Action, e.Target, fields, e.RequestID, e.IP, at, prevAt, e.PrevHash}
	if len(e.Summary) > 0 {
		// Only then, so that entries written before summaries existed
		// keep their hashes. A map marshals with its keys sorted.
		parts = append(parts, e.Summary)
	}
	b, _ := json.Marshal(parts)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DB is the part of the DynamoDB client the log uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Log is a tenant-partitioned audit log in one table: pk "T#<tenant>",
// entries at sk "E#<seq, 12 digits>", the chain head at sk "HEAD".
type Log struct {
	DB    DB
	Table string
	Now   func() time.Time
}

const headSK = "HEAD"

func pk(tenantID string) string { return "T#" + tenantID }

func entrySK(seq int64) string { return fmt.Sprintf("E#%012d", seq) }

type head struct {
	Seq  int64     `dynamodbav:"seq"`
	Hash string    `dynamodbav:"hash"`
	At   time.Time `dynamodbav:"at"`
}

// Append returns the transaction items that record c as the tenant's next
// entry: the entry and the moved chain head, both conditional. It reads the
// head (one GetItem). With no acting member in ctx (not an admin's
// request), or on a nil Log, it returns nothing: there is nothing to audit.
// A failed condition on either item means another entry came first; the
// caller retries its whole change.
func (l *Log) Append(ctx context.Context, tenantID string, c Change) ([]types.TransactWriteItem, error) {
	actor, ok := ActorOf(ctx)
	if l == nil || !ok || actor.TenantID != tenantID {
		return nil, nil
	}
	out, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &l.Table, Key: itemKey(tenantID, headSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read head: %w", err)
	}
	var h head
	if out.Item != nil {
		if err := attributevalue.UnmarshalMap(out.Item, &h); err != nil {
			return nil, fmt.Errorf("audit: decode head: %w", err)
		}
	}
	req := httpapi.RequestOf(ctx)
	fields := slices.Clone(c.Fields)
	slices.Sort(fields)
	e := Entry{
		TenantID: tenantID, Seq: h.Seq + 1, Actor: actor.MemberID, Action: c.Action, Target: c.Target,
		Fields: slices.Compact(fields), Summary: maps.Clone(c.Summary), RequestID: req.ID, IP: req.SourceIP,
		At: l.Now().UTC().Truncate(time.Millisecond), PrevHash: h.Hash,
	}
	if e.Fields == nil {
		e.Fields = []string{}
	}
	if h.Seq > 0 {
		prev := h.At
		e.PrevAt = &prev
	}
	e.Hash = e.digest()
	return l.items(e, h)
}

func (l *Log) items(e Entry, h head) ([]types.TransactWriteItem, error) {
	item, err := attributevalue.MarshalMap(e)
	if err != nil {
		return nil, fmt.Errorf("audit: encode entry: %w", err)
	}
	item["pk"], item["sk"] = str(pk(e.TenantID)), str(entrySK(e.Seq))
	item["ttl"] = num(e.At.Add(Retention).Unix())
	headItem, err := attributevalue.MarshalMap(head{Seq: e.Seq, Hash: e.Hash, At: e.At})
	if err != nil {
		return nil, fmt.Errorf("audit: encode head: %w", err)
	}
	headItem["pk"], headItem["sk"] = str(pk(e.TenantID)), str(headSK)
	headPut := &types.Put{TableName: &l.Table, Item: headItem}
	if h.Seq == 0 {
		headPut.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		headPut.ConditionExpression = aws.String("seq = :prev")
		headPut.ExpressionAttributeValues = map[string]types.AttributeValue{":prev": num(h.Seq)}
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: &l.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: headPut},
	}, nil
}

// Actor is the member an admin request acts as.
type Actor struct {
	TenantID, MemberID string
}

type actorKey struct{}

// WithActor returns ctx carrying the acting member; the member middleware
// sets it once it has authenticated the request.
func WithActor(ctx context.Context, tenantID, memberID string) context.Context {
	return context.WithValue(ctx, actorKey{}, Actor{TenantID: tenantID, MemberID: memberID})
}

// ActorOf returns the acting member of ctx.
func ActorOf(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok && a.MemberID != ""
}

func itemKey(tenantID, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(pk(tenantID)), "sk": str(sk)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
