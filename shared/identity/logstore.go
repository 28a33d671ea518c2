package identity

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
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

func (s *DynamoStore) logPut(e logEntry) (types.TransactWriteItem, error) {
	sortKey := stamp(e.At) + "#" + e.ID
	rec := logRecord{PK: tenantPK(e.tenantID), SK: "LOG#" + sortKey, Type: "loginlog", TenantID: e.tenantID,
		TTL: e.At.Add(LoginLogTTL).Unix(), LoginLog: e.LoginLog}
	if e.MemberID != "" {
		rec.GSI1PK, rec.GSI1SK = memberLogsPK(e.tenantID, e.MemberID), sortKey
	}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return types.TransactWriteItem{}, errs.Wrap(err, "encode login log")
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.Table), Item: item}}, nil
}

// writeLogged writes items and the log entry e in one transaction, e last
// so that the items' positions in a cancellation are theirs; with no
// items, e alone.
func (s *DynamoStore) writeLogged(ctx context.Context, items []types.TransactWriteItem, e logEntry) error {
	put, err := s.logPut(e)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.Put.TableName, Item: put.Put.Item})
	} else {
		_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: append(items, put)})
	}
	return errs.Wrap(err, "write login log")
}

// logs is one Query per page, on the tenant's partition or, filtered by
// member, on gsi1. The result filter is applied by DynamoDB after the key
// range, so a page may hold fewer items than the limit and still have a
// next one.
func (s *DynamoStore) logs(ctx context.Context, tenantID string, f LogFilter) (httpapi.Page[LoginLog], error) {
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
		r, err := decode[logRecord](item, "login log")
		if err != nil {
			return httpapi.Page[LoginLog]{}, err
		}
		page.Items = append(page.Items, r.LoginLog)
	}
	page.NextCursor = cursors.EncodeKey(out.LastEvaluatedKey)
	return page, nil
}
