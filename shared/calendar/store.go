package calendar

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Store keeps events, each participant's entries and the due reminders.
type Store interface {
	// Save writes next in place of prev (nil prev: a new event; nil next:
	// delete), with every participant's entry and the event's reminder
	// (due at remind, none when zero). A lost race is a Conflict.
	Save(ctx context.Context, prev, next *Event, remind Due) error
	Get(ctx context.Context, tenantID, id string) (*Event, error)
	// Respond records an attendee's response, bumping the version.
	Respond(ctx context.Context, e *Event, memberID, response string, at time.Time) error
	// Range returns the member's events whose series overlaps [from, to),
	// each with the member's own response.
	Range(ctx context.Context, tenantID, memberID string, from, to time.Time) ([]Entry, error)
	// Due returns the reminders due at or before now (from the buckets of
	// now's day and the day before).
	Due(ctx context.Context, now time.Time) ([]Due, error)
	// Advance replaces the due reminder cur by next (zero: none) unless
	// another sweep did so first (then false).
	Advance(ctx context.Context, cur, next Due) (bool, error)
}

// Entry is an event as a participant's calendar holds it.
type Entry struct {
	Event
	Response string `json:"response" dynamodbav:"response"` // organizer, or the attendee's response
}

// Due is an event's next reminder.
type Due struct {
	TenantID   string    `dynamodbav:"tenantId"`
	EventID    string    `dynamodbav:"eventId"`
	Occurrence time.Time `dynamodbav:"occurrence"` // original start of the occurrence
	Start      time.Time `dynamodbav:"occurrenceStart"`
	At         time.Time `dynamodbav:"dueAt"`
	// Event is the event as of its last write, kept on the reminder item in
	// the same transactions as the event itself, so that the sweep reads
	// the due row and nothing else. Nil on items written before it was
	// kept: the sweep then reads the event.
	Event *Event `dynamodbav:"event,omitempty"`
}

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// DynamoStore keeps, in the calendar table:
//
//	pk=T#<tenant>              sk=EVENT#<id>          the event, with attendees
//	pk=CAL#<tenant>#<member>   sk=<seriesEnd>#<id>    the member's entry: the event without
//	                                                  attendees, with the member's response
//	pk=T#<tenant>              sk=REMIND#<id>         the next reminder and a copy of the event;
//	                                                  while one is due: gsi1pk=DUE#<day>#<shard>,
//	                                                  gsi1sk=<dueAt>#<tenant>#<id>
//
// A member's range is one Query (entries ending at or after from, filtered
// on starting before to), whatever the recurrence; the sweep reads only
// what is due.
type DynamoStore struct {
	DB     DB
	Table  string
	Shards int // partitions of each day of the due index (INDEX_SHARDS); zero means dynamo.DefaultShards
}

var _ Store = (*DynamoStore)(nil)

const stamp = "2006-01-02T15:04:05Z"

func sv(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func nv(n int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }

func eventKey(tenantID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": sv("T#" + tenantID), "sk": sv("EVENT#" + id)}
}

func calPK(tenantID, memberID string) string { return "CAL#" + tenantID + "#" + memberID }

func entryKey(e *Event, memberID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": sv(calPK(e.TenantID, memberID)), "sk": sv(e.SeriesEnd.UTC().Format(stamp) + "#" + e.ID)}
}

func remindKey(tenantID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": sv("T#" + tenantID), "sk": sv("REMIND#" + id)}
}

type eventRecord struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Type string `dynamodbav:"type"`
	Event
}

type entryRecord struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Type string `dynamodbav:"type"`
	Entry
}

type dueRecord struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK string `dynamodbav:"gsi1sk,omitempty"`
	Type   string `dynamodbav:"type"`
	Due
}

func dueBucket(t time.Time) string { return "DUE#" + t.UTC().Format(time.DateOnly) }

// dueShards are the partitions of one day of the due index.
func (d *DynamoStore) dueShards(day time.Time) dynamo.Shards {
	return dynamo.Shards{Key: dueBucket(day), N: d.Shards}
}

func (d *DynamoStore) duePartition(due Due) string {
	return d.dueShards(due.At).For(due.TenantID + "#" + due.EventID)
}
func dueSK(d Due) string { return d.At.UTC().Format(stamp) + "#" + d.TenantID + "#" + d.EventID }

func (d *DynamoStore) entryItem(e *Event, memberID string) (map[string]types.AttributeValue, error) {
	en := Entry{Event: *e, Response: "organizer"}
	en.Attendees = nil
	if a := e.Attendee(memberID); a != nil {
		en.Response = a.Response
	}
	k := entryKey(e, memberID)
	return attributevalue.MarshalMap(entryRecord{PK: k["pk"].(*types.AttributeValueMemberS).Value, SK: k["sk"].(*types.AttributeValueMemberS).Value, Type: "entry", Entry: en})
}

// EventItems returns the items a new event is stored as: the event, its
// reminder and each participant's entry (for seeding large calendars with
// BatchWriteItem).
func (d *DynamoStore) EventItems(e *Event, remind Due) ([]map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(eventRecord{PK: "T#" + e.TenantID, SK: "EVENT#" + e.ID, Type: "event", Event: *e})
	if err != nil {
		return nil, err
	}
	r, err := d.reminderItem(e, remind)
	if err != nil {
		return nil, err
	}
	items := []map[string]types.AttributeValue{item, r}
	for _, m := range e.Participants() {
		en, err := d.entryItem(e, m)
		if err != nil {
			return nil, err
		}
		items = append(items, en)
	}
	return items, nil
}

func (d *DynamoStore) reminderItem(e *Event, remind Due) (map[string]types.AttributeValue, error) {
	dr := dueRecord{Type: "reminder", Due: remind}
	dr.Event = e
	k := remindKey(e.TenantID, e.ID)
	dr.PK, dr.SK = k["pk"].(*types.AttributeValueMemberS).Value, k["sk"].(*types.AttributeValueMemberS).Value
	if !remind.At.IsZero() {
		dr.GSI1PK, dr.GSI1SK = d.duePartition(remind), dueSK(remind)
	}
	return attributevalue.MarshalMap(dr)
}

func (d *DynamoStore) Save(ctx context.Context, prev, next *Event, remind Due) error {
	var head []types.TransactWriteItem // the event and its reminder: always atomic
	var entries []types.WriteRequest
	table := aws.String(d.Table)
	cond, vals := aws.String("attribute_not_exists(pk)"), map[string]types.AttributeValue(nil)
	if prev != nil {
		cond, vals = aws.String("version = :v"), map[string]types.AttributeValue{":v": nv(prev.Version)}
	}
	ref := next
	if next != nil {
		item, err := attributevalue.MarshalMap(eventRecord{PK: "T#" + next.TenantID, SK: "EVENT#" + next.ID, Type: "event", Event: *next})
		if err != nil {
			return errs.Wrap(err, "encode event")
		}
		head = append(head, types.TransactWriteItem{Put: &types.Put{TableName: table, Item: item, ConditionExpression: cond, ExpressionAttributeValues: vals}})
		ritem, err := d.reminderItem(next, remind)
		if err != nil {
			return errs.Wrap(err, "encode reminder")
		}
		head = append(head, types.TransactWriteItem{Put: &types.Put{TableName: table, Item: ritem}})
	} else {
		ref = prev
		head = append(head,
			types.TransactWriteItem{Delete: &types.Delete{TableName: table, Key: eventKey(prev.TenantID, prev.ID), ConditionExpression: cond, ExpressionAttributeValues: vals}},
			types.TransactWriteItem{Delete: &types.Delete{TableName: table, Key: remindKey(prev.TenantID, prev.ID)}})
	}
	kept := map[string]bool{}
	if next != nil {
		for _, m := range next.Participants() {
			item, err := d.entryItem(next, m)
			if err != nil {
				return errs.Wrap(err, "encode entry")
			}
			kept[m] = true
			entries = append(entries, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
	}
	if prev != nil {
		for _, m := range prev.Participants() {
			if kept[m] && next.SeriesEnd.Equal(prev.SeriesEnd) {
				continue // the put replaces it
			}
			entries = append(entries, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: entryKey(prev, m)}})
		}
	}
	if len(head)+len(entries) <= dynamo.MaxTransactItems {
		tx := head
		for _, w := range entries {
			if w.PutRequest != nil {
				tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: table, Item: w.PutRequest.Item}})
			} else {
				tx = append(tx, types.TransactWriteItem{Delete: &types.Delete{TableName: table, Key: w.DeleteRequest.Key}})
			}
		}
		_, err := d.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		return saveErr(err, prev == nil)
	}
	// Too many participants for one transaction: the event commits first
	// (so a lost race writes nothing), then the entries in batches.
	if _, err := d.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: head}); err != nil {
		return saveErr(err, prev == nil)
	}
	if err := dynamo.BatchWrite(ctx, d.DB, map[string][]types.WriteRequest{d.Table: entries}); err != nil {
		return errs.Wrap(fmt.Errorf("entries of event %s: %w", ref.ID, err), "write entries")
	}
	return nil
}

// saveErr reads a failed save. A lost race is stale state for a change;
// a new event has no state to be stale, so its conflict is transient
// (errs.Wrap makes it a 503: the same request may succeed).
func saveErr(err error, creating bool) error {
	if dynamo.FailedCondition(err, 0) || dynamo.Conflicted(err) && !creating {
		return errs.E(errs.Conflict, "stale_state", "the event changed meanwhile; reload it")
	}
	return errs.Wrap(err, "save event")
}

func (d *DynamoStore) Get(ctx context.Context, tenantID, id string) (*Event, error) {
	out, err := d.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.Table), Key: eventKey(tenantID, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, errs.Wrap(err, "get event")
	}
	if out.Item == nil {
		return nil, errs.NotFoundf("event_not_found", "no such event")
	}
	var r eventRecord
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return nil, errs.Wrap(err, "decode event")
	}
	return &r.Event, nil
}

func (d *DynamoStore) Respond(ctx context.Context, e *Event, memberID, response string, at time.Time) error {
	idx := -1
	for i, a := range e.Attendees {
		if a.MemberID == memberID {
			idx = i
		}
	}
	if idx < 0 {
		return errs.E(errs.Forbidden, "not_attendee", "only attendees respond")
	}
	path := fmt.Sprintf("attendees[%d]", idx)
	atv, _ := attributevalue.Marshal(at.UTC())
	// The reminder's copy of the event, as the event will be.
	next := *e
	next.Attendees = append([]Attendee(nil), e.Attendees...)
	t := at.UTC()
	next.Attendees[idx].Response, next.Attendees[idx].RespondedAt = response, &t
	next.Version++
	copyv, err := attributevalue.Marshal(next)
	if err != nil {
		return errs.Wrap(err, "encode event")
	}
	tx := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: aws.String(d.Table), Key: eventKey(e.TenantID, e.ID),
			UpdateExpression:         aws.String("SET " + path + ".#r = :r, " + path + ".respondedAt = :at, version = :next"),
			ConditionExpression:      aws.String("version = :v AND " + path + ".memberId = :m"),
			ExpressionAttributeNames: map[string]string{"#r": "response"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":r": sv(response), ":at": atv, ":v": nv(e.Version), ":next": nv(e.Version + 1), ":m": sv(memberID),
			},
		}},
		{Update: &types.Update{
			TableName: aws.String(d.Table), Key: entryKey(e, memberID),
			UpdateExpression:          aws.String("SET #r = :r, version = :next"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeNames:  map[string]string{"#r": "response"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":r": sv(response), ":next": nv(e.Version + 1)},
		}},
		{Update: &types.Update{
			TableName: aws.String(d.Table), Key: remindKey(e.TenantID, e.ID),
			UpdateExpression:          aws.String("SET #e = :e"),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeNames:  map[string]string{"#e": "event"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": copyv},
		}},
	}
	_, err = d.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	if dynamo.ConditionFailed(err) || dynamo.Conflicted(err) {
		return errs.E(errs.Conflict, "stale_state", "the event changed meanwhile; try again")
	}
	return errs.Wrap(err, "respond")
}

func (d *DynamoStore) Range(ctx context.Context, tenantID, memberID string, from, to time.Time) ([]Entry, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(d.Table),
		KeyConditionExpression:    aws.String("pk = :pk AND sk >= :from"),
		FilterExpression:          aws.String("seriesStart < :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sv(calPK(tenantID, memberID)), ":from": sv(from.UTC().Format(stamp)), ":to": sv(to.UTC().Format(stamp))},
	}
	var list []Entry
	for {
		out, err := d.DB.Query(ctx, in)
		if err != nil {
			return nil, errs.Wrap(err, "read calendar")
		}
		for _, item := range out.Items {
			var r entryRecord
			if err := attributevalue.UnmarshalMap(item, &r); err != nil {
				return nil, errs.Wrap(err, "decode entry")
			}
			list = append(list, r.Entry)
		}
		if out.LastEvaluatedKey == nil {
			return list, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func (d *DynamoStore) Due(ctx context.Context, now time.Time) ([]Due, error) {
	var parts []string
	for _, day := range []time.Time{now.AddDate(0, 0, -1), now} {
		parts = append(parts, d.dueShards(day).Partitions()...)
	}
	items, err := dynamo.QueryShards(ctx, d.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(d.Table),
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :b AND gsi1sk <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": sv(now.UTC().Format(stamp) + "#~")},
	}, ":b", parts, "gsi1sk")
	if err != nil {
		return nil, errs.Wrap(err, "read due reminders")
	}
	list := make([]Due, 0, len(items))
	for _, item := range items {
		var r dueRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return nil, errs.Wrap(err, "decode reminder")
		}
		list = append(list, r.Due)
	}
	return list, nil
}

func (d *DynamoStore) Advance(ctx context.Context, cur, next Due) (bool, error) {
	in := &dynamodb.UpdateItemInput{
		TableName:           aws.String(d.Table),
		Key:                 remindKey(cur.TenantID, cur.EventID),
		ConditionExpression: aws.String("gsi1sk = :cur"),
	}
	if next.At.IsZero() {
		in.UpdateExpression = aws.String("REMOVE gsi1pk, gsi1sk")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":cur": sv(dueSK(cur))}
	} else {
		occ, _ := attributevalue.Marshal(next.Occurrence.UTC())
		start, _ := attributevalue.Marshal(next.Start.UTC())
		at, _ := attributevalue.Marshal(next.At.UTC())
		in.UpdateExpression = aws.String("SET gsi1pk = :b, gsi1sk = :sk, occurrence = :o, occurrenceStart = :s, dueAt = :at")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":cur": sv(dueSK(cur)), ":b": sv(d.duePartition(next)), ":sk": sv(dueSK(next)), ":o": occ, ":s": start, ":at": at,
		}
	}
	_, err := d.DB.UpdateItem(ctx, in)
	if dynamo.ConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, errs.Wrap(err, "advance reminder")
	}
	return true, nil
}
