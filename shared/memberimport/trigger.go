package memberimport

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"workbench/shared/errs"
)

// Event is the payload that starts (or continues) a job's run.
type Event struct {
	TenantID string `json:"tenantId"`
	JobID    string `json:"jobId"`
}

// Trigger starts a run of a job apart from the caller.
type Trigger interface {
	Start(ctx context.Context, tenantID, jobID string) error
}

// Invoker is the part of the Lambda client InvokeTrigger uses.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// InvokeTrigger invokes the job function asynchronously (invocation type
// Event): Lambda queues the event and retries a failed run twice.
type InvokeTrigger struct {
	Lambda   Invoker
	Function string
}

func (t *InvokeTrigger) Start(ctx context.Context, tenantID, jobID string) error {
	payload, _ := json.Marshal(Event{TenantID: tenantID, JobID: jobID})
	_, err := t.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(t.Function), InvocationType: types.InvocationTypeEvent, Payload: payload,
	})
	return errs.Wrap(err, "invoke import job")
}

// LocalTrigger runs the job in this process, in the background: on the
// local stack and in tests, where there is no Lambda service to invoke.
type LocalTrigger struct {
	Runner *Runner
	wg     sync.WaitGroup
}

func (t *LocalTrigger) Start(ctx context.Context, tenantID, jobID string) error {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := t.Runner.Run(context.WithoutCancel(ctx), tenantID, jobID); err != nil {
			slog.WarnContext(ctx, "import run failed", "tenant", tenantID, "import", jobID, "error", err)
		}
	}()
	return nil
}

// Wait waits for the runs started so far, and those they hand over to.
func (t *LocalTrigger) Wait() { t.wg.Wait() }

// Waiting starts nothing: the job waits for an invocation of the job
// function with its Event (tests that invoke it as Lambda would, so that
// its AWS calls are the job function's).
type Waiting struct{}

func (Waiting) Start(context.Context, string, string) error { return nil }
