package stack

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/announce"
	"workbench/shared/approval"
	"workbench/shared/calendar"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/lambdahttp"
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
	svc := &approval.Service{
		Store:     &approval.DynamoStore{DB: env.DynamoDB, Table: table},
		Directory: &directoryMembers{DB: env.DynamoDB, Table: directoryTable},
		Notices:   &notice.DynamoStore{DB: env.DynamoDB, Table: noticesTable},
		Now:       env.Now,
	}
	r := httpapi.NewRouter()
	(&approval.HTTP{Service: svc, Members: members}).Register(r)
	return lambdahttp.Handler(r), nil
}

// directoryMembers reads member items of the directory table to tell which
// ids are enabled members of a tenant, 100 keys per BatchGetItem. Only the
// enabled flag and department ids are read: no personal data is opened.
type directoryMembers struct {
	DB interface {
		BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
		Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	}
	Table string
	Codec *directory.Codec // opens names; only the read report needs it
}

// departmentPrefix is the sort-key prefix of department items in the
// directory table (the Directory capability's layout).
var departmentPrefix = directory.DepartmentSK("")

type memberFacts struct {
	ID            string   `dynamodbav:"id"`
	Enabled       bool     `dynamodbav:"enabled"`
	DepartmentIDs []string `dynamodbav:"departmentIds"`
}

func (d *directoryMembers) facts(ctx context.Context, tenantID string, memberIDs []string) (map[string]memberFacts, error) {
	found := map[string]memberFacts{}
	err := d.batch(ctx, tenantID, memberIDs, "id, enabled, departmentIds", func(item map[string]types.AttributeValue) error {
		var f memberFacts
		if err := attributevalue.UnmarshalMap(item, &f); err != nil {
			return errs.Wrap(err, "decode member")
		}
		found[f.ID] = f
		return nil
	})
	return found, err
}

// batch reads the member items of memberIDs, 100 keys per BatchGetItem.
func (d *directoryMembers) batch(ctx context.Context, tenantID string, memberIDs []string, projection string, f func(map[string]types.AttributeValue) error) error {
	seen := map[string]bool{}
	var keys []map[string]types.AttributeValue
	for _, id := range memberIDs {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		keys = append(keys, map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: directory.TenantPK(tenantID)},
			"sk": &types.AttributeValueMemberS{Value: directory.MemberSK(id)},
		})
	}
	for len(keys) > 0 {
		n := min(len(keys), dynamo.MaxBatchGet)
		ka := types.KeysAndAttributes{Keys: keys[:n]}
		if projection != "" {
			ka.ProjectionExpression = aws.String(projection)
		}
		req := map[string]types.KeysAndAttributes{d.Table: ka}
		keys = keys[n:]
		for len(req) > 0 {
			out, err := d.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return errs.Wrap(err, "read members")
			}
			for _, item := range out.Responses[d.Table] {
				if err := f(item); err != nil {
					return err
				}
			}
			req = out.UnprocessedKeys
		}
	}
	return nil
}

// Enabled implements the Directory interfaces of the apps.
func (d *directoryMembers) Enabled(ctx context.Context, tenantID string, memberIDs []string) (map[string]bool, error) {
	facts, err := d.facts(ctx, tenantID, memberIDs)
	if err != nil {
		return nil, err
	}
	ok := make(map[string]bool, len(facts))
	for id, f := range facts {
		ok[id] = f.Enabled
	}
	return ok, nil
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
	svc := &announce.Service{
		Store:     &announce.DynamoStore{DB: env.DynamoDB, Table: table},
		Directory: &directoryMembers{DB: env.DynamoDB, Table: directoryTable, Codec: codec},
		Now:       env.Now,
	}
	r := httpapi.NewRouter()
	(&announce.HTTP{Service: svc, Members: members}).Register(r)
	return lambdahttp.Handler(r), nil
}

// departmentFacts is what the apps read of a department item.
type departmentFacts struct {
	ID       string `dynamodbav:"id"`
	ParentID string `dynamodbav:"parentId"`
}

// Subtree implements announce.Directory: one Query of the tenant's
// departments, then a walk of the tree in memory.
func (d *directoryMembers) Subtree(ctx context.Context, tenantID string, departmentIDs []string) ([]string, int, error) {
	var deps []departmentFacts
	err := d.query(ctx, tenantID, departmentPrefix, "id, parentId", func(item map[string]types.AttributeValue) error {
		var f departmentFacts
		if err := attributevalue.UnmarshalMap(item, &f); err != nil {
			return errs.Wrap(err, "decode department")
		}
		deps = append(deps, f)
		return nil
	})
	if err != nil {
		return nil, -1, err
	}
	children := map[string][]string{}
	known := map[string]bool{}
	for _, f := range deps {
		known[f.ID] = true
		children[f.ParentID] = append(children[f.ParentID], f.ID)
	}
	var all []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		all = append(all, id)
		for _, c := range children[id] {
			walk(c)
		}
	}
	for i, id := range departmentIDs {
		if !known[id] {
			return nil, i, nil
		}
		walk(id)
	}
	return all, -1, nil
}

// Members implements announce.Directory: the tenant's enabled members with
// their names opened, for the admin's read report.
func (d *directoryMembers) Members(ctx context.Context, tenantID string) ([]announce.Member, error) {
	var list []announce.Member
	err := d.query(ctx, tenantID, directory.MemberSK(""), "", func(item map[string]types.AttributeValue) error {
		m, err := d.Codec.Member(item)
		if err != nil {
			return errs.Wrap(err, "decode member")
		}
		if m.Enabled {
			list = append(list, announce.Member{ID: m.ID, Name: m.Name, DepartmentIDs: m.DepartmentIDs})
		}
		return nil
	})
	return list, err
}

func (d *directoryMembers) query(ctx context.Context, tenantID, prefix, projection string, f func(map[string]types.AttributeValue) error) error {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: directory.TenantPK(tenantID)},
			":p":  &types.AttributeValueMemberS{Value: prefix},
		},
	}
	if projection != "" {
		in.ProjectionExpression = aws.String(projection)
	}
	for {
		out, err := d.DB.Query(ctx, in)
		if err != nil {
			return errs.Wrap(err, "query directory")
		}
		for _, item := range out.Items {
			if err := f(item); err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
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
		Directory:          &directoryMembers{DB: env.DynamoDB, Table: directoryTable},
		Now:                env.Now,
		ConflictCheckLimit: conflictLimit,
	}
	r := httpapi.NewRouter()
	(&calendar.HTTP{Service: svc, Members: members}).Register(r)
	return lambdahttp.Handler(r), nil
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
		Directory: &directoryMembers{DB: env.DynamoDB, Table: directoryTable, Codec: codec},
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

// Mobiles implements calendar.Directory: the mobiles of enabled members,
// opened from their sealed member items.
func (d *directoryMembers) Mobiles(ctx context.Context, tenantID string, memberIDs []string) (map[string]string, error) {
	out := map[string]string{}
	err := d.batch(ctx, tenantID, memberIDs, "", func(item map[string]types.AttributeValue) error {
		m, err := d.Codec.Member(item)
		if err != nil {
			return errs.Wrap(err, "decode member")
		}
		if m.Enabled {
			out[m.ID] = m.Mobile
		}
		return nil
	})
	return out, err
}
