package stack

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/announce"
	"workbench/shared/approval"
	"workbench/shared/calendar"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/httpapi"
	"workbench/shared/notice"
	"workbench/shared/sms"
)

// Approvals serves /v1/approvals/...
func Approvals(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("APPROVALS_TABLE")
	noticesTable := c.Required("NOTICES_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	members, err := memberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	auditLog, err := auditLog(env)
	if err != nil {
		return nil, err
	}
	svc := &approval.Service{
		Store:     &approval.DynamoStore{DB: env.DynamoDB, Table: table, Audit: auditLog},
		Directory: &directory.Roster{DB: env.DynamoDB, Table: directoryTable},
		Notices:   &notice.DynamoStore{DB: env.DynamoDB, Table: noticesTable},
		Now:       env.Now,
	}
	r := httpapi.NewRouter()
	(&approval.HTTP{Service: svc, Members: members}).Register(r)
	return idempotentHandler(env, r, members, nil)
}

// Announcements serves /v1/announcements/...
func Announcements(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("ANNOUNCEMENTS_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	members, err := memberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	codec, err := directoryCodec(ctx, env, directoryTable)
	if err != nil {
		return nil, err
	}
	auditLog, err := auditLog(env)
	if err != nil {
		return nil, err
	}
	svc := &announce.Service{
		Store:     &announce.DynamoStore{DB: env.DynamoDB, Table: table, Audit: auditLog},
		Directory: announceDirectory{&directory.Roster{DB: env.DynamoDB, Table: directoryTable, Codec: codec}},
		Now:       env.Now,
	}
	r := httpapi.NewRouter()
	(&announce.HTTP{Service: svc, Members: members}).Register(r)
	return idempotentHandler(env, r, members, nil)
}

// Calendar serves /v1/calendar/...
func Calendar(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("CALENDAR_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	conflictLimit := c.Int("CALENDAR_CONFLICT_CHECK_LIMIT", 50)
	if err := c.Err(); err != nil {
		return nil, err
	}
	members, err := memberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	// The HTTP side sends nothing: notices and SMS are the sweep's.
	svc := &calendar.Service{
		Store:              &calendar.DynamoStore{DB: env.DynamoDB, Table: table},
		Directory:          &directory.Roster{DB: env.DynamoDB, Table: directoryTable},
		Now:                env.Now,
		ConflictCheckLimit: conflictLimit,
	}
	r := httpapi.NewRouter()
	(&calendar.HTTP{Service: svc, Members: members}).Register(r)
	return idempotentHandler(env, r, members, nil)
}

// CalendarReminder is the scheduled sweep of due calendar reminders; the
// EventBridge event's time is the sweep's "now".
func CalendarReminder(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("CALENDAR_TABLE")
	noticesTable := c.Required("NOTICES_TABLE")
	directoryTable := c.Required("DIRECTORY_TABLE")
	senderID := c.String("SMS_SENDER_ID", "")
	if err := c.Err(); err != nil {
		return nil, err
	}
	codec, err := directoryCodec(ctx, env, directoryTable)
	if err != nil {
		return nil, err
	}
	svc := &calendar.Service{
		Store:     &calendar.DynamoStore{DB: env.DynamoDB, Table: table},
		Directory: &directory.Roster{DB: env.DynamoDB, Table: directoryTable, Codec: codec},
		Notices:   &notice.DynamoStore{DB: env.DynamoDB, Table: noticesTable},
		SMS:       &sms.SNS{Client: env.SNS, SenderID: senderID},
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

// announceDirectory gives the announcements app the directory's roster in
// its own terms.
type announceDirectory struct{ *directory.Roster }

func (d announceDirectory) Members(ctx context.Context, tenantID string) ([]announce.Member, error) {
	ms, err := d.EnabledMembers(ctx, tenantID)
	list := make([]announce.Member, len(ms))
	for i, m := range ms {
		list[i] = announce.Member{ID: m.ID, Name: m.Name, DepartmentIDs: m.DepartmentIDs}
	}
	return list, err
}

var (
	_ approval.Directory = (*directory.Roster)(nil)
	_ calendar.Directory = (*directory.Roster)(nil)
	_ announce.Directory = announceDirectory{}
)
