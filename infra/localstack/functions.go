package localstack

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/shared/cloud"
	"workbench/shared/config"
)

// Builder builds one function's handler from its environment, as a
// function's main does at cold start. It has the shape of
// workbench/shared/stack.Builder, which this package does not import so
// that it builds while the domain packages do not.
type Builder func(ctx context.Context, env *cloud.Env) (lambda.Handler, error)

// Function is a built function of the stack.
type Function struct {
	LogicalID string
	ARN       string
	Timeout   time.Duration
	Handler   lambda.Handler
}

// Build builds every function of the template with the builder of the same
// logical id, each from its own environment (see Env), once. It fails when
// a template function has no builder or a builder has no template
// function: the two lists must not drift apart.
func (s *Stack) Build(ctx context.Context, builders map[string]Builder) (map[string]*Function, error) {
	var missing, extra []string
	for _, fn := range s.cfg.Template.Functions {
		if _, ok := builders[fn.LogicalID]; !ok {
			missing = append(missing, fn.LogicalID)
		}
	}
	for id := range builders {
		if _, ok := s.cfg.Template.Function(id); !ok {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		slices.Sort(extra)
		var msg []string
		if len(missing) > 0 {
			msg = append(msg, "template functions without a builder: "+strings.Join(missing, ", "))
		}
		if len(extra) > 0 {
			msg = append(msg, "builders without a template function: "+strings.Join(extra, ", "))
		}
		return nil, fmt.Errorf("localstack: %s", strings.Join(msg, "; "))
	}

	fns := make(map[string]*Function, len(builders))
	for _, tf := range s.cfg.Template.Functions {
		vars, err := s.Env(tf.LogicalID)
		if err != nil {
			return nil, err
		}
		// The credentials are given outright rather than left to the
		// default chain, so that a developer's own AWS credentials or
		// profile never sign a local call.
		opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""))}
		if s.cfg.Recorder != nil {
			opts = append(opts, s.cfg.Recorder.Option(tf.LogicalID, s.templateARN))
		}
		env, err := cloud.Load(ctx, config.Map(vars), opts...)
		if err != nil {
			return nil, fmt.Errorf("localstack: %s: %w", tf.LogicalID, err)
		}
		if s.cfg.Now != nil {
			env.Now = s.cfg.Now
		}
		if len(s.cfg.DynamoDBOptions) > 0 {
			env.DynamoDB = dynamodb.New(env.DynamoDB.Options(), s.cfg.DynamoDBOptions...)
		}
		h, err := builders[tf.LogicalID](ctx, env)
		if err != nil {
			return nil, fmt.Errorf("localstack: build %s: %w", tf.LogicalID, err)
		}
		if h == nil {
			return nil, fmt.Errorf("localstack: build %s: the builder returned no handler", tf.LogicalID)
		}
		arn, _ := s.resolver.GetAtt(tf.LogicalID, "Arn")
		fns[tf.LogicalID] = &Function{
			LogicalID: tf.LogicalID,
			ARN:       arn,
			Timeout:   time.Duration(tf.Timeout) * time.Second,
			Handler:   h,
		}
	}
	return fns, nil
}

// Invoke calls the handler with payload as Lambda would: with a Lambda
// context carrying a fresh request id and a deadline of the function's
// timeout. A panic becomes an error.
func (f *Function) Invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	if f.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.Timeout)
		defer cancel()
	}
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       uuid(),
		InvokedFunctionArn: f.ARN,
	})
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return f.Handler.Invoke(ctx, payload)
}

// PanicError is the error of an invocation whose handler panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// uuid returns a random (version 4) UUID, the form of Lambda's request ids.
func uuid() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
