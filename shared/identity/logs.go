package identity

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/ids"
)

// LoginLog is one login attempt. It never holds a password, a code or a
// token; the account or mobile typed is masked.
type LoginLog struct {
	ID        string    `json:"id" dynamodbav:"id"`
	MemberID  string    `json:"memberId,omitempty" dynamodbav:"memberId,omitempty"`
	Account   string    `json:"account" dynamodbav:"account"` // masked account (password) or mobile (sms)
	Method    string    `json:"method" dynamodbav:"method"`
	Result    string    `json:"result" dynamodbav:"result"` // success or failure
	Reason    string    `json:"reason,omitempty" dynamodbav:"reason,omitempty"`
	IP        string    `json:"ip" dynamodbav:"ip"`
	UserAgent string    `json:"userAgent" dynamodbav:"userAgent"`
	At        time.Time `json:"at" dynamodbav:"at"`
}

// Results of a login attempt.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// Login logs live in the tenant's partition under "LOG#<time>#<id>", and in
// gsi1 under the member, so a page of either the tenant's or one member's
// attempts in a time range is one Query.
type logRecord struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	GSI1PK   string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK   string `dynamodbav:"gsi1sk,omitempty"`
	Type     string `dynamodbav:"type"`
	TenantID string `dynamodbav:"tenantId"`
	TTL      int64  `dynamodbav:"ttl"`
	LoginLog
}

func memberLogsPK(tenantID, memberID string) string { return "LOGM#" + tenantID + "#" + memberID }

// maxUserAgent bounds what a client can make us store.
const maxUserAgent = 256

// writeLog records the attempt a with reason ("" for success), together
// with extra items in one transaction when there are any (extra first, so
// their positions in a cancellation are theirs).
func (s *Service) writeLog(ctx context.Context, a attempt, reason string, extra []types.TransactWriteItem) error {
	l := a.log
	l.ID, l.At, l.Reason, l.Result = ids.New(a.now), a.now.UTC(), reason, ResultSuccess
	if reason != "" {
		l.Result = ResultFailure
	}
	if len(l.UserAgent) > maxUserAgent {
		l.UserAgent = l.UserAgent[:maxUserAgent]
	}
	sortKey := stamp(l.At) + "#" + l.ID
	rec := logRecord{PK: tenantPK(a.tenant.ID), SK: "LOG#" + sortKey, Type: "loginlog", TenantID: a.tenant.ID,
		TTL: l.At.Add(LoginLogTTL).Unix(), LoginLog: l}
	if l.MemberID != "" {
		rec.GSI1PK, rec.GSI1SK = memberLogsPK(a.tenant.ID, l.MemberID), sortKey
	}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return errs.Wrap(err, "encode login log")
	}
	if len(extra) == 0 {
		_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item})
	} else {
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems: append(extra, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.Table), Item: item}}),
		})
	}
	if err != nil {
		if reason != "" && len(extra) == 0 {
			// A failed attempt is answered all the same; the log line says
			// the record is missing.
			slog.ErrorContext(ctx, "login log not written", "tenant", a.tenant.ID, "error", err)
		}
		return errs.Wrap(err, "write login log")
	}
	return nil
}

// logFailure writes the record of a failed attempt, which is answered the
// same whether or not the record is written: a write that fails is logged,
// not returned (writeLog logs the plain ones itself).
func (s *Service) logFailure(ctx context.Context, a attempt, reason string, extra []types.TransactWriteItem) {
	if err := s.writeLog(ctx, a, reason, extra); err != nil && len(extra) > 0 {
		slog.ErrorContext(ctx, "login log not written", "tenant", a.tenant.ID, "reason", reason, "error", err)
	}
}

// maskAccount keeps the first two and the last character of an account.
func maskAccount(a string) string {
	switch n := len(a); {
	case n <= 2:
		return strings.Repeat("*", n)
	case n <= 4:
		return a[:1] + strings.Repeat("*", n-1)
	default:
		return a[:2] + strings.Repeat("*", n-3) + a[n-1:]
	}
}

// LogFilter selects login logs. Zero fields select everything.
type LogFilter struct {
	MemberID string
	Result   string // success or failure
	From, To time.Time
	Cursor   string
	Limit    int
}

// Page sizes of the log list.
const (
	DefaultLogPage = 50
	MaxLogPage     = 100
)

// ParseLogFilter reads the query of GET /v1/admin/login-logs.
func ParseLogFilter(q map[string][]string) (LogFilter, error) {
	get := func(k string) string { return httpapi.QueryValue(q, k) }
	f := LogFilter{MemberID: get("member"), Result: get("result"), Cursor: get("cursor")}
	if f.Result != "" && f.Result != ResultSuccess && f.Result != ResultFailure {
		return f, httpapi.InvalidQuery("result", "result must be success or failure")
	}
	var err error
	if f.From, f.To, err = httpapi.Period(q); err != nil {
		return f, err
	}
	f.Limit, err = httpapi.Limit(q, DefaultLogPage, MaxLogPage)
	return f, err
}

// Logs lists a tenant's login logs newest first: one Query per page, on the
// tenant's partition or, filtered by member, on gsi1. The result filter
// is applied by DynamoDB after the key range, so a page may hold fewer
// items than the limit and still have a next one.
func (s *Service) Logs(ctx context.Context, tenantID string, f LogFilter) (httpapi.Page[LoginLog], error) {
	lo, hi := "0", "~" // every stamp sorts between them
	if !f.From.IsZero() {
		lo = stamp(f.From)
	}
	if !f.To.IsZero() {
		hi = stamp(f.To) + "~" // "~" sorts after "#<id>": the whole last millisecond is in
	}
	in := &dynamodb.QueryInput{
		TableName:        aws.String(s.Table),
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(f.Limit)),
	}
	vals := map[string]types.AttributeValue{}
	if f.MemberID != "" {
		in.IndexName = aws.String("gsi1")
		in.KeyConditionExpression = aws.String("gsi1pk = :pk AND gsi1sk BETWEEN :lo AND :hi")
		vals[":pk"], vals[":lo"], vals[":hi"] = str(memberLogsPK(tenantID, f.MemberID)), str(lo), str(hi)
	} else {
		in.KeyConditionExpression = aws.String("pk = :pk AND sk BETWEEN :lo AND :hi")
		vals[":pk"], vals[":lo"], vals[":hi"] = str(tenantPK(tenantID)), str("LOG#"+lo), str("LOG#"+hi)
	}
	if f.Result != "" {
		in.FilterExpression = aws.String("#res = :res")
		in.ExpressionAttributeNames = map[string]string{"#res": "result"}
		vals[":res"] = str(f.Result)
	}
	in.ExpressionAttributeValues = vals
	// A cursor continues only the query it came from, within the caller's
	// own tenant.
	start := []dynamo.KeyAttr{dynamo.KeyIs("pk", tenantPK(tenantID)), dynamo.KeyHasPrefix("sk", "LOG#")}
	if f.MemberID != "" {
		start = append(start, dynamo.KeyIs("gsi1pk", memberLogsPK(tenantID, f.MemberID)), dynamo.KeyHasPrefix("gsi1sk", ""))
	}
	cursors := dynamo.ListCursors("identity/login-logs", tenantID, f.MemberID, f.Result, lo, hi)
	var err error
	if in.ExclusiveStartKey, err = cursors.DecodeKey(f.Cursor, start...); err != nil {
		return httpapi.Page[LoginLog]{}, err
	}
	out, err := s.DB.Query(ctx, in)
	if err != nil {
		return httpapi.Page[LoginLog]{}, errs.Wrap(err, "list login logs")
	}
	page := httpapi.Page[LoginLog]{Items: make([]LoginLog, 0, len(out.Items))}
	for _, item := range out.Items {
		var r logRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return httpapi.Page[LoginLog]{}, errs.Wrap(err, "decode login log")
		}
		page.Items = append(page.Items, r.LoginLog)
	}
	page.NextCursor = cursors.EncodeKey(out.LastEvaluatedKey)
	return page, nil
}
