package announce

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Store keeps announcements and read marks.
type Store interface {
	// Put writes a; prev is the version it replaces (0: a new one). A lost
	// race is a Conflict.
	// Put writes a (new when prev is 0, else over version prev) with the
	// admin's change in the audit log, in one transaction.
	Put(ctx context.Context, a *Announcement, prev int, change audit.Change) error
	Get(ctx context.Context, tenantID, id string) (*Announcement, error)
	// Feed returns published announcements addressed to everyone or to one
	// of departmentIDs, pinned first, then newest.
	// The cursor is the member's own.
	Feed(ctx context.Context, tenantID, memberID string, departmentIDs []string, cursor string, limit int) ([]*Announcement, string, error)
	// All returns every announcement of the tenant, published or not,
	// newest first (for admins).
	All(ctx context.Context, tenantID, cursor string, limit int) ([]*Announcement, string, error)
	MarkRead(ctx context.Context, tenantID, id, memberID string, at time.Time) error
	ReadBy(ctx context.Context, tenantID, memberID string, ids []string) (map[string]bool, error)
	Reads(ctx context.Context, tenantID, id string) (map[string]time.Time, error)
}

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// DynamoStore keeps, in the announcements table:
//
//	pk=T#<tenant>          sk=ANN#<id>    the announcement; while published also
//	                                      gsi1pk=FEED#<tenant>, gsi1sk=<1 pinned|0>#<id>
//	pk=READ#<tenant>#<id>  sk=<member>    a read mark
//
// The feed is one Query of the sparse gsi1 (ids are time-ordered, so
// reading it backwards gives pinned first, then newest), filtered on the
// reader's departments; the index projects no bodies.
type DynamoStore struct {
	DB    DB
	Table string
	// ScanLimit bounds the index items one feed Query evaluates (default
	// 500); a page may come back short, with a cursor.
	ScanLimit int
	Audit     *audit.Log // admins' changes are audited (nil: not)
}

var _ Store = (*DynamoStore)(nil)

func sv(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

type record struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK string `dynamodbav:"gsi1sk,omitempty"`
	Type   string `dynamodbav:"type"`
	Announcement
}

func feedPK(tenantID string) string { return "FEED#" + tenantID }

func feedSK(pinned bool, id string) string {
	if pinned {
		return "1#" + id
	}
	return "0#" + id
}

func key(tenantID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": sv("T#" + tenantID), "sk": sv("ANN#" + id)}
}

// feedKey is the index key of a published announcement.
func feedKey(tenantID string, a *Announcement) map[string]types.AttributeValue {
	k := key(tenantID, a.ID)
	k["gsi1pk"], k["gsi1sk"] = sv(feedPK(tenantID)), sv(feedSK(a.Pinned, a.ID))
	return k
}

// The keys a cursor of the feed and of the admins' list may carry.
func feedStart(tenantID string) []dynamo.KeyAttr {
	return append(allStart(tenantID), dynamo.KeyIs("gsi1pk", feedPK(tenantID)), dynamo.KeyHasPrefix("gsi1sk", ""))
}

func allStart(tenantID string) []dynamo.KeyAttr {
	return []dynamo.KeyAttr{dynamo.KeyIs("pk", "T#"+tenantID), dynamo.KeyHasPrefix("sk", "ANN#")}
}

func (d *DynamoStore) Put(ctx context.Context, a *Announcement, prev int, change audit.Change) error {
	r := record{PK: "T#" + a.TenantID, SK: "ANN#" + a.ID, Type: "announcement", Announcement: *a}
	if a.Published {
		r.GSI1PK, r.GSI1SK = feedPK(a.TenantID), feedSK(a.Pinned, a.ID)
	}
	item, err := attributevalue.MarshalMap(r)
	if err != nil {
		return errs.Wrap(err, "encode announcement")
	}
	in := &types.Put{TableName: aws.String(d.Table), Item: item}
	if prev == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(prev)}}
	}
	change.Target = "announcement/" + a.ID
	err = d.Audit.Write(ctx, d.DB, a.TenantID, change, types.TransactWriteItem{Put: in})
	if dynamo.FailedCondition(err, 0) {
		// The SDK retries a write whose response was lost; if the first
		// attempt landed, the item is already this very version.
		if cur, gerr := d.Get(ctx, a.TenantID, a.ID); gerr == nil && cur.Version == a.Version && cur.UpdatedAt.Equal(a.UpdatedAt) {
			return nil
		}
		return errs.E(errs.Conflict, "stale_state", "the announcement changed meanwhile; reload it")
	}
	return errs.Wrap(err, "put announcement")
}

func (d *DynamoStore) Get(ctx context.Context, tenantID, id string) (*Announcement, error) {
	out, err := d.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.Table), Key: key(tenantID, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, errs.Wrap(err, "get announcement")
	}
	if out.Item == nil {
		return nil, errs.NotFoundf("announcement_not_found", "no such announcement")
	}
	var r record
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return nil, errs.Wrap(err, "decode announcement")
	}
	return &r.Announcement, nil
}

func (d *DynamoStore) Feed(ctx context.Context, tenantID, memberID string, departmentIDs []string, cursor string, limit int) ([]*Announcement, string, error) {
	cursors := dynamo.ListCursors("announce/feed", tenantID, memberID)
	start, err := cursors.DecodeKey(cursor, feedStart(tenantID)...)
	if err != nil {
		return nil, "", err
	}
	scan := d.ScanLimit
	if scan <= 0 {
		scan = 500
	}
	values := map[string]types.AttributeValue{":pk": sv(feedPK(tenantID)), ":t": &types.AttributeValueMemberBOOL{Value: true}}
	filter := []string{"everyone = :t"}
	for i, dep := range departmentIDs {
		name := fmt.Sprintf(":d%d", i)
		values[name] = sv(dep)
		filter = append(filter, "contains(reach, "+name+")")
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(d.Table),
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :pk"),
		FilterExpression:          aws.String(strings.Join(filter, " OR ")),
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(scan)),
		ExclusiveStartKey:         start,
	}
	out, err := d.DB.Query(ctx, in)
	if err != nil {
		return nil, "", errs.Wrap(err, "read feed")
	}
	list := make([]*Announcement, 0, min(limit, len(out.Items)))
	for _, item := range out.Items {
		if len(list) == limit {
			return list, cursors.EncodeKey(feedKey(tenantID, list[len(list)-1])), nil
		}
		var r record
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return nil, "", errs.Wrap(err, "decode announcement")
		}
		a := r.Announcement
		a.Body = ""
		list = append(list, &a)
	}
	return list, cursors.EncodeKey(out.LastEvaluatedKey), nil
}

func (d *DynamoStore) All(ctx context.Context, tenantID, cursor string, limit int) ([]*Announcement, string, error) {
	cursors := dynamo.ListCursors("announce/all", tenantID)
	start, err := cursors.DecodeKey(cursor, allStart(tenantID)...)
	if err != nil {
		return nil, "", err
	}
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :ann)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": sv("T#" + tenantID), ":ann": sv("ANN#"),
		},
		ProjectionExpression:     aws.String("#i, title, excerpt, #f, audience, everyone, pinned, published, authorId, publishedAt, updatedAt, version"),
		ExpressionAttributeNames: map[string]string{"#i": "id", "#f": "format"},
		ScanIndexForward:         aws.Bool(false),
		Limit:                    aws.Int32(int32(limit)),
		ExclusiveStartKey:        start,
	}
	out, err := d.DB.Query(ctx, in)
	if err != nil {
		return nil, "", errs.Wrap(err, "list announcements")
	}
	list := make([]*Announcement, 0, len(out.Items))
	for _, item := range out.Items {
		var a Announcement
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			return nil, "", errs.Wrap(err, "decode announcement")
		}
		a.TenantID = tenantID
		list = append(list, &a)
	}
	return list, cursors.EncodeKey(out.LastEvaluatedKey), nil
}

func readKey(tenantID, id, memberID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": sv("READ#" + tenantID + "#" + id), "sk": sv(memberID)}
}

// MarkRead keeps the first read time: marking again changes nothing.
func (d *DynamoStore) MarkRead(ctx context.Context, tenantID, id, memberID string, at time.Time) error {
	item := readKey(tenantID, id, memberID)
	item["readAt"] = sv(at.UTC().Format(time.RFC3339Nano))
	_, err := d.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.Table), Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if dynamo.ConditionFailed(err) {
		return nil
	}
	return errs.Wrap(err, "mark read")
}

// ReadBy reads the member's marks of ids in one BatchGetItem (ids ≤ 100).
func (d *DynamoStore) ReadBy(ctx context.Context, tenantID, memberID string, ids []string) (map[string]bool, error) {
	read := map[string]bool{}
	if len(ids) == 0 {
		return read, nil
	}
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, readKey(tenantID, id, memberID))
	}
	got, err := dynamo.BatchGet(ctx, d.DB, map[string]types.KeysAndAttributes{d.Table: {Keys: keys, ProjectionExpression: aws.String("pk")}})
	if err != nil {
		return nil, errs.Wrap(err, "read marks")
	}
	for _, item := range got[d.Table] {
		if pk, ok := item["pk"].(*types.AttributeValueMemberS); ok {
			read[strings.TrimPrefix(pk.Value, "READ#"+tenantID+"#")] = true
		}
	}
	return read, nil
}

func (d *DynamoStore) Reads(ctx context.Context, tenantID, id string) (map[string]time.Time, error) {
	reads := map[string]time.Time{}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(d.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sv("READ#" + tenantID + "#" + id)},
	}
	for {
		out, err := d.DB.Query(ctx, in)
		if err != nil {
			return nil, errs.Wrap(err, "list reads")
		}
		for _, item := range out.Items {
			var r struct {
				SK     string    `dynamodbav:"sk"`
				ReadAt time.Time `dynamodbav:"readAt"`
			}
			if err := attributevalue.UnmarshalMap(item, &r); err != nil {
				return nil, errs.Wrap(err, "decode read mark")
			}
			reads[r.SK] = r.ReadAt
		}
		if out.LastEvaluatedKey == nil {
			return reads, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
