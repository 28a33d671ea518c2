package billing

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

// Store keeps subscription items, reads the members notices go to and
// records notice deliveries.
type Store interface {
	// TenantID returns the id of the tenant with code, or NotFound.
	TenantID(ctx context.Context, code string) (string, error)
	// Get returns the tenant's subscription item, or ok false.
	Get(ctx context.Context, code string) (Record, bool, error)
	// Put writes r if the stored item is still at version prev (0: absent),
	// bumping r.Version; ErrStale when it is not. An admin's change is
	// recorded in the audit log in the same transaction (nil: none).
	Put(ctx context.Context, r *Record, prev int, change *audit.Change) error
	// Due returns the items of the due index due at now, in due order.
	Due(ctx context.Context, now time.Time) ([]Record, error)
	// Deliveries returns the delivery records of one step by key.
	Deliveries(ctx context.Context, code, cycle, step string) (map[string]Delivery, error)
	// Claim takes the delivery d: it creates it when prev is nil, or takes
	// it over from prev (a stale claim) when prev's claim is unchanged, if
	// the snapshot of recipients to is still current for d's member. It
	// returns ErrStale when another run holds or made it, and
	// ErrRecipientsChanged when the snapshot is stale.
	Claim(ctx context.Context, code string, d Delivery, prev *Delivery, tenantID string, to directory.Recipients) error
	// Finish records the outcome of a claimed delivery.
	Finish(ctx context.Context, code string, d Delivery) error
}

// ErrStale says a conditional write lost to another writer.
var ErrStale = errors.New("billing: stale write")

// ErrRecipientsChanged says the recipients changed since the snapshot a
// claim was made with.
var ErrRecipientsChanged = errors.New("billing: recipients changed")

// Directory is what billing reads of the directory; directory.Roster
// provides it.
type Directory interface {
	// Members returns the tenant's members with the given ids, missing
	// ones left out.
	Members(ctx context.Context, tenantID string, ids []string) ([]directory.Member, error)
	// Recipients takes a snapshot of the members named, or of the enabled
	// admins when named is empty.
	Recipients(ctx context.Context, tenantID string, named []string) (directory.Recipients, error)
	// Mobile opens a snapshot member's mobile.
	Mobile(tenantID string, r directory.Recipient) (string, error)
}

// Delivery is the record of one notice to one member over one channel.
type Delivery struct {
	Key       string    `dynamodbav:"sk"` // DELIVERY#<cycle>#<step>#<member>#<channel>
	MemberID  string    `dynamodbav:"memberId"`
	Channel   string    `dynamodbav:"channel"`
	Status    string    `dynamodbav:"status"` // claimed, sent, skipped
	ClaimedBy string    `dynamodbav:"claimedBy"`
	ClaimedAt time.Time `dynamodbav:"claimedAt"`
	SentAt    time.Time `dynamodbav:"sentAt"`
}

// Delivery statuses.
const (
	StatusClaimed = "claimed"
	StatusSent    = "sent"
	StatusSkipped = "skipped" // no mobile to send to, say
)

func deliveryPrefix(cycle, step string) string { return "DELIVERY#" + cycle + "#" + step + "#" }

// DeliveryKey is the sort key of a delivery record.
func DeliveryKey(cycle, step, memberID, channel string) string {
	return deliveryPrefix(cycle, step) + memberID + "#" + channel
}

// DB is the part of the DynamoDB client the store uses.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// DynamoStore keeps subscription items in the tenants table; Directory
// gives the checks that claims make of the directory table.
type DynamoStore struct {
	DB        DB
	Table     string // tenants table
	Directory *directory.Codec
	Shards    int        // partitions of the due index (INDEX_SHARDS); zero means dynamo.DefaultShards
	Audit     *audit.Log // admins' settings changes are audited (nil: not)
}

// dueShards spread the due index over partitions "DUE#<n>", a tenant's
// always in the same one; Record.DuePK stays "DUE" in memory.
func (st *DynamoStore) dueShards() dynamo.Shards { return dynamo.Shards{Key: DuePK, N: st.Shards} }

var _ Store = (*DynamoStore)(nil)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func (st *DynamoStore) TenantID(ctx context.Context, code string) (string, error) {
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(st.Table),
		Key:                  TenantKey(code),
		ProjectionExpression: aws.String("id"),
	})
	if err != nil {
		return "", errs.Wrap(err, "get tenant")
	}
	t, err := DecodeTenant(out.Item)
	if err != nil {
		return "", err
	}
	if t.ID == "" {
		return "", errs.NotFoundf("tenant_not_found", "no tenant with this code")
	}
	return t.ID, nil
}

func (st *DynamoStore) Get(ctx context.Context, code string) (Record, bool, error) {
	out, err := st.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.Table), Key: Key(code), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Record{}, false, errs.Wrap(err, "get subscription")
	}
	if out.Item == nil {
		return Record{}, false, nil
	}
	r, err := decodeRecord(out.Item)
	if err != nil {
		return Record{}, false, errs.Wrap(err, "decode subscription")
	}
	return r, true, nil
}

func (st *DynamoStore) Put(ctx context.Context, r *Record, prev int, change *audit.Change) error {
	r.Version = prev + 1
	item, err := r.Item()
	if err != nil {
		return errs.Wrap(err, "encode subscription")
	}
	if r.DuePK != "" {
		item["gsi1pk"] = s(st.dueShards().For(r.TenantCode))
	}
	in := &types.Put{TableName: aws.String(st.Table), Item: item}
	if prev == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("version = :v")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(prev)}}
	}
	if change != nil {
		err = st.Audit.Write(ctx, st.DB, r.TenantID, *change, types.TransactWriteItem{Put: in})
	} else {
		_, err = st.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: in.TableName, Item: in.Item,
			ConditionExpression: in.ConditionExpression, ExpressionAttributeValues: in.ExpressionAttributeValues})
	}
	if errs.KindOf(err) == errs.Conflict {
		return err
	}
	if dynamo.ConditionFailed(err) {
		r.Version = prev
		return ErrStale
	}
	return errs.Wrap(err, "put subscription")
}

// Due reads every shard of the due index (and the unsharded "DUE" of items
// written before) up to now in one go, merged in due order.
func (st *DynamoStore) Due(ctx context.Context, now time.Time) ([]Record, error) {
	items, err := dynamo.QueryShards(ctx, st.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(st.Table),
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :due AND gsi1sk <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": s(dueBound(now))},
	}, ":due", st.dueShards().Partitions(), "gsi1sk")
	if err != nil {
		return nil, errs.Wrap(err, "query due subscriptions")
	}
	recs := make([]Record, 0, len(items))
	for _, item := range items {
		r, err := decodeRecord(item)
		if err != nil {
			return nil, errs.Wrap(err, "decode subscription")
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func (st *DynamoStore) Deliveries(ctx context.Context, code, cycle, step string) (map[string]Delivery, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(st.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(TenantPK(code)), ":p": s(deliveryPrefix(cycle, step)),
		},
		ConsistentRead: aws.Bool(true),
	}
	found := map[string]Delivery{}
	for {
		out, err := st.DB.Query(ctx, in)
		if err != nil {
			return nil, errs.Wrap(err, "query deliveries")
		}
		for _, item := range out.Items {
			var d Delivery
			if err := attributevalue.UnmarshalMap(item, &d); err != nil {
				return nil, errs.Wrap(err, "decode delivery")
			}
			found[d.Key] = d
		}
		if len(out.LastEvaluatedKey) == 0 {
			return found, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func (st *DynamoStore) Claim(ctx context.Context, code string, d Delivery, prev *Delivery, tenantID string, to directory.Recipients) error {
	item, err := attributevalue.MarshalMap(d)
	if err != nil {
		return errs.Wrap(err, "encode delivery")
	}
	item["pk"] = s(TenantPK(code))
	item["type"] = s("delivery")
	put := &types.Put{TableName: aws.String(st.Table), Item: item}
	if prev == nil {
		put.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		// Take over only the claim we saw: if its holder finished or another
		// run took it over meanwhile, this fails.
		put.ConditionExpression = aws.String("#s = :claimed AND claimedBy = :by")
		put.ExpressionAttributeNames = map[string]string{"#s": "status"}
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":claimed": s(StatusClaimed), ":by": s(prev.ClaimedBy)}
	}
	items := append([]types.TransactWriteItem{{Put: put}}, st.Directory.RecipientChecks(tenantID, to, d.MemberID)...)
	_, err = st.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	for i, code := range dynamo.Cancelled(err) {
		if code == "ConditionalCheckFailed" {
			if i == 0 {
				return ErrStale
			}
			return ErrRecipientsChanged
		}
	}
	if dynamo.Conflicted(err) {
		return ErrStale // another run's claim or a directory change at the same moment
	}
	return errs.Wrap(err, "claim delivery")
}

func (st *DynamoStore) Finish(ctx context.Context, code string, d Delivery) error {
	at, _ := attributevalue.Marshal(d.SentAt)
	_, err := st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(st.Table),
		Key:                      map[string]types.AttributeValue{"pk": s(TenantPK(code)), "sk": s(d.Key)},
		UpdateExpression:         aws.String("SET #s = :s, sentAt = :at"),
		ConditionExpression:      aws.String("claimedBy = :by"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": s(d.Status), ":at": at, ":by": s(d.ClaimedBy),
		},
	})
	if dynamo.ConditionFailed(err) {
		return ErrStale
	}
	return errs.Wrap(err, "record delivery")
}
