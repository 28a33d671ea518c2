// Package calendarfn builds the calendar functions: CalendarFunction and
// the CalendarReminderFunction sweep.
package calendarfn

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/calendar"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/httpapi"
	"workbench/shared/notice"
	"workbench/shared/stack/wire"
)

// Calendar serves /v1/calendar/...
func Calendar(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("CALENDAR_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	conflictLimit := c.Int("CALENDAR_CONFLICT_CHECK_LIMIT", 50)
	shards := c.Int("INDEX_SHARDS", dynamo.DefaultShards)
	if err := c.Err(); err != nil {
		return nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	// The HTTP side sends nothing: notices and SMS are the sweep's.
	svc := &calendar.Service{
		Store:              &calendar.DynamoStore{DB: env.DynamoDB, Table: table, Shards: shards},
		Directory:          &directory.Roster{DB: env.DynamoDB, Table: directoryTable},
		Now:                env.Now,
		ConflictCheckLimit: conflictLimit,
	}
	r := httpapi.NewRouter()
	(&calendar.HTTP{Service: svc, Members: members}).Register(r)
	return wire.IdempotentHandler(env, r, members, nil)
}

// CalendarReminder is the scheduled sweep of due calendar reminders; the
// EventBridge event's time is the sweep's "now".
func CalendarReminder(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("CALENDAR_TABLE")
	noticesTable := c.Required("NOTICES_TABLE")
	sw, err := wire.NewSweep(ctx, env, c)
	if err != nil {
		return nil, err
	}
	svc := &calendar.Service{
		Store:     &calendar.DynamoStore{DB: env.DynamoDB, Table: table, Shards: sw.Shards},
		Directory: &directory.Roster{DB: env.DynamoDB, Table: sw.DirectoryTable, Codec: sw.Codec},
		Notices:   &notice.DynamoStore{DB: env.DynamoDB, Table: noticesTable},
		SMS:       sw.SMS,
		Now:       env.Now,
	}
	return lambda.NewHandler(func(ctx context.Context, ev events.EventBridgeEvent) (calendar.SweepResult, error) {
		now := ev.Time
		if now.IsZero() {
			now = env.Now()
		}
		return svc.Sweep(ctx, now)
	}), nil
}

var _ calendar.Directory = (*directory.Roster)(nil)
