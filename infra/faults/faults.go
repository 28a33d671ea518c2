// Package faults injects the failures AWS gives under load into a
// DynamoDB client, for tests: throttling, server errors and batches left
// partly unprocessed. The injector sits above the SDK's retryer, so each
// injected fault is what a handler sees after the SDK gave up retrying.
//
// Which calls fail is drawn from a seeded generator, so a test that makes
// its calls in the same order meets the same faults every run.
package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Kind is a kind of injected fault.
type Kind string

const (
	Throttled   Kind = "throttled"    // ProvisionedThroughputExceeded, ThrottlingException, RequestLimitExceeded, a transaction item throttled
	ServerError Kind = "server_error" // InternalServerError (HTTP 500)
	Partial     Kind = "partial"      // a batch with half its keys or writes unprocessed
)

// Injector fails a share of the calls of the clients it is attached to
// while it is armed. It is safe for concurrent use.
type Injector struct {
	mu       sync.Mutex
	rng      *rand.Rand
	rate     float64
	armed    bool
	calls    int
	injected map[Kind]int
	log      []string
}

// New returns a disarmed injector that, once armed, fails rate of the
// calls (0.1 for 10 %), drawn from seed.
func New(seed uint64, rate float64) *Injector {
	return &Injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), rate: rate, injected: map[Kind]int{}}
}

// Arm turns injection on or off.
func (f *Injector) Arm(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = on
}

// Counts returns the calls seen while armed and the faults injected, by
// kind.
func (f *Injector) Counts() (calls int, injected map[Kind]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[Kind]int, len(f.injected))
	for k, n := range f.injected {
		out[k] = n
	}
	return f.calls, out
}

// Drain returns the faults injected since the last Drain, as
// "Operation:kind", in order.
func (f *Injector) Drain() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	log := f.log
	f.log = nil
	return log
}

// DynamoDB returns a client option that attaches f.
func (f *Injector) DynamoDB() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("workbench-faults", f.handle), middleware.Before)
		})
	}
}

// draw decides the fate of one call: "" to let it through.
func (f *Injector) draw(op string) (Kind, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed {
		return "", 0
	}
	f.calls++
	if f.rng.Float64() >= f.rate {
		return "", 0
	}
	kind := []Kind{Throttled, ServerError, Partial}[f.rng.IntN(3)]
	if kind == Partial && op != "BatchGetItem" && op != "BatchWriteItem" {
		kind = Throttled
	}
	f.injected[kind]++
	f.log = append(f.log, op+":"+string(kind))
	return kind, f.rng.IntN(4)
}

func (f *Injector) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	op := middleware.GetOperationName(ctx)
	kind, variant := f.draw(op)
	fail := func(err error) (middleware.InitializeOutput, middleware.Metadata, error) {
		return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op, Err: err}
	}
	switch kind {
	case Throttled:
		return fail(throttle(op, in.Parameters, variant))
	case ServerError:
		return fail(&types.InternalServerError{Message: aws.String("injected: internal server error")})
	case Partial:
		return partial(ctx, in, next)
	}
	return next.HandleInitialize(ctx, in)
}

// throttle returns one of the throttling errors DynamoDB gives; for a
// transaction, sometimes a cancellation with one item throttled. (A
// transaction conflict is not injected: DynamoDB gives it only to a
// request racing another on the same items, and the stores answer it as
// the lost race it is; real races are what the concurrency tests run.)
func throttle(op string, params any, variant int) error {
	msg := aws.String("injected: " + op + " throttled")
	switch variant {
	case 0:
		return &types.ProvisionedThroughputExceededException{Message: msg}
	case 1:
		return &types.RequestLimitExceeded{Message: msg}
	case 2:
		if tx, ok := params.(*dynamodb.TransactWriteItemsInput); ok {
			reasons := make([]types.CancellationReason, len(tx.TransactItems))
			for i := range reasons {
				reasons[i].Code = aws.String("None")
			}
			reasons[len(reasons)-1].Code = aws.String("ThrottlingError")
			return &types.TransactionCanceledException{Message: msg, CancellationReasons: reasons}
		}
	}
	return &smithy.GenericAPIError{Code: "ThrottlingException", Message: *msg, Fault: smithy.FaultClient}
}

// partial sends half of a batch (possibly nothing) and answers the rest
// as unprocessed, as DynamoDB does when a table is at its limits.
func partial(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	switch p := in.Parameters.(type) {
	case *dynamodb.BatchGetItemInput:
		sent, rest, n := map[string]types.KeysAndAttributes{}, map[string]types.KeysAndAttributes{}, 0
		for table, ka := range p.RequestItems {
			half := len(ka.Keys) / 2
			if half > 0 {
				s := ka
				s.Keys = ka.Keys[:half]
				sent[table], n = s, n+half
			}
			r := ka
			r.Keys = ka.Keys[half:]
			rest[table] = r
		}
		out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
		cp := *p
		cp.RequestItems = sent
		if err := forward(ctx, in, next, n, &cp, &out); err != nil {
			return middleware.InitializeOutput{}, middleware.Metadata{}, err
		}
		out.UnprocessedKeys = merge(out.UnprocessedKeys, rest)
		return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
	case *dynamodb.BatchWriteItemInput:
		sent, rest, n := map[string][]types.WriteRequest{}, map[string][]types.WriteRequest{}, 0
		for table, ws := range p.RequestItems {
			half := len(ws) / 2
			if half > 0 {
				sent[table], n = ws[:half], n+half
			}
			rest[table] = ws[half:]
		}
		out := &dynamodb.BatchWriteItemOutput{}
		cp := *p
		cp.RequestItems = sent
		if err := forward(ctx, in, next, n, &cp, &out); err != nil {
			return middleware.InitializeOutput{}, middleware.Metadata{}, err
		}
		if out.UnprocessedItems == nil {
			out.UnprocessedItems = map[string][]types.WriteRequest{}
		}
		for table, ws := range rest {
			out.UnprocessedItems[table] = append(out.UnprocessedItems[table], ws...)
		}
		return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
	}
	return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("faults: %T is not a batch", in.Parameters)
}

// forward sends the part of a batch in params, when it holds n > 0 keys or
// writes, and stores the answer in *out; with nothing to send, *out is left
// as it is (everything unprocessed).
func forward[T any](ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler, n int, params any, out **T) error {
	if n == 0 {
		return nil
	}
	in.Parameters = params
	res, _, err := next.HandleInitialize(ctx, in)
	if err != nil {
		return err
	}
	*out = res.Result.(*T)
	return nil
}

func merge(a, b map[string]types.KeysAndAttributes) map[string]types.KeysAndAttributes {
	if a == nil {
		a = map[string]types.KeysAndAttributes{}
	}
	for table, ka := range b {
		if cur, ok := a[table]; ok {
			cur.Keys = append(cur.Keys, ka.Keys...)
			a[table] = cur
			continue
		}
		a[table] = ka
	}
	return a
}
