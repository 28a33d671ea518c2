package partner

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// DeliverEvent is the event of an immediate delivery request. The worker
// sweeps everything due when the event names no bindings (its schedule).
type DeliverEvent struct {
	Bindings []BindingKey `json:"bindings"`
}

// Invoker is the part of the Lambda client InvokeTrigger uses.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// InvokeTrigger starts the delivery function asynchronously (invocation
// type Event), so the API answers without waiting for partners.
type InvokeTrigger struct {
	Lambda   Invoker
	Function string
}

func (t *InvokeTrigger) Kick(ctx context.Context, keys []BindingKey) {
	payload, _ := json.Marshal(DeliverEvent{Bindings: keys})
	_, err := t.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(t.Function), InvocationType: types.InvocationTypeEvent, Payload: payload,
	})
	if err != nil {
		// The scheduled sweep delivers what this trigger missed.
		slog.WarnContext(ctx, "trigger partner sync", "error", err)
	}
}

// InlineTrigger delivers in this process: on the local stack, where
// there is no Lambda service to invoke. Async delivers in the background
// (the API answers first); otherwise delivery finishes before Kick returns.
type InlineTrigger struct {
	Worker *Worker
	Async  bool
}

func (t *InlineTrigger) Kick(ctx context.Context, keys []BindingKey) {
	run := func(ctx context.Context) {
		if _, err := t.Worker.Deliver(ctx, keys); err != nil {
			slog.WarnContext(ctx, "inline partner sync", "error", err)
		}
	}
	if t.Async {
		go run(context.WithoutCancel(ctx))
		return
	}
	run(ctx)
}
