// Package billingfn builds the subscription functions:
// SubscriptionFunction and the ExpiryScanFunction sweep.
package billingfn

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/auth"
	"workbench/shared/billing"
	"workbench/shared/billing/billinghttp"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/httpapi"
	"workbench/shared/lambdahttp"
	"workbench/shared/notice"
	"workbench/shared/stack/wire"
)

// Subscription serves the operator's subscription route and the admins'
// subscription and expiry notice settings.
func Subscription(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	tenantsTable := c.Required("TENANTS_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	shards := c.Int("INDEX_SHARDS", dynamo.DefaultShards)
	if err := c.Err(); err != nil {
		return nil, err
	}
	if err := env.Prefetch(ctx, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET", "TOKEN_KEY_SECRET", "OPERATOR_KEY_SECRET"); err != nil {
		return nil, err
	}
	codec, err := wire.DirectoryCodec(ctx, env, directoryTable)
	if err != nil {
		return nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	operatorKey, err := env.Secret(ctx, "OPERATOR_KEY_SECRET")
	if err != nil {
		return nil, err
	}
	auditLog, err := wire.AuditLog(env)
	if err != nil {
		return nil, err
	}
	svc := &billing.Service{
		Store:     &billing.DynamoStore{DB: env.DynamoDB, Table: tenantsTable, Directory: codec, Shards: shards, Audit: auditLog},
		Directory: &directory.Roster{DB: env.DynamoDB, Table: directoryTable, Codec: codec},
		Now:       env.Now,
	}
	r := httpapi.NewRouter()
	(&billinghttp.HTTP{Service: svc, Operator: auth.NewOperator(operatorKey), Members: members}).Register(r)
	return lambdahttp.Handler(r), nil
}

// ExpiryScan sends the expiry notices due at the EventBridge event's time,
// so that invoking it with any time replays that moment.
func ExpiryScan(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	tenantsTable := c.Required("TENANTS_TABLE")
	noticesTable := c.Required("NOTICES_TABLE")
	lease := c.Duration("EXPIRY_CLAIM_LEASE", billing.DefaultLease)
	sw, err := wire.NewSweep(ctx, env, c)
	if err != nil {
		return nil, err
	}
	sc := &billing.Scanner{
		Store:     &billing.DynamoStore{DB: env.DynamoDB, Table: tenantsTable, Directory: sw.Codec, Shards: sw.Shards},
		Directory: &directory.Roster{DB: env.DynamoDB, Table: sw.DirectoryTable, Codec: sw.Codec},
		SMS:       sw.SMS,
		Notices:   &notice.DynamoStore{DB: env.DynamoDB, Table: noticesTable},
		Clock:     env.Now,
		Lease:     lease,
	}
	return lambda.NewHandler(func(ctx context.Context, ev events.EventBridgeEvent) (billing.Report, error) {
		now := ev.Time
		if now.IsZero() {
			// A hand-made event without a time means "now".
			now = env.Now()
		}
		return sc.Scan(ctx, now.Truncate(time.Second))
	}), nil
}
