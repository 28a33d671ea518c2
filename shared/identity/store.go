package identity

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// DB is the part of the DynamoDB client identity uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ DB = (*dynamodb.Client)(nil)

// DynamoStore keeps identity's items in the identity table and reads
// members from the directory table, through the directory's exported keys
// and decoders; it never writes members.
type DynamoStore struct {
	DB    DB
	Table string // the identity table
	// Directory is the directory table's codec: Table and Index for who
	// holds a unique value, Keys too where members are opened.
	Directory *directory.Codec
	Audit     *audit.Log // admin resets are audited (nil: not)
}

// Keys of the identity table.
func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func credKey(tenantID, memberID string) map[string]types.AttributeValue {
	return key(tenantPK(tenantID), "CRED#"+memberID)
}

// sessionsOf is the gsi1 partition of a member's sessions, revoked
// together by a password change or reset.
func sessionsOf(tenantID, memberID string) string { return "MSESSION#" + tenantID + "#" + memberID }

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// decode decodes an item of identity's; a missing item (nil) is nil.
func decode[T any](item map[string]types.AttributeValue, what string) (*T, error) {
	if item == nil {
		return nil, nil
	}
	v := new(T)
	if err := attributevalue.UnmarshalMap(item, v); err != nil {
		return nil, errs.Wrap(err, "decode "+what)
	}
	return v, nil
}

// batchGot is a BatchGetItem answer, found by key.
type batchGot map[string][]map[string]types.AttributeValue

func (g batchGot) find(k map[string]types.AttributeValue) map[string]types.AttributeValue {
	pk, sk := stringAttr(k, "pk"), stringAttr(k, "sk")
	for _, items := range g {
		for _, it := range items {
			if stringAttr(it, "pk") == pk && stringAttr(it, "sk") == sk {
				return it
			}
		}
	}
	return nil
}

// batchGet reads a few items of the identity and directory tables in one
// round trip (retrying what DynamoDB leaves unprocessed). Keys are
// distinct across tables, since their sort keys differ in kind.
func (s *DynamoStore) batchGet(ctx context.Context, keys map[string][]map[string]types.AttributeValue) (batchGot, error) {
	req := map[string]types.KeysAndAttributes{}
	for table, ks := range keys {
		req[table] = types.KeysAndAttributes{Keys: ks, ConsistentRead: aws.Bool(true)}
	}
	got, err := dynamo.BatchGet(ctx, s.DB, req)
	return batchGot(got), err
}

// withHolder reads an item of the identity table and, in the same round
// trip, who holds a unique value in the directory.
func (s *DynamoStore) withHolder(ctx context.Context, k map[string]types.AttributeValue, tenantID, kind, value string) (map[string]types.AttributeValue, string, error) {
	uniqK := s.Directory.UniqueKey(tenantID, kind, value)
	got, err := s.batchGet(ctx, map[string][]map[string]types.AttributeValue{s.Table: {k}, s.Directory.Table: {uniqK}})
	if err != nil {
		return nil, "", err
	}
	holder, err := directory.Holder(got.find(uniqK))
	return got.find(k), holder, errs.Wrap(err, "find member by "+kind)
}

// decodePrincipal decodes where a member stands; a missing member is nil.
func decodePrincipal(item map[string]types.AttributeValue) (*directory.Principal, error) {
	if item == nil {
		return nil, nil
	}
	m, err := directory.DecodePrincipal(item)
	if err != nil {
		return nil, errs.Wrap(err, "read member")
	}
	return &m, nil
}
