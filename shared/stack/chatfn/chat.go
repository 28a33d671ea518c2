// Package chatfn builds the chat functions: ChatSendFunction,
// ChatFunction, the RocketReminderFunction sweep and the
// ChatFanoutFunction stream consumer.
package chatfn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/chat"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/httpapi"
	"workbench/shared/notice"
	"workbench/shared/stack/wire"
)

// chatService is the chat service over its DynamoStore, which Chat also
// gives the audit log.
func chatService(ctx context.Context, env *cloud.Env) (*chat.Service, *chat.DynamoStore, error) {
	c := config.NewReader(env.Config)
	chatTable := c.Required("CHAT_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	shards := c.Int("INDEX_SHARDS", dynamo.DefaultShards)
	if err := c.Err(); err != nil {
		return nil, nil, err
	}
	// Chat only checks that members exist and are enabled, and bumps
	// frequent-contact counters: it needs the directory's keys, not its
	// data keys.
	dir := &directory.Codec{Table: directoryTable}
	store := &chat.DynamoStore{DB: env.DynamoDB, Table: chatTable, Directory: dir, Shards: shards}
	svc := &chat.Service{
		Store:    store,
		Now:      env.Now,
		Contacts: &directory.Contacts{Store: &directory.DynamoStore{DB: env.DynamoDB, Codec: dir}, Now: env.Now},
	}
	return svc, store, nil
}

// ChatSend serves sending: messages to a conversation and rocket messages.
func ChatSend(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	svc, _, err := chatService(ctx, env)
	if err != nil {
		return nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	r := httpapi.NewRouter()
	(&chat.HTTP{Service: svc, Auth: members}).RegisterSend(r)
	return wire.IdempotentHandler(env, r, members, nil)
}

// Chat serves conversations, history, read state, pin and delete, group
// management, the notice inbox and the tenant's chat settings.
func Chat(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	noticesTable := c.Required("NOTICES_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	svc, store, err := chatService(ctx, env)
	if err != nil {
		return nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	if store.Audit, err = wire.AuditLog(env); err != nil {
		return nil, err
	}
	r := httpapi.NewRouter()
	(&chat.HTTP{Service: svc, Auth: members, Notices: &notice.DynamoStore{DB: env.DynamoDB, Table: noticesTable}}).Register(r)
	return wire.IdempotentHandler(env, r, members, nil)
}

// RocketReminder is the scheduled sweep sending rocket-message reminders.
// The EventBridge event's time is the sweep's "now".
func RocketReminder(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	chatTable := c.Required("CHAT_TABLE")
	sw, err := wire.NewSweep(ctx, env, c)
	if err != nil {
		return nil, err
	}
	rem := &chat.Reminders{
		Store: &chat.DynamoStore{DB: env.DynamoDB, Table: chatTable, Directory: sw.Codec, Shards: sw.Shards},
		SMS:   sw.SMS,
	}
	// The sweep answers with what it did, like the other scheduled
	// functions, so a replay through /_local/invoke shows it.
	return lambda.NewHandler(func(ctx context.Context, ev events.EventBridgeEvent) (chat.SweepResult, error) {
		now := ev.Time
		if now.IsZero() {
			now = env.Now()
		}
		res, err := rem.Sweep(ctx, now)
		slog.InfoContext(ctx, "rocket reminder sweep", "now", now.UTC(), "due", res.Due, "claimed", res.Claimed, "sent", res.Sent, "failed", res.Failed)
		return res, err
	}), nil
}

// ChatFanout consumes the chat table's stream and moves the list places of
// large groups' members to their newest message. Invoked with
// {"backfill": true} (once, after the list index is deployed) it places
// the entries written before it instead, until its deadline nears; invoke
// it again until the answer says done.
func ChatFanout(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	chatTable := c.Required("CHAT_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	f := &chat.Fanout{Store: &chat.DynamoStore{DB: env.DynamoDB, Table: chatTable}}
	return lambda.NewHandler(func(ctx context.Context, ev fanoutEvent) (any, error) {
		if ev.Backfill {
			res, err := chat.BackfillList(ctx, env.DynamoDB, chatTable)
			slog.InfoContext(ctx, "chat list backfill", "scanned", res.Scanned, "listed", res.Listed, "done", res.Done)
			return res, err
		}
		var moved []chat.Moved
		for _, r := range ev.Records {
			m, ok, err := chat.DecodeMoved(scalars(r.Change.Keys), scalars(r.Change.OldImage), scalars(r.Change.NewImage))
			if err != nil {
				return nil, fmt.Errorf("record %s: %w", r.EventID, err)
			}
			if ok {
				moved = append(moved, m)
			}
		}
		res, err := f.Apply(ctx, moved)
		slog.InfoContext(ctx, "chat fanout", "records", len(ev.Records), "conversations", res.Conversations, "entries", res.Entries)
		return res, err
	}), nil
}

// fanoutEvent is a stream batch, or an operator's backfill request.
type fanoutEvent struct {
	Records  []events.DynamoDBEventRecord `json:"Records"`
	Backfill bool                         `json:"backfill"`
}

// scalars converts the top-level strings, numbers, string sets and
// booleans of a stream image: all a head's fan-out reads (nested maps and
// lists, such as the last message, are left out). nil stays nil.
func scalars(img map[string]events.DynamoDBAttributeValue) map[string]types.AttributeValue {
	if img == nil {
		return nil
	}
	out := make(map[string]types.AttributeValue, len(img))
	for name, v := range img {
		switch v.DataType() {
		case events.DataTypeString:
			out[name] = &types.AttributeValueMemberS{Value: v.String()}
		case events.DataTypeNumber:
			out[name] = &types.AttributeValueMemberN{Value: v.Number()}
		case events.DataTypeStringSet:
			out[name] = &types.AttributeValueMemberSS{Value: v.StringSet()}
		case events.DataTypeBoolean:
			out[name] = &types.AttributeValueMemberBOOL{Value: v.Boolean()}
		}
	}
	return out
}
