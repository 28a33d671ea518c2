package realtime

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// MaxConnectionAge is how long API Gateway keeps a WebSocket connection
// open at most; a connection item outlives it by a margin, then its TTL
// lets DynamoDB delete it if no $disconnect did.
const MaxConnectionAge = 2 * time.Hour

// Connection is one open WebSocket connection of a member.
type Connection struct {
	ID          string    `dynamodbav:"connectionId"`
	TenantID    string    `dynamodbav:"tenantId"`
	MemberID    string    `dynamodbav:"memberId"`
	ConnectedAt time.Time `dynamodbav:"connectedAt"`
}

// DB is the part of the DynamoDB client the connection store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Connections stores open connections, twice each: under the tenant's
// partition, sorted by member ("TENANT#<t>", "MEMBER#<m>#<id>"), so that a
// member's connections are one Query and a tenant's too; and under its own
// id ("CONN#<id>", "CONN"), since $disconnect knows only the id.
type Connections struct {
	DB    DB
	Table string
	// PerMemberLimit is the largest set of members whose connections are
	// read one Query per member; a larger set is read with one Query of the
	// tenant's connections. 8 when zero.
	PerMemberLimit int
}

type connRecord struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Connection
	TTL int64 `dynamodbav:"ttl"`
}

func tenantPK(tenantID string) string           { return "TENANT#" + tenantID }
func memberPrefix(memberID string) string       { return "MEMBER#" + memberID + "#" }
func memberSK(memberID, connID string) string   { return memberPrefix(memberID) + connID }
func connPK(connID string) string               { return "CONN#" + connID }
func str(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }
func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)}
}

func (c *Connections) records(conn Connection) []connRecord {
	ttl := conn.ConnectedAt.Add(MaxConnectionAge + time.Hour).Unix()
	return []connRecord{
		{PK: tenantPK(conn.TenantID), SK: memberSK(conn.MemberID, conn.ID), Connection: conn, TTL: ttl},
		{PK: connPK(conn.ID), SK: "CONN", Connection: conn, TTL: ttl},
	}
}

// Open stores a connection: one transaction of two puts.
func (c *Connections) Open(ctx context.Context, conn Connection) error {
	if conn.ID == "" || conn.TenantID == "" || conn.MemberID == "" {
		return errs.Wrap(errs.E(errs.Internal, "internal", "connection without id, tenant or member"), "open connection")
	}
	var tx []types.TransactWriteItem
	for _, r := range c.records(conn) {
		item, err := attributevalue.MarshalMap(r)
		if err != nil {
			return errs.Wrap(err, "encode connection")
		}
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(c.Table), Item: item}})
	}
	_, err := c.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	return errs.Wrap(err, "open connection")
}

// Close forgets the connection with the given id, if it is stored: it
// reads the owner, then deletes both items.
func (c *Connections) Close(ctx context.Context, connID string) error {
	out, err := c.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.Table), Key: key(connPK(connID), "CONN"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return errs.Wrap(err, "read connection")
	}
	if out.Item == nil {
		return nil
	}
	var r connRecord
	if err := attributevalue.UnmarshalMap(out.Item, &r); err != nil {
		return errs.Wrap(err, "decode connection")
	}
	return c.Remove(ctx, r.Connection)
}

// Remove deletes a connection's two items.
func (c *Connections) Remove(ctx context.Context, conn Connection) error {
	var tx []types.TransactWriteItem
	for _, r := range c.records(conn) {
		tx = append(tx, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(c.Table), Key: key(r.PK, r.SK)}})
	}
	_, err := c.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	return errs.Wrap(err, "remove connection")
}

// Of returns the open connections of the given members of a tenant. A
// small set costs one Query per member (run together); a larger one, one
// Query of the tenant's connections (a page per 1 MB), filtered here.
func (c *Connections) Of(ctx context.Context, tenantID string, memberIDs []string) ([]Connection, error) {
	if len(memberIDs) == 0 {
		return nil, nil
	}
	limit := c.PerMemberLimit
	if limit == 0 {
		limit = 8
	}
	if len(memberIDs) > limit {
		want := make(map[string]bool, len(memberIDs))
		for _, id := range memberIDs {
			want[id] = true
		}
		all, err := c.query(ctx, tenantID, "")
		var conns []Connection
		for _, conn := range all {
			if want[conn.MemberID] {
				conns = append(conns, conn)
			}
		}
		return conns, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []Connection
		first error
	)
	for _, id := range memberIDs {
		wg.Go(func() {
			got, err := c.query(ctx, tenantID, memberPrefix(id))
			mu.Lock()
			defer mu.Unlock()
			conns = append(conns, got...)
			if err != nil && first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	return conns, first
}

// query reads the tenant's connections whose sort key starts with prefix
// ("" for all of them).
func (c *Connections) query(ctx context.Context, tenantID, prefix string) ([]Connection, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(tenantPK(tenantID))},
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :p)")
		in.ExpressionAttributeValues[":p"] = str(prefix)
	}
	var conns []Connection
	for {
		out, err := c.DB.Query(ctx, in)
		if err != nil {
			return conns, errs.Wrap(err, "read connections")
		}
		for _, it := range out.Items {
			var r connRecord
			if err := attributevalue.UnmarshalMap(it, &r); err != nil {
				return conns, errs.Wrap(err, "decode connection")
			}
			if strings.HasPrefix(r.SK, "MEMBER#") {
				conns = append(conns, r.Connection)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return conns, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
