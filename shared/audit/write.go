package audit

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Transactor runs DynamoDB transactions.
type Transactor interface {
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// attempts bounds Write's tries: concurrent admin changes of a tenant take
// turns on its chain.
const attempts = 10

// Write runs items and the entry of c as one transaction, for stores whose
// change is one transaction that can be sent again as it is. When only the
// entry failed (another entry came first), it appends again and retries.
// Any other failure is returned as DynamoDB gave it, with the change's
// items at the indexes they were given, so callers read cancellation
// reasons as before. With nothing to audit (nil Log, no acting admin) it
// runs items alone.
func (l *Log) Write(ctx context.Context, db Transactor, tenantID string, c Change, items ...types.TransactWriteItem) error {
	var err error
	for i := 0; i < attempts; i++ {
		entry, aerr := l.Append(ctx, tenantID, c)
		if aerr != nil {
			return aerr
		}
		all := append(append(make([]types.TransactWriteItem, 0, len(items)+len(entry)), items...), entry...)
		_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: all})
		if err == nil || len(entry) == 0 || !lostChain(err, len(items)) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(5*(i+1))*time.Millisecond + rand.N(time.Duration(10*(i+1))*time.Millisecond)):
		}
	}
	return errBusy
}

var errBusy = errs.E(errs.Conflict, "concurrent_change", "other admin changes of the tenant were being recorded at the same time; try again")

// lostChain reports whether a cancelled transaction failed only on the
// audit items from index n on, or on a conflict with another transaction.
func lostChain(err error, n int) bool {
	if dynamo.Conflicted(err) {
		return true
	}
	codes := dynamo.Cancelled(err)
	if len(codes) <= n {
		return false
	}
	for i, code := range codes {
		if code == "ConditionalCheckFailed" && i < n {
			return false
		}
	}
	return codes[n] == "ConditionalCheckFailed" || codes[n+1] == "ConditionalCheckFailed"
}
