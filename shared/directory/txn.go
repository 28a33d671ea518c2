package directory

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// DB is the part of the DynamoDB client the directory uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// txn is a transaction under construction that remembers, for each item,
// the error its failed condition means.
type txn struct {
	items []types.TransactWriteItem
	why   []error // nil: a failed condition is a lost race, retry
}

func (t *txn) add(why error, items ...types.TransactWriteItem) {
	for _, it := range items {
		t.items = append(t.items, it)
		t.why = append(t.why, why)
	}
}

// addExtras adds callers' updates of other tables' items, each with the
// error its failed condition means.
func (t *txn) addExtras(extra []Extra) error {
	for _, x := range extra {
		it, err := x.Update.Item()
		if err != nil {
			return errs.Wrap(err, "encode extra update")
		}
		t.add(x.Err, it)
	}
	return nil
}

// errRetry says a transaction lost a race and may be rebuilt and retried.
var errRetry = errs.E(errs.Conflict, "concurrent_change", "the directory changed at the same time; try again")

// run writes the transaction; a failed condition becomes its error, a lost
// race errRetry.
func (t *txn) run(ctx context.Context, db DB) error {
	if len(t.items) > dynamo.MaxTransactItems {
		return errs.E(errs.Invalid, "too_many_changes", "this change touches %d items, more than one transaction holds", len(t.items))
	}
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: t.items})
	if err == nil {
		return nil
	}
	for i, code := range dynamo.Cancelled(err) {
		if code == "ConditionalCheckFailed" {
			if t.why[i] != nil {
				return t.why[i]
			}
			return errRetry
		}
	}
	if dynamo.Conflicted(err) {
		return errRetry
	}
	return errs.Wrap(err, "write directory transaction")
}

// retries bounds retry. Every admin change of a tenant appends to the
// tenant's audit chain, so concurrent admin changes of one tenant take
// turns: n of them need up to n rounds.
const retries = 10

// retry runs f until it does not lose a race, a few times, waiting a
// growing and jittered while between tries so that the losers of one
// round do not meet again in the next.
func retry(ctx context.Context, f func() error) error {
	var err error
	for i := 0; i < retries; i++ {
		if err = f(); err != errRetry {
			return err
		}
		wait := time.Duration(5*(i+1))*time.Millisecond + rand.N(time.Duration(10*(i+1))*time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return err
}
