package chat

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Scanner is a DB that can also scan: the backfill walks the whole table.
type Scanner interface {
	DB
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// BackfillResult counts what a backfill did.
type BackfillResult struct {
	Scanned int  `json:"scanned"` // entries without a list place found
	Listed  int  `json:"listed"`  // entries given one
	Done    bool `json:"done"`    // false: stopped near the deadline; run it again
}

// backfillReserve is the time a backfill keeps in hand before its
// context's deadline, to finish the page it is on.
const backfillReserve = 10 * time.Second

// BackfillList gives every entry written before the list index its place
// in it: its partition (pinned or not), the conversation's last activity
// from the head, and no gsi3pk while it is still hidden. It runs once
// after the index is deployed, before clients rely on the list (an entry
// without a place is not listed until its next message); it can be run
// again and stopped at any time, and never moves an entry a write placed
// meanwhile (each update is conditional on the entry having no place).
// Cost: one Scan of the table, one BatchGetItem per 100 entries, one
// UpdateItem per entry. Near ctx's deadline it stops between pages
// (Done false); the next run goes on from what is still unplaced.
func BackfillList(ctx context.Context, db Scanner, table string) (BackfillResult, error) {
	var res BackfillResult
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		FilterExpression:          aws.String("begins_with(sk, :m) AND attribute_not_exists(gsi3sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":m": str(entryPrefix)},
	}
	for {
		out, err := db.Scan(ctx, in)
		if err != nil {
			return res, errs.Wrap(err, "scan entries")
		}
		entries := make([]entryRecord, len(out.Items))
		for i, it := range out.Items {
			if err := unmarshal(it, &entries[i]); err != nil {
				return res, err
			}
		}
		res.Scanned += len(entries)
		n, err := backfillEntries(ctx, db, table, entries)
		res.Listed += n
		if err != nil {
			return res, err
		}
		if len(out.LastEvaluatedKey) == 0 {
			res.Done = true
			return res, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < backfillReserve {
			return res, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func backfillEntries(ctx context.Context, db DB, table string, entries []entryRecord) (int, error) {
	seen := map[string]bool{}
	var keys []map[string]types.AttributeValue
	for _, e := range entries {
		if !seen[e.PK] {
			seen[e.PK] = true
			keys = append(keys, key(e.PK, headSK))
		}
	}
	items, err := batchGet(ctx, db, table, keys, false)
	if err != nil {
		return 0, err
	}
	heads := map[string]headRecord{}
	for _, it := range items {
		var h headRecord
		if err := unmarshal(it, &h); err != nil {
			return 0, err
		}
		heads[h.PK] = h
	}
	listed := 0
	for _, e := range entries {
		h, ok := heads[e.PK]
		if !ok {
			continue // a group whose creation did not finish
		}
		list := listPK(e.TenantID, e.MemberID)
		if e.Pinned {
			list = pinPK(e.TenantID, e.MemberID)
		}
		// A pin or unpin since the Scan has set listPk: it wins over the
		// pinned state scanned.
		upd := "SET listPk = if_not_exists(listPk, :list), gsi3pk = if_not_exists(listPk, :list), gsi3sk = :place, lastSeq = :n"
		if e.HiddenSeq != nil && h.Seq <= *e.HiddenSeq {
			upd = "SET listPk = if_not_exists(listPk, :list), gsi3sk = :place, lastSeq = :n" // hidden: placed, not listed
		}
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           aws.String(table),
			Key:                 key(e.PK, e.SK),
			UpdateExpression:    aws.String(upd),
			ConditionExpression: aws.String("attribute_exists(pk) AND attribute_not_exists(gsi3sk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":list": str(list), ":place": str(listSK(h.LastAt, h.ID)), ":n": num(h.Seq),
			},
		})
		switch {
		case err == nil:
			listed++
		case !dynamo.ConditionFailed(err):
			return listed, errs.Wrap(err, "place entry")
		}
	}
	return listed, nil
}
