// Package partnerfn builds the partner functions: PartnerFunction (the
// operator's, partners' and tenant admins' partner routes),
// MarketplaceFunction (signed instance callbacks) and PartnerSyncFunction
// (the delivery worker). Only these link the Lambda client, which the
// immediate sync trigger invokes.
package partnerfn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"workbench/shared/auth"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/httpapi"
	"workbench/shared/keyring"
	"workbench/shared/lambdahttp"
	"workbench/shared/partner"
	"workbench/shared/stack/wire"
	"workbench/shared/tenant"
)

// partnerParts are what the partner functions share.
type partnerParts struct {
	service *partner.Service
	worker  *partner.Worker
	store   *partner.DynamoStore
}

// partnerOutbound reads the outbound HTTP settings. The local overrides
// (PARTNER_EXTRA_CA, PARTNER_RESOLVE) are not in the template: the local
// stack and tests set them, and the reader refuses them in Lambda.
func partnerOutbound(c *config.Reader) (partner.Outbound, error) {
	ca, err := partner.ReadCA(c.LocalOnly("PARTNER_EXTRA_CA"))
	if err != nil {
		return partner.Outbound{}, fmt.Errorf("PARTNER_EXTRA_CA: %w", err)
	}
	resolve, err := partner.ParseResolve(c.LocalOnly("PARTNER_RESOLVE"))
	if err != nil {
		return partner.Outbound{}, fmt.Errorf("PARTNER_RESOLVE: %w", err)
	}
	return partner.Outbound{
		ExtraCA: ca, Resolve: resolve,
		Timeout: c.Duration("PARTNER_TIMEOUT", partner.DefaultTimeout),
	}, nil
}

// parseSchedule reads PARTNER_RETRY_SCHEDULE, e.g. "5s,30s,2m"; empty is
// the protocol's schedule.
func parseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("PARTNER_RETRY_SCHEDULE must be positive durations separated by commas, such as 5s,30s,2m; not %q", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// buildPartner builds the service and worker. The delivery function binds
// no apps, so it reads no tenants (worker true): least privilege.
func buildPartner(ctx context.Context, env *cloud.Env, worker bool, secrets ...string) (*partnerParts, error) {
	c := config.NewReader(env.Config)
	table := c.Required("PARTNERS_TABLE")
	tenantsTable := ""
	if !worker {
		tenantsTable = c.Required("TENANTS_TABLE")
	}
	directoryTable := c.Required("DIRECTORY_TABLE")
	loginURL := c.String("LOGIN_URL_TEMPLATE", wire.DefaultLoginURL)
	testFlag := c.Int("PARTNER_TEST_FLAG", 0)
	trigger := c.Required("PARTNER_SYNC_TRIGGER")
	syncFunction := c.String("PARTNER_SYNC_FUNCTION", "")
	shards := c.Int("INDEX_SHARDS", dynamo.DefaultShards)
	out, err := partnerOutbound(c)
	if err != nil {
		return nil, err
	}
	schedule, err := parseSchedule(c.String("PARTNER_RETRY_SCHEDULE", ""))
	if err != nil {
		return nil, err
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if err := env.Prefetch(ctx, append(secrets, "DATA_KEYS_SECRET", "INDEX_KEY_SECRET")...); err != nil {
		return nil, err
	}
	codec, err := wire.DirectoryCodec(ctx, env, directoryTable)
	if err != nil {
		return nil, err
	}
	data, err := env.Secret(ctx, "DATA_KEYS_SECRET")
	if err != nil {
		return nil, err
	}
	keys, err := keyring.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("DATA_KEYS_SECRET: %w", err)
	}
	client, err := partner.NewClient(out)
	if err != nil {
		return nil, err
	}
	store := &partner.DynamoStore{DB: env.DynamoDB, Table: table, Shards: shards}
	dir := &partner.RosterDirectory{Roster: &directory.Roster{DB: env.DynamoDB, Table: codec.Table, Codec: codec}}
	w := &partner.Worker{Store: store, Keys: keys, Client: client, Now: env.Now, Schedule: schedule}
	svc := &partner.Service{
		Store:     store,
		Directory: dir,
		Events:    dir,
		Keys:      keys,
		LoginURL:  loginURL,
		Now:       env.Now,
		TestFlag:  testFlag,
	}
	if !worker {
		svc.Tenants = &tenant.DynamoStore{DB: env.DynamoDB, Table: tenantsTable}
	}
	// The immediate trigger (PARTNER_SYNC_TRIGGER): invoke, an asynchronous
	// invoke of the sync function (the template's); async or inline,
	// delivery in this process after or before answering (the local stack,
	// which has no Lambda service, and tests); none, the schedule only.
	switch trigger {
	case "invoke":
		if syncFunction == "" {
			return nil, fmt.Errorf("PARTNER_SYNC_FUNCTION is required when PARTNER_SYNC_TRIGGER is invoke")
		}
		svc.Trigger = &partner.InvokeTrigger{Lambda: awslambda.NewFromConfig(env.AWS), Function: syncFunction}
	case "async":
		svc.Trigger = inProcessDelivery{&partner.InlineTrigger{Worker: w, Async: true}}
	case "inline":
		svc.Trigger = inProcessDelivery{&partner.InlineTrigger{Worker: w}}
	case "none":
	default:
		return nil, fmt.Errorf("PARTNER_SYNC_TRIGGER must be invoke, async, inline or none, not %q", trigger)
	}
	return &partnerParts{service: svc, worker: w, store: store}, nil
}

// inProcessDelivery delivers in this process what the delivery function
// does in AWS, so its AWS calls are marked as that function's.
type inProcessDelivery struct{ partner.Trigger }

func (t inProcessDelivery) Kick(ctx context.Context, keys []partner.BindingKey) {
	t.Trigger.Kick(cloud.AsFunction(ctx, "PartnerSyncFunction"), keys)
}

// Partner serves the operator's partner route, the partners' app route and
// the tenant admins' app routes.
func Partner(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	parts, err := buildPartner(ctx, env, false, "TOKEN_KEY_SECRET", "OPERATOR_KEY_SECRET")
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
	if parts.store.Audit, err = wire.AuditLog(env); err != nil {
		return nil, err
	}
	r := httpapi.NewRouter()
	operator := auth.NewOperator(operatorKey)
	(&partner.HTTP{Service: parts.service, Operator: operator, Admins: members}).Register(r)
	return wire.IdempotentHandler(env, r, members, operator, partner.IdempotencyScope)
}

// Marketplace serves the marketplace's signed instance callbacks.
func Marketplace(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	parts, err := buildPartner(ctx, env, false, "MARKETPLACE_KEY_SECRET")
	if err != nil {
		return nil, err
	}
	key, err := env.Secret(ctx, "MARKETPLACE_KEY_SECRET")
	if err != nil {
		return nil, err
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("MARKETPLACE_KEY_SECRET: the key is shorter than 16 characters")
	}
	r := httpapi.NewRouter()
	(&partner.HTTP{Service: parts.service, Marketplace: &partner.Verifier{
		Key: key, Nonces: parts.service.Store, Now: env.Now,
	}}).Register(r)
	return lambdahttp.Handler(r), nil
}

// PartnerSync is the delivery worker. An event naming bindings (the
// immediate trigger) delivers those; any other event (the EventBridge
// schedule) sweeps every binding with a call due.
func PartnerSync(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	parts, err := buildPartner(ctx, env, true)
	if err != nil {
		return nil, err
	}
	return lambda.NewHandler(func(ctx context.Context, ev json.RawMessage) (partner.Stats, error) {
		start := time.Now()
		var in partner.DeliverEvent
		_ = json.Unmarshal(ev, &in)
		var st partner.Stats
		var err error
		if len(in.Bindings) > 0 {
			st, err = parts.worker.Deliver(ctx, in.Bindings)
		} else {
			// Directory changes become calls first, so this sweep sends them.
			if _, err := parts.service.SyncDirectory(ctx); err != nil {
				return st, err
			}
			st, err = parts.worker.Sweep(ctx)
		}
		slog.InfoContext(ctx, "partner sync", "bindings", st.Bindings, "sent", st.Sent, "retried", st.Retried,
			"failed", st.Failed, "skipped", st.Skipped, "ms", time.Since(start).Milliseconds())
		return st, err
	}), nil
}
