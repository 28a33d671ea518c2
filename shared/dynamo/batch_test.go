package dynamo

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"workbench/shared/errs"
)

// lazyTable answers batches like DynamoDB under pressure: each call
// processes at most `take` keys or writes (all when take is 0) and leaves
// the rest unprocessed, for `stingy` calls; then it processes everything.
type lazyTable struct {
	take, stingy int
	err          error
	calls        int
	sizes        []int
	written      map[string]int
}

func key(i int) Item {
	return Item{"pk": &types.AttributeValueMemberS{Value: fmt.Sprint(i)}}
}

func (l *lazyTable) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	l.calls++
	if l.err != nil {
		return nil, l.err
	}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]Item{}, UnprocessedKeys: map[string]types.KeysAndAttributes{}}
	n := 0
	for table, ka := range in.RequestItems {
		n += len(ka.Keys)
		for i, k := range ka.Keys {
			if l.calls <= l.stingy && i >= l.take {
				rest := ka
				rest.Keys = ka.Keys[i:]
				out.UnprocessedKeys[table] = rest
				break
			}
			out.Responses[table] = append(out.Responses[table], k)
		}
	}
	l.sizes = append(l.sizes, n)
	return out, nil
}

func (l *lazyTable) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	l.calls++
	if l.err != nil {
		return nil, l.err
	}
	out := &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{}}
	n := 0
	for table, ws := range in.RequestItems {
		n += len(ws)
		for i, w := range ws {
			if l.calls <= l.stingy && i >= l.take {
				out.UnprocessedItems[table] = ws[i:]
				break
			}
			l.written[table+"/"+w.PutRequest.Item["pk"].(*types.AttributeValueMemberS).Value]++
		}
	}
	l.sizes = append(l.sizes, n)
	return out, nil
}

func keys(n int) []Item {
	ks := make([]Item, n)
	for i := range ks {
		ks[i] = key(i)
	}
	return ks
}

func TestBatchGetChunksAndFollowsUnprocessedKeys(t *testing.T) {
	cases := []struct {
		name          string
		a, b          int // keys of tables a and b
		take, stingy  int
		wantCalls     int
		wantFirstSize int
	}{
		{"one call when all fits", 40, 30, 0, 0, 1, 70},
		{"100 keys a call across tables", 150, 60, 0, 0, 3, 100},
		{"unprocessed keys asked again", 10, 5, 3, 2, 3, 15},
		{"no keys, no call", 0, 0, 0, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := &lazyTable{take: c.take, stingy: c.stingy}
			req := map[string]types.KeysAndAttributes{}
			if c.a > 0 {
				req["a"] = types.KeysAndAttributes{Keys: keys(c.a)}
			}
			if c.b > 0 {
				req["b"] = types.KeysAndAttributes{Keys: keys(c.b)}
			}
			got, err := BatchGet(context.Background(), db, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(got["a"]) != c.a || len(got["b"]) != c.b {
				t.Fatalf("got %d and %d items, want %d and %d", len(got["a"]), len(got["b"]), c.a, c.b)
			}
			if db.calls != c.wantCalls {
				t.Fatalf("%d calls, want %d", db.calls, c.wantCalls)
			}
			for _, n := range db.sizes {
				if n > MaxBatchGet {
					t.Fatalf("a call asked %d keys", n)
				}
			}
			if c.wantCalls > 0 && db.sizes[0] != c.wantFirstSize {
				t.Fatalf("first call asked %d keys, want %d", db.sizes[0], c.wantFirstSize)
			}
		})
	}
}

func TestBatchGivesUpAfterBoundedAttempts(t *testing.T) {
	db := &lazyTable{}
	_, err := BatchGet(context.Background(), &neverGet{db}, map[string]types.KeysAndAttributes{"a": {Keys: keys(3)}})
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("err %v, want Unavailable", err)
	}
	if db.calls != batchAttempts {
		t.Fatalf("%d calls, want %d", db.calls, batchAttempts)
	}
	db.calls = 0
	w := []types.WriteRequest{{PutRequest: &types.PutRequest{Item: key(1)}}}
	err = BatchWrite(context.Background(), &neverWrite{db}, map[string][]types.WriteRequest{"a": w})
	if errs.KindOf(err) != errs.Unavailable || db.calls != batchAttempts {
		t.Fatalf("write: err %v after %d calls", err, db.calls)
	}
}

// neverGet and neverWrite leave every key and write unprocessed.
type neverGet struct{ *lazyTable }

func (n *neverGet) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	n.calls++
	return &dynamodb.BatchGetItemOutput{UnprocessedKeys: in.RequestItems}, nil
}

type neverWrite struct{ *lazyTable }

func (n *neverWrite) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	n.calls++
	return &dynamodb.BatchWriteItemOutput{UnprocessedItems: in.RequestItems}, nil
}

func TestBatchHonoursTheDeadline(t *testing.T) {
	// A deadline closer than the first wait: no wait, one call, "try again".
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	db := &lazyTable{}
	_, err := BatchGet(ctx, &neverGet{db}, map[string]types.KeysAndAttributes{"a": {Keys: keys(3)}})
	if errs.KindOf(err) != errs.Unavailable || db.calls > 1 {
		t.Fatalf("err %v after %d calls", err, db.calls)
	}
	// A context already done: no call at all.
	done, cancelNow := context.WithCancel(context.Background())
	cancelNow()
	db.calls = 0
	if _, err := BatchGet(done, db, map[string]types.KeysAndAttributes{"a": {Keys: keys(3)}}); err == nil || db.calls != 0 {
		t.Fatalf("err %v after %d calls", err, db.calls)
	}
}

func TestBatchWriteChunksAndRetries(t *testing.T) {
	db := &lazyTable{take: 10, stingy: 2, written: map[string]int{}}
	var ws []types.WriteRequest
	for i := range 60 {
		ws = append(ws, types.WriteRequest{PutRequest: &types.PutRequest{Item: key(i)}})
	}
	if err := BatchWrite(context.Background(), db, map[string][]types.WriteRequest{"a": ws[:40], "b": ws[40:]}); err != nil {
		t.Fatal(err)
	}
	if len(db.written) != 60 {
		t.Fatalf("%d items written, want 60", len(db.written))
	}
	for k, n := range db.written {
		if n != 1 {
			t.Fatalf("%s written %d times", k, n)
		}
	}
	for _, n := range db.sizes {
		if n > MaxBatchWrite {
			t.Fatalf("a call wrote %d items", n)
		}
	}
}

func TestBatchErrorsAreClassified(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Fault: smithy.FaultClient}
	invalid := &smithy.GenericAPIError{Code: "ValidationException", Fault: smithy.FaultClient}
	for _, c := range []struct {
		err  error
		want errs.Kind
	}{{throttled, errs.Unavailable}, {invalid, errs.Internal}, {errors.New("boom"), errs.Internal}} {
		_, err := BatchGet(context.Background(), &lazyTable{err: c.err}, map[string]types.KeysAndAttributes{"a": {Keys: keys(1)}})
		if errs.KindOf(err) != c.want {
			t.Errorf("%v: kind %v, want %v", c.err, errs.KindOf(err), c.want)
		}
	}
}
