package billing_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"workbench/infra/stacktest"
)

// A subscription that changes between the scan's read and its write is
// read again and the step is still recorded once: the scan's conditional
// write is beaten by a write of the test's own, made just before it.
func TestScanRereadsASubscriptionChangedUnderIt(t *testing.T) {
	now := utc("2027-01-20T07:00:00Z")
	var armed atomic.Bool
	var db *dynamodb.Client // the test's own client, set once the stack is up
	interfere := func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("interfere",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					put, ok := in.Parameters.(*dynamodb.PutItemInput)
					if ok && aws.ToString(put.ConditionExpression) == "version = :v" && armed.CompareAndSwap(true, false) {
						_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
							TableName:                 put.TableName,
							Key:                       map[string]types.AttributeValue{"pk": put.Item["pk"], "sk": put.Item["sk"]},
							UpdateExpression:          aws.String("SET version = version + :one"),
							ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
						})
						if err != nil {
							return middleware.InitializeOutput{}, middleware.Metadata{}, err
						}
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	}
	h := newHarness(t, now, stacktest.WithDynamoDB(interfere))
	db = h.DynamoDB()
	a := h.newTenant(t, "stale")
	h.setSubscription(t, "stale", map[string]any{"plan": "std", "expiresAt": "2027-01-28T07:00:00Z"})
	before := len(h.SMS(t, a.AdminMobile))

	armed.Store(true)
	rep := h.scan(t, utc("2027-01-21T02:05:00Z"))
	if armed.Load() {
		t.Fatal("the scan wrote no subscription, so nothing changed under it")
	}
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "d7" {
		t.Fatalf("scan: %+v", rep)
	}
	if rep := h.scan(t, utc("2027-01-21T02:20:00Z")); len(rep.Notices) != 0 || rep.Due != 0 {
		t.Fatalf("the step was not recorded after the re-read: %+v", rep)
	}
	if got := len(h.SMS(t, a.AdminMobile)) - before; got != 1 {
		t.Fatalf("%d SMS, want 1", got)
	}
}
