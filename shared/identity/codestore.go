package identity

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
)

var _ CodeStore = (*DynamoStore)(nil)

// codeRecord is a code sent, of which only the keyed hash is kept.
type codeRecord struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	Purpose   string `dynamodbav:"purpose"`
	Hash      string `dynamodbav:"codeHash"`
	SentAt    int64  `dynamodbav:"sentAt"`    // epoch ms
	ExpiresAt int64  `dynamodbav:"expiresAt"` // epoch ms
	Tries     int    `dynamodbav:"tries"`
	UsedBy    string `dynamodbav:"usedBy,omitempty"` // set once the code is used
	TTL       int64  `dynamodbav:"ttl"`
}

// Code items live under "CODE#<purpose>#<mobile token>", their resend
// cooldowns under "COOLDOWN#<purpose>#<mobile token>".
func codeKey(r codeRef) map[string]types.AttributeValue {
	return key(tenantPK(r.tenantID), "CODE#"+r.purpose+"#"+r.mobileToken)
}

func cooldownKey(r codeRef) map[string]types.AttributeValue {
	return key(tenantPK(r.tenantID), "COOLDOWN#"+r.purpose+"#"+r.mobileToken)
}

func (s *DynamoStore) code(ctx context.Context, ref codeRef) (*codeRecord, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: codeKey(ref), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, errs.Wrap(err, "get code")
	}
	return decodeCode(out.Item)
}

func decodeCode(item map[string]types.AttributeValue) (*codeRecord, error) {
	return decode[codeRecord](item, "code")
}

func (s *DynamoStore) putCode(ctx context.Context, ref codeRef, rec codeRecord) error {
	k := codeKey(ref)
	rec.PK, rec.SK = stringAttr(k, "pk"), stringAttr(k, "sk")
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return errs.Wrap(err, "encode code")
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item})
	return errs.Wrap(err, "put code")
}

// countTryItem counts a wrong try on the code that was read, not on one
// sent since.
func countTryItem(table string, rec *codeRecord) *types.Update {
	return &types.Update{
		TableName:                 aws.String(table),
		Key:                       key(rec.PK, rec.SK),
		UpdateExpression:          aws.String("ADD tries :one"),
		ConditionExpression:       aws.String("codeHash = :h"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":h": str(rec.Hash)},
	}
}

func (s *DynamoStore) countTry(ctx context.Context, rec *codeRecord) error {
	u := countTryItem(s.Table, rec)
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ConditionExpression: u.ConditionExpression, ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
	if err != nil && !dynamo.ConditionFailed(err) {
		return errs.Wrap(err, "count code try")
	}
	return nil
}

// consumeItems mark the code used, on condition that it is still the one
// checked, unused and alive (of two concurrent uses, one wins; the mark
// names the use, so a retried request can tell its own), and lift the
// resend cooldown: once a code is used, asking for the next one is no
// resend. Both go in one transaction, the code first.
func consumeItems(table string, rec *codeRecord, use string, now time.Time) []types.TransactWriteItem {
	return []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                 aws.String(table),
			Key:                       key(rec.PK, rec.SK),
			UpdateExpression:          aws.String("SET usedBy = :use"),
			ConditionExpression:       aws.String("codeHash = :h AND tries < :max AND attribute_not_exists(usedBy)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":h": str(rec.Hash), ":max": num(CodeMaxTries), ":use": str(use)},
		}},
		{Update: &types.Update{
			TableName:                 aws.String(table),
			Key:                       key(rec.PK, cooldownSK(rec.SK)),
			UpdateExpression:          aws.String("REMOVE lastAt SET #ttl = :ttl"),
			ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":ttl": num(now.Add(CodeCooldown + time.Hour).Unix())},
		}},
	}
}

// cooldownSK is the sort key of the cooldown item of the code with sort
// key codeSK: both end in "<purpose>#<mobile token>".
func cooldownSK(codeSK string) string { return "COOLDOWN#" + strings.TrimPrefix(codeSK, "CODE#") }

func (s *DynamoStore) consume(ctx context.Context, rec *codeRecord, use string, now time.Time) error {
	_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: consumeItems(s.Table, rec, use, now)})
	if dynamo.FailedCondition(err, 0) || dynamo.Conflicted(err) {
		out, gerr := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: key(rec.PK, rec.SK), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return errs.Wrap(gerr, "get code")
		}
		again, derr := decodeCode(out.Item)
		switch {
		case derr != nil:
			return derr
		case again != nil && again.UsedBy == use:
			return nil // the SDK retried a write that had succeeded
		case again != nil && again.UsedBy == "" && dynamo.Conflicted(err):
			// Not used by anyone: the conflict was with another write
			// (a wrong try counted), and the same request may succeed.
			return errs.Unavailablef("the code could not be checked; try again")
		}
		return codeError(reasonInvalidCode) // used, by a concurrent request
	}
	return errs.Wrap(err, "consume code")
}

func (s *DynamoStore) unuse(ctx context.Context, rec *codeRecord, use string) error {
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: key(rec.PK, rec.SK),
		UpdateExpression:          aws.String("REMOVE usedBy"),
		ConditionExpression:       aws.String("usedBy = :use"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":use": str(use)},
	})
	if dynamo.ConditionFailed(err) {
		return nil // no longer this request's use: nothing to give back
	}
	return err
}

func (s *DynamoStore) holder(ctx context.Context, tenantID, kind, value string) (string, error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Directory.Table),
		Key:       s.Directory.UniqueKey(tenantID, kind, value),
	})
	if err != nil {
		return "", errs.Wrap(err, "find member by "+kind)
	}
	id, err := directory.Holder(out.Item)
	return id, errs.Wrap(err, "find member by "+kind)
}

func (s *DynamoStore) principal(ctx context.Context, tenantID, memberID string) (*directory.Principal, error) {
	k := directory.MemberKey(tenantID, memberID)
	read := directory.PrincipalRead(k)
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Directory.Table), Key: k,
		ProjectionExpression: read.ProjectionExpression, ExpressionAttributeNames: read.ExpressionAttributeNames,
	})
	if err != nil {
		return nil, errs.Wrap(err, "read member")
	}
	return decodePrincipal(out.Item)
}

func (s *DynamoStore) limit(ctx context.Context, l rateLimit) (release func(context.Context) error, err error) {
	dayTTL := num(l.nextDay().Add(24 * time.Hour).Unix())
	cool := cooldownKey(l.ref)
	counter := func(k map[string]types.AttributeValue, cap int) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.Table),
			Key:                       k,
			UpdateExpression:          aws.String("ADD n :one SET #ttl = :ttl"),
			ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :cap"),
			ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":ttl": dayTTL, ":cap": num(int64(cap))},
		}}
	}
	tx := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                aws.String(s.Table),
			Key:                      cool,
			UpdateExpression:         aws.String("SET lastAt = :now, nonce = :nonce, #ttl = :ttl"),
			ConditionExpression:      aws.String("attribute_not_exists(lastAt) OR lastAt <= :cool"),
			ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": num(l.now.UnixMilli()), ":cool": num(l.now.Add(-CodeCooldown).UnixMilli()), ":nonce": str(l.nonce),
				":ttl": num(l.now.Add(CodeCooldown + time.Hour).Unix()),
			},
		}},
		counter(key(tenantPK(l.ref.tenantID), "RATE#mobile#"+l.ref.mobileToken+"#"+l.day()), l.mobileCap),
		counter(key("RATE#ip#"+l.ipToken, l.day()), l.ipCap),
	}
	release = func(ctx context.Context) error {
		_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(s.Table), Key: cool,
			ConditionExpression:       aws.String("nonce = :nonce"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":nonce": str(l.nonce)},
		})
		if dynamo.ConditionFailed(err) {
			return nil // another request's cooldown now: not ours to lift
		}
		return err
	}
	_, err = s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	switch {
	case err == nil:
		return release, nil
	case dynamo.FailedCondition(err, 0):
		return s.cooledDown(ctx, l, cool, release)
	case dynamo.FailedCondition(err, 1), dynamo.FailedCondition(err, 2):
		return nil, dailyLimitError(l)
	case dynamo.Conflicted(err):
		return nil, busyError()
	}
	return nil, errs.Wrap(err, "rate limit sms codes")
}

// cooledDown answers a request that met a cooldown: its own, when the SDK
// retried a write that had succeeded, or another request's.
func (s *DynamoStore) cooledDown(ctx context.Context, l rateLimit, cool map[string]types.AttributeValue, release func(context.Context) error) (func(context.Context) error, error) {
	wait := CodeCooldown
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: cool, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, cooldownError(wait)
	}
	var last struct {
		LastAt int64  `dynamodbav:"lastAt"`
		Nonce  string `dynamodbav:"nonce"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &last); err != nil {
		return nil, errs.Wrap(err, "decode code cooldown")
	}
	if last.Nonce == l.nonce {
		return release, nil
	}
	if last.LastAt > 0 {
		wait = time.UnixMilli(last.LastAt).Add(CodeCooldown).Sub(l.now)
	}
	return nil, cooldownError(wait)
}
