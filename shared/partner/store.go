package partner

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// Keys of the partners table. Partners, apps, marketplace orders and
// nonces have partitions of their own; a tenant's bindings and extension
// data live under "T#<tenant>"; a binding's outbox under
// "OUT#<tenant>#<app>", so one Query reads its calls in order.
func partnerPK(id string) string              { return "PARTNER#" + id }
func appPK(id string) string                  { return "APP#" + id }
func tenantPK(tenantID string) string         { return "T#" + tenantID }
func bindingSK(appID string) string           { return "BINDING#" + appID }
func extensionSK(appID, member string) string { return "EXT#" + appID + "#" + member }
func outboxPK(tenantID, appID string) string  { return "OUT#" + tenantID + "#" + appID }
func callSK(seq int) string                   { return fmt.Sprintf("CALL#%010d", seq) }
func callID(seq int) string                   { return fmt.Sprintf("%010d", seq) }

// dueKey is the partition of the sparse index of calls waiting to be sent,
// sorted by next attempt time: the scheduled sweep reads what is due with
// one Query instead of scanning.
const dueKey = "DUE"

func newID(t time.Time) string { return ids.New(t) }

// Call is one outbox entry: a sync call to a binding's partner, its body
// sealed at rest (it carries personal data), and every attempt to send it.
type Call struct {
	PK            string    `dynamodbav:"pk" json:"-"`
	SK            string    `dynamodbav:"sk" json:"-"`
	GSI1PK        string    `dynamodbav:"gsi1pk,omitempty" json:"-"`
	GSI1SK        string    `dynamodbav:"gsi1sk,omitempty" json:"-"`
	ID            string    `dynamodbav:"id" json:"id"`
	TenantID      string    `dynamodbav:"tenantId" json:"-"`
	AppID         string    `dynamodbav:"appId" json:"-"`
	Kind          string    `dynamodbav:"kind" json:"event"`
	Flag          int       `dynamodbav:"flag" json:"flag"`
	Users         int       `dynamodbav:"users,omitempty" json:"users,omitempty"`
	Final         bool      `dynamodbav:"final,omitempty" json:"-"`
	Body          string    `dynamodbav:"body" json:"-"` // sealed JSON
	Status        string    `dynamodbav:"status" json:"status"`
	NextAttemptAt time.Time `dynamodbav:"nextAttemptAt" json:"nextAttemptAt"`
	Retries       int       `dynamodbav:"retries" json:"-"` // failures since queued or re-sent
	ResendOf      string    `dynamodbav:"resendOf,omitempty" json:"resendOf,omitempty"`
	Attempts      []Attempt `dynamodbav:"attempts" json:"history"`
	CreatedAt     time.Time `dynamodbav:"createdAt" json:"time"`
	UpdatedAt     time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
}

// Attempt is one try at sending a call, as the sync log shows it.
type Attempt struct {
	N          int       `dynamodbav:"n" json:"attempt"`
	RequestID  string    `dynamodbav:"requestId" json:"requestId"`
	At         time.Time `dynamodbav:"at" json:"at"`
	HTTPStatus int       `dynamodbav:"httpStatus" json:"httpStatus"`
	ResultCode string    `dynamodbav:"resultCode" json:"resultCode"`
	DurationMS int64     `dynamodbav:"durationMs" json:"durationMs"`
	Error      string    `dynamodbav:"error,omitempty" json:"error,omitempty"`
	Manual     bool      `dynamodbav:"manual,omitempty" json:"manual,omitempty"`
}

// Call statuses.
const (
	CallPending = "pending"
	CallSent    = "sent"
	CallFailed  = "failed"
	CallSkipped = "skipped" // the binding expired or was released first
)

func (c *Call) setDue(at time.Time) {
	c.NextAttemptAt = at.UTC()
	c.GSI1PK = dueKey
	c.GSI1SK = at.UTC().Format("2006-01-02T15:04:05.000Z") + "#" + c.TenantID + "#" + c.AppID + "#" + c.ID
}

func (c *Call) clearDue() { c.GSI1PK, c.GSI1SK = "", "" }

// Order is a marketplace purchase: its orderId yields always the same
// instance. Stored twice, by order and by instance.
type Order struct {
	PK         string `dynamodbav:"pk" json:"-"`
	SK         string `dynamodbav:"sk" json:"-"`
	OrderID    string `dynamodbav:"orderId"`
	InstanceID string `dynamodbav:"instanceId"`
	TenantID   string `dynamodbav:"tenantId"`
	AppID      string `dynamodbav:"appId"`
}

// Change is one transaction: a binding written (created, or updated if its
// seq is still PrevSeq), the calls it causes, extension data and
// marketplace order items.
type Change struct {
	Binding    Binding
	Create     bool
	PrevSeq    int
	Calls      []Call
	Extensions map[string]string // member id → sealed JSON, "" to delete
	Order      *Order
	// Audit is the admin action this change is, recorded in the same
	// transaction (nil: not an admin action).
	Audit *audit.Change
}

// Store keeps partners, apps, bindings and the outbox.
type Store interface {
	PutPartner(ctx context.Context, p Partner) error
	GetPartner(ctx context.Context, id string) (Partner, error)
	PutApp(ctx context.Context, a App) error
	GetApp(ctx context.Context, id string) (App, error)
	ListApps(ctx context.Context) ([]App, error)
	Bindings(ctx context.Context, tenantID string) ([]Binding, error)
	Bound(ctx context.Context) ([]Binding, error)
	GetBinding(ctx context.Context, tenantID, appID string) (Binding, error)
	Extensions(ctx context.Context, tenantID, appID string) (map[string]string, error)
	Commit(ctx context.Context, c Change) error
	Calls(ctx context.Context, k BindingKey, fromSK string, limit int, forward bool) ([]Call, string, error)
	GetCall(ctx context.Context, k BindingKey, id string) (Call, error)
	PutCall(ctx context.Context, c Call) error
	Due(ctx context.Context, now time.Time, limit int) ([]BindingKey, error)
	Lease(ctx context.Context, k BindingKey, owner string, now, until time.Time) (head string, ok bool, err error)
	Unlease(ctx context.Context, k BindingKey, owner, head string) error
	Order(ctx context.Context, pk string) (Order, error)
	Remember(ctx context.Context, nonce string, now, until time.Time) error
}

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// DynamoStore keeps everything in the partners table.
type DynamoStore struct {
	DB     DB
	Table  string
	Shards int        // partitions of each sparse index (INDEX_SHARDS); zero means dynamo.DefaultShards
	Audit  *audit.Log // admins' changes are audited (nil: not)
}

// sparse are the sparse gsi1 partitions once keyed by a constant: the
// calls due, the bindings not released, the apps. Items carry the constant
// in memory; encode writes them to a shard.
var sparse = map[string]bool{dueKey: true, boundKey: true, appsKey: true}

// appsKey is the partition of the sparse index of every app.
const appsKey = "APPS"

func (st *DynamoStore) shards(k string) dynamo.Shards { return dynamo.Shards{Key: k, N: st.Shards} }

// encode marshals an item and moves it from a constant gsi1 partition to
// its shard, chosen by the item's primary key so that it stays in the same
// one whenever it is rewritten.
func (st *DynamoStore) encode(v any) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, err
	}
	if p, ok := item["gsi1pk"].(*types.AttributeValueMemberS); ok && sparse[p.Value] {
		pk, _ := item["pk"].(*types.AttributeValueMemberS)
		sk, _ := item["sk"].(*types.AttributeValueMemberS)
		if pk != nil && sk != nil {
			item["gsi1pk"] = s(st.shards(p.Value).For(pk.Value + "#" + sk.Value))
		}
	}
	return item, nil
}

// querySparse reads every shard of a sparse partition (and the constant
// itself, where items written before sharding stay until rewritten), merged
// in gsi1sk order.
func (st *DynamoStore) querySparse(ctx context.Context, k string, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	return dynamo.QueryShards(ctx, st.DB, in, ":p", st.shards(k).Partitions(), "gsi1sk")
}

var _ Store = (*DynamoStore)(nil)

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// holds reports whether the table holds item exactly, as read now.
func (st *DynamoStore) holds(ctx context.Context, item map[string]types.AttributeValue) bool {
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.Table), Key: map[string]types.AttributeValue{"pk": item["pk"], "sk": item["sk"]},
		ConsistentRead: aws.Bool(true),
	})
	return err == nil && reflect.DeepEqual(out.Item, item)
}

func (st *DynamoStore) putNew(ctx context.Context, v any, what string) error {
	item, err := st.encode(v)
	if err != nil {
		return errs.Wrap(err, "encode "+what)
	}
	_, err = st.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(st.Table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if dynamo.ConditionFailed(err) {
		if st.holds(ctx, item) {
			// This put's own item, committed by an attempt whose answer
			// the SDK did not get before it retried.
			return nil
		}
		return errs.E(errs.Conflict, what+"_exists", "this %s exists already", what)
	}
	if err != nil {
		return errs.Wrap(err, "put "+what)
	}
	return nil
}

func (st *DynamoStore) get(ctx context.Context, pk, sk string, v any, what string) error {
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return errs.Wrap(err, "get "+what)
	}
	if out.Item == nil {
		return errs.NotFoundf(what+"_not_found", "no such %s", what)
	}
	if err := attributevalue.UnmarshalMap(out.Item, v); err != nil {
		return errs.Wrap(err, "decode "+what)
	}
	return nil
}

func (st *DynamoStore) PutPartner(ctx context.Context, p Partner) error {
	return st.putNew(ctx, p, "partner")
}

func (st *DynamoStore) GetPartner(ctx context.Context, id string) (Partner, error) {
	var p Partner
	err := st.get(ctx, partnerPK(id), "PARTNER", &p, "partner")
	return p, err
}

func (st *DynamoStore) PutApp(ctx context.Context, a App) error { return st.putNew(ctx, a, "app") }

func (st *DynamoStore) GetApp(ctx context.Context, id string) (App, error) {
	var a App
	err := st.get(ctx, appPK(id), "APP", &a, "app")
	return a, err
}

// query runs a Query to the end, decoding each page into out.
func queryAll[T any](ctx context.Context, db DB, in *dynamodb.QueryInput) ([]T, error) {
	var all []T
	for {
		out, err := db.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		var page []T
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &page); err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(out.LastEvaluatedKey) == 0 {
			return all, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func (st *DynamoStore) ListApps(ctx context.Context) ([]App, error) {
	items, err := st.querySparse(ctx, appsKey, &dynamodb.QueryInput{
		TableName: aws.String(st.Table), IndexName: aws.String("gsi1"),
		KeyConditionExpression: aws.String("gsi1pk = :p"),
	})
	if err != nil {
		return nil, errs.Wrap(err, "list apps")
	}
	var apps []App
	if err := attributevalue.UnmarshalListOfMaps(items, &apps); err != nil {
		return nil, errs.Wrap(err, "decode apps")
	}
	return apps, nil
}

func (st *DynamoStore) Bindings(ctx context.Context, tenantID string) ([]Binding, error) {
	bs, err := queryAll[Binding](ctx, st.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(st.Table),
		KeyConditionExpression:    aws.String("pk = :p AND begins_with(sk, :s)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(tenantPK(tenantID)), ":s": s("BINDING#")},
	})
	if err != nil {
		return nil, errs.Wrap(err, "list bindings")
	}
	return bs, nil
}

// boundKey is the partition of the sparse index of bindings not released,
// which the directory sync walks.
const boundKey = "BOUND"

func (st *DynamoStore) Bound(ctx context.Context) ([]Binding, error) {
	items, err := st.querySparse(ctx, boundKey, &dynamodb.QueryInput{
		TableName: aws.String(st.Table), IndexName: aws.String("gsi1"),
		KeyConditionExpression: aws.String("gsi1pk = :p"),
	})
	if err != nil {
		return nil, errs.Wrap(err, "list bound bindings")
	}
	var bs []Binding
	if err := attributevalue.UnmarshalListOfMaps(items, &bs); err != nil {
		return nil, errs.Wrap(err, "decode bindings")
	}
	return bs, nil
}

func (st *DynamoStore) GetBinding(ctx context.Context, tenantID, appID string) (Binding, error) {
	var b Binding
	err := st.get(ctx, tenantPK(tenantID), bindingSK(appID), &b, "binding")
	return b, err
}

type extensionRecord struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	MemberID string `dynamodbav:"memberId"`
	Data     string `dynamodbav:"data"` // sealed JSON
}

func (st *DynamoStore) Extensions(ctx context.Context, tenantID, appID string) (map[string]string, error) {
	recs, err := queryAll[extensionRecord](ctx, st.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(st.Table),
		KeyConditionExpression:    aws.String("pk = :p AND begins_with(sk, :s)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(tenantPK(tenantID)), ":s": s("EXT#" + appID + "#")},
	})
	if err != nil {
		return nil, errs.Wrap(err, "read extensions")
	}
	m := make(map[string]string, len(recs))
	for _, r := range recs {
		m[r.MemberID] = r.Data
	}
	return m, nil
}

// maxTransactBytes keeps a change under DynamoDB's 4 MB per transaction,
// with room for the binding item.
const maxTransactBytes = 3 << 20

// Positions in a Change's transaction.
const changeBinding = 0

func (st *DynamoStore) Commit(ctx context.Context, c Change) error {
	b := c.Binding
	b.PK, b.SK = tenantPK(b.TenantID), bindingSK(b.AppID)
	b.GSI1PK, b.GSI1SK = "", ""
	if b.State != StateReleased {
		b.GSI1PK, b.GSI1SK = boundKey, b.TenantID+"#"+b.AppID
	}
	item, err := st.encode(b)
	if err != nil {
		return errs.Wrap(err, "encode binding")
	}
	put := &types.Put{TableName: aws.String(st.Table), Item: item}
	if c.Create {
		put.ConditionExpression = aws.String("attribute_not_exists(pk) OR #state = :released")
		put.ExpressionAttributeNames = map[string]string{"#state": "state"}
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":released": s(StateReleased)}
	} else {
		put.ConditionExpression = aws.String("seq = :seq")
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":seq": &types.AttributeValueMemberN{Value: fmt.Sprint(c.PrevSeq)}}
	}
	tx := []types.TransactWriteItem{{Put: put}}
	if c.Order != nil {
		for _, pk := range []string{"ORDER#" + c.Order.OrderID, "INSTANCE#" + c.Order.InstanceID} {
			o := *c.Order
			o.PK, o.SK = pk, "ORDER"
			it, err := st.encode(o)
			if err != nil {
				return errs.Wrap(err, "encode order")
			}
			tx = append(tx, types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(st.Table), Item: it, ConditionExpression: aws.String("attribute_not_exists(pk)"),
			}})
		}
	}
	for member, data := range c.Extensions {
		pk, sk := tenantPK(b.TenantID), extensionSK(b.AppID, member)
		if data == "" {
			tx = append(tx, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(st.Table), Key: key(pk, sk)}})
			continue
		}
		it, err := st.encode(extensionRecord{PK: pk, SK: sk, MemberID: member, Data: data})
		if err != nil {
			return errs.Wrap(err, "encode extension")
		}
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(st.Table), Item: it}})
	}
	for _, call := range c.Calls {
		it, err := st.encode(call)
		if err != nil {
			return errs.Wrap(err, "encode call")
		}
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(st.Table), Item: it, ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}})
	}
	bytes := 0
	for _, call := range c.Calls {
		bytes += len(call.Body) + 1024
	}
	if len(tx)+2 > dynamo.MaxTransactItems || bytes > maxTransactBytes { // 2: the audit entry and head
		return errs.E(errs.Invalid, "change_too_large", "this change needs %d writes of %d KB, more than one transaction allows (%d, 3 MB); change the scope in smaller steps", len(tx), bytes>>10, dynamo.MaxTransactItems)
	}
	if c.Audit != nil {
		err = st.Audit.Write(ctx, st.DB, b.TenantID, *c.Audit, tx...)
	} else {
		_, err = st.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	}
	switch {
	case err == nil:
		return nil
	case errs.KindOf(err) != errs.Internal:
		return err
	case dynamo.FailedCondition(err, changeBinding) && c.Create:
		return errs.E(errs.Conflict, "already_bound", "the app is bound to this tenant already")
	case dynamo.FailedCondition(err, changeBinding), dynamo.Conflicted(err):
		return errs.E(errs.Conflict, "binding_changed", "the binding changed meanwhile; read it again and retry")
	case c.Order != nil && dynamo.ConditionFailed(err):
		return errs.E(errs.Conflict, "order_exists", "this order exists already")
	}
	return errs.Wrap(err, "commit binding change")
}

func (st *DynamoStore) Calls(ctx context.Context, k BindingKey, fromSK string, limit int, forward bool) ([]Call, string, error) {
	in := &dynamodb.QueryInput{
		TableName: aws.String(st.Table), ConsistentRead: aws.Bool(true),
		ScanIndexForward: aws.Bool(forward), Limit: aws.Int32(int32(limit)),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s(outboxPK(k.TenantID, k.AppID))},
	}
	switch {
	case fromSK == "":
		in.KeyConditionExpression = aws.String("pk = :p AND begins_with(sk, :c)")
		in.ExpressionAttributeValues[":c"] = s("CALL#")
	case forward:
		in.KeyConditionExpression = aws.String("pk = :p AND sk BETWEEN :from AND :to")
		in.ExpressionAttributeValues[":from"] = s(fromSK)
		in.ExpressionAttributeValues[":to"] = s("CALL#~")
	default:
		in.KeyConditionExpression = aws.String("pk = :p AND sk BETWEEN :to AND :from")
		in.ExpressionAttributeValues[":from"] = s(fromSK)
		in.ExpressionAttributeValues[":to"] = s("CALL#")
	}
	out, err := st.DB.Query(ctx, in)
	if err != nil {
		return nil, "", errs.Wrap(err, "read calls")
	}
	var calls []Call
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &calls); err != nil {
		return nil, "", errs.Wrap(err, "decode calls")
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 && len(calls) > 0 {
		next = calls[len(calls)-1].SK
	}
	return calls, next, nil
}

func (st *DynamoStore) GetCall(ctx context.Context, k BindingKey, id string) (Call, error) {
	var c Call
	if len(id) != 10 || strings.Trim(id, "0123456789") != "" {
		return c, errs.NotFoundf("sync_log_not_found", "no such sync log entry")
	}
	err := st.get(ctx, outboxPK(k.TenantID, k.AppID), "CALL#"+id, &c, "sync_log")
	return c, err
}

// PutCall overwrites a call after an attempt or a re-send. Only the lease
// holder of the binding or the admin's re-send write calls.
func (st *DynamoStore) PutCall(ctx context.Context, c Call) error {
	item, err := st.encode(c)
	if err != nil {
		return errs.Wrap(err, "encode call")
	}
	if _, err := st.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Table), Item: item}); err != nil {
		return errs.Wrap(err, "put call")
	}
	return nil
}

func (st *DynamoStore) Due(ctx context.Context, now time.Time, limit int) ([]BindingKey, error) {
	items, err := st.querySparse(ctx, dueKey, &dynamodb.QueryInput{
		TableName: aws.String(st.Table), IndexName: aws.String("gsi1"),
		KeyConditionExpression: aws.String("gsi1pk = :p AND gsi1sk <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": s(now.UTC().Format("2006-01-02T15:04:05.000Z") + "#~"),
		},
		ProjectionExpression: aws.String("tenantId, appId, gsi1sk"),
	})
	if err != nil {
		return nil, errs.Wrap(err, "read due calls")
	}
	var page []BindingKey
	if err := attributevalue.UnmarshalListOfMaps(items, &page); err != nil {
		return nil, errs.Wrap(err, "decode due calls")
	}
	// The oldest due first; a binding once, however many of its calls are due.
	seen := map[BindingKey]bool{}
	var keys []BindingKey
	for _, k := range page {
		if !seen[k] && len(keys) < limit {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// The queue item of a binding holds its delivery lease (one worker at a
// time per binding keeps calls in order) and its head: every call below
// the head is done.
func queueKey(k BindingKey) map[string]types.AttributeValue {
	return key(outboxPK(k.TenantID, k.AppID), "QUEUE")
}

func (st *DynamoStore) Lease(ctx context.Context, k BindingKey, owner string, now, until time.Time) (string, bool, error) {
	out, err := st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table), Key: queueKey(k),
		UpdateExpression:    aws.String("SET leaseOwner = :o, leaseUntil = :u"),
		ConditionExpression: aws.String("attribute_not_exists(leaseUntil) OR leaseUntil < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o": s(owner), ":u": &types.AttributeValueMemberN{Value: fmt.Sprint(until.UnixMilli())},
			":now": &types.AttributeValueMemberN{Value: fmt.Sprint(now.UnixMilli())},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if dynamo.ConditionFailed(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, errs.Wrap(err, "lease binding queue")
	}
	var q struct {
		Head string `dynamodbav:"head"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &q); err != nil {
		return "", false, errs.Wrap(err, "decode queue")
	}
	if q.Head == "" {
		q.Head = callSK(0)
	}
	return q.Head, true, nil
}

func (st *DynamoStore) Unlease(ctx context.Context, k BindingKey, owner, head string) error {
	_, err := st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Table), Key: queueKey(k),
		UpdateExpression:          aws.String("SET head = :h REMOVE leaseOwner, leaseUntil"),
		ConditionExpression:       aws.String("leaseOwner = :o"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": s(owner), ":h": s(head)},
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return errs.Wrap(err, "release binding queue")
	}
	return nil
}

func (st *DynamoStore) Order(ctx context.Context, pk string) (Order, error) {
	var o Order
	err := st.get(ctx, pk, "ORDER", &o, "instance")
	return o, err
}

// Remember records a nonce until the given time; a nonce seen before (and
// not yet expired: the emulator does not delete by TTL) is a Conflict.
func (st *DynamoStore) Remember(ctx context.Context, nonce string, now, until time.Time) error {
	_, err := st.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(st.Table),
		Item: map[string]types.AttributeValue{
			"pk": s("NONCE#" + nonce), "sk": s("NONCE"),
			"ttl": &types.AttributeValueMemberN{Value: fmt.Sprint(until.Unix())},
		},
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: fmt.Sprint(now.Unix())}},
	})
	if dynamo.ConditionFailed(err) {
		return errs.E(errs.Conflict, "nonce_seen", "nonce seen already")
	}
	if err != nil {
		return errs.Wrap(err, "remember nonce")
	}
	return nil
}
