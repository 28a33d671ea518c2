package audit

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Filter selects entries; zero fields select everything.
type Filter struct {
	Actor, Action, Target string
	From, To              time.Time // inclusive
	Cursor                string
	Limit                 int
}

func (f Filter) match(e Entry) bool {
	return (f.Actor == "" || e.Actor == f.Actor) && (f.Action == "" || e.Action == f.Action) &&
		(f.Target == "" || e.Target == f.Target) && (f.To.IsZero() || !e.At.After(f.To))
}

// queryPage is how many entries one Query reads while filling a page.
const queryPage = 200

// List returns a page of the tenant's entries, newest first, and the
// cursor of the next page ("" at the end). Filters are applied as the
// entries are read; reading stops at the first entry older than From,
// since sequence numbers follow time.
func (l *Log) List(ctx context.Context, tenantID string, f Filter) ([]Entry, string, error) {
	cursors := f.cursors(tenantID)
	var start int64
	if ok, err := cursors.Decode(f.Cursor, &start); err != nil || ok && start < 1 {
		return nil, "", dynamo.InvalidCursor()
	}
	in := &dynamodb.QueryInput{
		TableName:              &l.Table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :e)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk(tenantID)), ":e": str("E#"),
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(queryPage),
	}
	if start > 0 {
		in.ExclusiveStartKey = itemKey(tenantID, entrySK(start))
	}
	out := []Entry{}
	for {
		res, err := l.DB.Query(ctx, in)
		if err != nil {
			return nil, "", errs.Wrap(err, "query audit log")
		}
		for _, it := range res.Items {
			e, err := decodeEntry(it)
			if err != nil {
				return nil, "", err
			}
			if !f.From.IsZero() && e.At.Before(f.From) {
				return out, "", nil
			}
			if !f.match(e) {
				continue
			}
			out = append(out, e)
			if len(out) == f.Limit {
				if e.Seq <= 1 {
					return out, "", nil
				}
				return out, cursors.Encode(e.Seq), nil
			}
		}
		if res.LastEvaluatedKey == nil {
			return out, "", nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

func decodeEntry(it map[string]types.AttributeValue) (Entry, error) {
	var e Entry
	if err := attributevalue.UnmarshalMap(it, &e); err != nil {
		return Entry{}, errs.Wrap(err, "decode audit entry")
	}
	if e.Fields == nil {
		e.Fields = []string{}
	}
	return e, nil
}

// cursors are bound to the tenant and to the filters: a page of one query
// does not continue another.
func (f Filter) cursors(tenantID string) dynamo.Cursors {
	return dynamo.ListCursors("audit", tenantID, f.Actor, f.Action, f.Target, stamp(f.From), stamp(f.To))
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Report is the outcome of a chain check.
type Report struct {
	OK      bool  `json:"ok"`
	Entries int   `json:"entries"`            // entries checked
	First   int64 `json:"first,omitempty"`    // oldest kept entry
	Last    int64 `json:"last,omitempty"`     // newest entry, as the head says
	Broken  int64 `json:"brokenAt,omitempty"` // the first entry that does not check out
	// Reason says why: entry_altered (its hash does not match what it
	// says), entry_missing (a sequence number is absent, including at the
	// end or before the oldest while it should still be kept),
	// link_broken (it does not name its predecessor's hash).
	Reason string `json:"reason,omitempty"`
}

// ttlLag is how long after its expiry DynamoDB may still hold an item.
const ttlLag = 48 * time.Hour

// Verify walks the tenant's chain from its oldest kept entry to the head
// and reports the first link that does not hold. Entries past retention
// may be gone from the start of the chain; an entry missing anywhere else
// is reported.
func (l *Log) Verify(ctx context.Context, tenantID string) (Report, error) {
	now := l.Now()
	h, err := l.head(ctx, tenantID)
	if err != nil {
		return Report{}, err
	}
	rep := Report{OK: true, Last: h.Seq}
	broken := func(seq int64, reason string) (Report, error) {
		rep.OK, rep.Broken, rep.Reason = false, seq, reason
		return rep, nil
	}
	in := &dynamodb.QueryInput{
		TableName:              &l.Table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :e)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk(tenantID)), ":e": str("E#"),
		},
		ConsistentRead: aws.Bool(true),
	}
	var prev *Entry
	for {
		res, err := l.DB.Query(ctx, in)
		if err != nil {
			return Report{}, errs.Wrap(err, "query audit log")
		}
		for _, it := range res.Items {
			e, err := decodeEntry(it)
			if err != nil {
				return Report{}, err
			}
			e.TenantID = tenantID
			rep.Entries++
			switch {
			case prev == nil && e.Seq > 1 && (e.PrevAt == nil || e.PrevAt.Add(Retention).After(now)):
				// The oldest kept entry's predecessor should still be here.
				return broken(e.Seq-1, "entry_missing")
			case prev == nil:
				rep.First = e.Seq
			case e.Seq != prev.Seq+1:
				return broken(prev.Seq+1, "entry_missing")
			case e.PrevHash != prev.Hash:
				return broken(e.Seq, "link_broken")
			}
			if e.digest() != e.Hash {
				return broken(e.Seq, "entry_altered")
			}
			prev = &e
		}
		if res.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	switch {
	case prev == nil && h.Seq > 0 && h.At.Add(Retention+ttlLag).After(now):
		return broken(h.Seq, "entry_missing")
	case prev != nil && prev.Seq < h.Seq:
		return broken(prev.Seq+1, "entry_missing")
	case prev != nil && (prev.Seq > h.Seq || prev.Hash != h.Hash):
		// Entries past the head, or a head that names another hash: the
		// head or the newest entry was rewritten.
		return broken(prev.Seq, "entry_altered")
	}
	return rep, nil
}

func (l *Log) head(ctx context.Context, tenantID string) (head, error) {
	out, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &l.Table, Key: itemKey(tenantID, headSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return head{}, errs.Wrap(err, "read audit head")
	}
	var h head
	if out.Item != nil {
		if err := attributevalue.UnmarshalMap(out.Item, &h); err != nil {
			return head{}, errs.Wrap(err, "decode audit head")
		}
	}
	return h, nil
}
