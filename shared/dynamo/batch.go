package dynamo

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// Item is one DynamoDB item.
type Item = map[string]types.AttributeValue

// BatchGetter is the part of a DynamoDB client BatchGet needs.
type BatchGetter interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// BatchWriter is the part of a DynamoDB client BatchWrite needs.
type BatchWriter interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// What DynamoDB leaves unprocessed is asked again at most batchAttempts-1
// times, after waits that double from batchBackoff (with jitter, so that
// throttled callers do not come back in step): a bounded wait, well inside
// a function's timeout, after which the caller answers "try again" rather
// than holding the request.
const (
	batchAttempts   = 5
	batchBackoff    = 25 * time.Millisecond
	batchMaxBackoff = 400 * time.Millisecond
)

// BatchGet reads every key of req (table → keys, with their projection and
// read consistency), at most MaxBatchGet keys a round trip, and returns the
// items found, by table, in no particular order. Keys DynamoDB leaves
// unprocessed are asked again after a growing, jittered wait, a bounded
// number of times and never past ctx's deadline; then BatchGet fails with
// an Unavailable error.
func BatchGet(ctx context.Context, db BatchGetter, req map[string]types.KeysAndAttributes) (map[string][]Item, error) {
	got := map[string][]Item{}
	for _, chunk := range getChunks(req) {
		for attempt := 0; len(chunk) > 0; attempt++ {
			if err := pause(ctx, attempt); err != nil {
				return nil, err
			}
			out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: chunk})
			if err != nil {
				return nil, errs.Wrap(err, "batch get")
			}
			for table, items := range out.Responses {
				got[table] = append(got[table], items...)
			}
			chunk = out.UnprocessedKeys
		}
	}
	return got, nil
}

// BatchWrite applies every write of req (table → puts and deletes), at
// most MaxBatchWrite a round trip, retrying what DynamoDB leaves
// unprocessed as BatchGet does. Writes are not atomic: when it fails, some
// chunks may be written, so callers write only what is safe to write again.
func BatchWrite(ctx context.Context, db BatchWriter, req map[string][]types.WriteRequest) error {
	for _, chunk := range writeChunks(req) {
		for attempt := 0; len(chunk) > 0; attempt++ {
			if err := pause(ctx, attempt); err != nil {
				return err
			}
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: chunk})
			if err != nil {
				return errs.Wrap(err, "batch write")
			}
			chunk = out.UnprocessedItems
		}
	}
	return nil
}

// getChunks splits req into requests of at most MaxBatchGet keys, tables
// in name order, keeping each table's projection and consistency.
func getChunks(req map[string]types.KeysAndAttributes) []map[string]types.KeysAndAttributes {
	var chunks []map[string]types.KeysAndAttributes
	cur, n := map[string]types.KeysAndAttributes{}, 0
	for _, table := range sortedKeys(req) {
		ka := req[table]
		keys := ka.Keys
		for len(keys) > 0 {
			take := min(len(keys), MaxBatchGet-n)
			part := ka
			part.Keys = keys[:take]
			cur[table] = part
			keys, n = keys[take:], n+take
			if n == MaxBatchGet {
				chunks = append(chunks, cur)
				cur, n = map[string]types.KeysAndAttributes{}, 0
			}
		}
	}
	if n > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// writeChunks splits req into requests of at most MaxBatchWrite writes.
func writeChunks(req map[string][]types.WriteRequest) []map[string][]types.WriteRequest {
	var chunks []map[string][]types.WriteRequest
	cur, n := map[string][]types.WriteRequest{}, 0
	for _, table := range sortedKeys(req) {
		writes := req[table]
		for len(writes) > 0 {
			take := min(len(writes), MaxBatchWrite-n)
			cur[table] = writes[:take]
			writes, n = writes[take:], n+take
			if n == MaxBatchWrite {
				chunks = append(chunks, cur)
				cur, n = map[string][]types.WriteRequest{}, 0
			}
		}
	}
	if n > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pause waits before attempt (the first goes at once), or fails when the
// attempts are used up or the wait would outlast ctx.
func pause(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return ctx.Err()
	}
	busy := errs.Unavailablef("the store is busy; try again")
	if attempt >= batchAttempts {
		return busy
	}
	d := min(batchBackoff<<(attempt-1), batchMaxBackoff)
	d = d/2 + rand.N(d/2+1) // "equal jitter": never less than half the step
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return busy
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		busy.Err = ctx.Err()
		return busy
	}
}
