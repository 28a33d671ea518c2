// Package chatfn builds the chat functions: ChatSendFunction,
// ChatFunction and the RocketReminderFunction sweep.
package chatfn

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/chat"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/httpapi"
	"workbench/shared/notice"
	"workbench/shared/stack/wire"
)

func chatService(ctx context.Context, env *cloud.Env) (*chat.Service, error) {
	c := config.NewReader(env.Config)
	chatTable := c.Required("CHAT_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	shards := c.Int("INDEX_SHARDS", dynamo.DefaultShards)
	if err := c.Err(); err != nil {
		return nil, err
	}
	// Chat only checks that members exist and are enabled, and bumps
	// frequent-contact counters: it needs the directory's keys, not its
	// data keys.
	dir := &directory.Codec{Table: directoryTable}
	svc := &chat.Service{
		DB:        env.DynamoDB,
		Table:     chatTable,
		Directory: dir,
		Now:       env.Now,
		Contacts:  &directory.Contacts{DB: env.DynamoDB, Codec: dir, Now: env.Now},
		Shards:    shards,
	}
	return svc, nil
}

// ChatSend serves sending: messages to a conversation and rocket messages.
func ChatSend(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	svc, err := chatService(ctx, env)
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
	svc, err := chatService(ctx, env)
	if err != nil {
		return nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	if svc.Audit, err = wire.AuditLog(env); err != nil {
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
	rem := &chat.Reminders{DB: env.DynamoDB, Table: chatTable, Directory: sw.Codec, SMS: sw.SMS, Shards: sw.Shards}
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
