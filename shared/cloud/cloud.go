// Package cloud builds, once per cold start, what a function needs from AWS:
// the SDK configuration and clients, and the secrets it is allowed to read.
//
// Where the clients point is configuration only: AWS_ENDPOINT_URL and
// AWS_REGION in the function's environment. On the local stack they name
// the local emulator; in the cloud they are unset and the SDK's defaults
// apply. No function branches on where it runs.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"workbench/shared/config"
)

// Env is a function's view of the cloud: its settings and its clients.
type Env struct {
	Config   config.Source
	AWS      aws.Config
	DynamoDB *dynamodb.Client
	SNS      *sns.Client
	Secrets  *secretsmanager.Client

	// Now is the clock every domain service built from this Env uses; tests
	// replace it to move time.
	Now func() time.Time

	mu          sync.Mutex
	cache       map[string]string // secret id → text
	secretTrips atomic.Int32
}

// Load reads the AWS settings from src and builds the clients. It makes no
// network call.
func Load(ctx context.Context, src config.Source, optFns ...func(*awsconfig.LoadOptions) error) (*Env, error) {
	// awshttp's buildable client, not a plain http.Client: the SDK panics
	// when AWS_CA_BUNDLE is set and the client cannot take a CA pool.
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient()),
		awsconfig.WithRetryer(newRetryer),
	}
	if region := src("AWS_REGION"); region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if endpoint := src("AWS_ENDPOINT_URL"); endpoint != "" {
		opts = append(opts, awsconfig.WithBaseEndpoint(endpoint))
	}
	opts = append(opts, optFns...)
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloud: load AWS configuration: %w", err)
	}
	return &Env{
		Config:   src,
		AWS:      cfg,
		DynamoDB: dynamodb.NewFromConfig(cfg),
		SNS:      sns.NewFromConfig(cfg),
		Secrets:  secretsmanager.NewFromConfig(cfg),
		Now:      time.Now,
		cache:    map[string]string{},
	}, nil
}

// The SDK retries throttling, 5xx and transport errors itself, at most
// retryAttempts times in all; the cap on its wait (20 s by default) keeps
// the retries inside a function's timeout, so that what is still failing
// reaches the handler in time to answer 503 with Retry-After.
const (
	retryAttempts   = 3
	retryMaxBackoff = time.Second
)

func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = retryAttempts
		o.MaxBackoff = retryMaxBackoff
	})
}

// Secret returns the text of the Secrets Manager secret whose id (name or
// ARN) is in the setting named setting. Secrets are read once per cold
// start; a builder reads all of its secrets first with Prefetch, so that
// this finds them cached.
func (e *Env) Secret(ctx context.Context, setting string) (string, error) {
	if err := e.Prefetch(ctx, setting); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cache[strings.TrimSpace(e.Config(setting))], nil
}

// Prefetch reads the secrets named by the settings that are not read yet,
// concurrently: a cold start waits for one round trip, however many
// secrets its function has. (Concurrent GetSecretValue calls rather than
// one BatchGetSecretValue, which IAM can only grant on every secret.)
func (e *Env) Prefetch(ctx context.Context, settings ...string) error {
	type read struct{ setting, id, value string }
	var todo []*read
	var errs []error
	e.mu.Lock()
	seen := map[string]bool{}
	for _, setting := range settings {
		id := strings.TrimSpace(e.Config(setting))
		switch _, cached := e.cache[id]; {
		case id == "":
			errs = append(errs, fmt.Errorf("%s is required (the id of a secret)", setting))
		case !cached && !seen[id]:
			seen[id] = true
			todo = append(todo, &read{setting: setting, id: id})
		}
	}
	e.mu.Unlock()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(todo) == 0 {
		return nil
	}
	e.secretTrips.Add(1)
	errs = make([]error, len(todo))
	var wg sync.WaitGroup
	for i, r := range todo {
		wg.Go(func() {
			out, err := e.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.id)})
			if err != nil {
				errs[i] = fmt.Errorf("read secret named by %s: %w", r.setting, err)
				return
			}
			r.value = aws.ToString(out.SecretString)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range todo {
		e.cache[r.id] = r.value
	}
	return nil
}

// SecretTrips is how many times this Env waited for Secrets Manager: the
// cold-start budget allows one.
func (e *Env) SecretTrips() int { return int(e.secretTrips.Load()) }

type functionKey struct{}

// AsFunction marks ctx as work that another function of the template (by
// logical id) does in AWS and this process does in its stead: the local
// stack's in-process partner delivery. Tools that attribute AWS calls to
// functions (the local stack's IAM recorder) read it with FunctionOf.
func AsFunction(ctx context.Context, logicalID string) context.Context {
	return context.WithValue(ctx, functionKey{}, logicalID)
}

// FunctionOf returns the logical id AsFunction put in ctx, or "".
func FunctionOf(ctx context.Context) string {
	id, _ := ctx.Value(functionKey{}).(string)
	return id
}
