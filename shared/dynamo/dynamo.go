// Package dynamo holds what every DynamoDB store shares: reading why a
// transaction was cancelled, the limits DynamoDB enforces (and the local
// emulator does not), and a middleware that counts round trips and items
// read, which the benchmarks report.
package dynamo

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Limits DynamoDB enforces. The local emulator accepts more, so stores
// check them themselves.
const (
	MaxTransactItems = 100
	MaxBatchWrite    = 25
	MaxBatchGet      = 100
)

// Cancelled returns the cancellation reason codes of a cancelled
// transaction, one per item in order ("None" for items that passed), or nil
// when err is not a cancelled transaction.
func Cancelled(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		if r.Code != nil {
			codes[i] = *r.Code
		}
	}
	return codes
}

// FailedCondition reports whether item i of a cancelled transaction failed
// its condition.
func FailedCondition(err error, i int) bool {
	codes := Cancelled(err)
	return i < len(codes) && codes[i] == "ConditionalCheckFailed"
}

// ConditionFailed reports whether err is a failed condition of a single
// write, or of any item of a transaction.
func ConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true
	}
	for _, c := range Cancelled(err) {
		if c == "ConditionalCheckFailed" {
			return true
		}
	}
	return false
}

// Conflicted reports whether a transaction lost a race with another one and
// may simply be retried.
func Conflicted(err error) bool {
	for _, c := range Cancelled(err) {
		if c == "TransactionConflict" {
			return true
		}
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "TransactionConflictException"
}

// Counter counts DynamoDB round trips and the items they read. Attach it
// with WithCounter; it is safe for concurrent use.
type Counter struct {
	mu    sync.Mutex
	calls map[string]int
	items int
}

// WithCounter returns a client option that feeds c.
func WithCounter(c *Counter) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("workbench-counter",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleInitialize(ctx, in)
					c.record(middleware.GetOperationName(ctx), out.Result)
					return out, md, err
				}), middleware.After)
		})
	}
}

func (c *Counter) record(op string, result any) {
	n := 0
	switch r := result.(type) {
	case *dynamodb.GetItemOutput:
		if r.Item != nil {
			n = 1
		}
	case *dynamodb.QueryOutput:
		n = int(r.ScannedCount)
	case *dynamodb.ScanOutput:
		n = int(r.ScannedCount)
	case *dynamodb.BatchGetItemOutput:
		for _, items := range r.Responses {
			n += len(items)
		}
	case *dynamodb.TransactGetItemsOutput:
		for _, resp := range r.Responses {
			if resp.Item != nil {
				n++
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
	c.items += n
}

// Calls returns the number of round trips so far, in all or of the named
// operations.
func (c *Counter) Calls(ops ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for op, n := range c.calls {
		if len(ops) == 0 {
			total += n
			continue
		}
		for _, want := range ops {
			if op == want {
				total += n
			}
		}
	}
	return total
}

// Items returns the number of items read so far (items scanned, for Query
// and Scan: what DynamoDB charges for).
func (c *Counter) Items() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.items
}

// Reset zeroes the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.items = nil, 0
}
