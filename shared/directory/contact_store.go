package directory

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// A frequent contact is an item "FC#<member>#<contact>" in its tenant's
// partition; score and count grow by ADD, so concurrent messages never
// lose a contact.

var _ ContactStore = (*DynamoStore)(nil)

func contactKey(tenantID, memberID, contactID string) map[string]types.AttributeValue {
	return key(tenantID, contactPrefix(memberID)+contactID)
}

func (st *DynamoStore) AddContact(ctx context.Context, tenantID, memberID, contactID string, at time.Time, w float64, manual bool) error {
	expr := "ADD score :w, #c :one SET lastAt = :at, tenantId = :t, memberId = :m, contactId = :x, #ty = :ty"
	vals := map[string]types.AttributeValue{
		":w":   &types.AttributeValueMemberN{Value: strconv.FormatFloat(w, 'g', 15, 64)},
		":one": avn(1), ":at": avs(at.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)),
		":t": avs(tenantID), ":m": avs(memberID), ":x": avs(contactID), ":ty": avs("contact"),
	}
	if manual {
		expr += ", manual = :true"
		vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	_, err := st.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Codec.Table), Key: contactKey(tenantID, memberID, contactID),
		UpdateExpression:          aws.String(expr),
		ExpressionAttributeNames:  map[string]string{"#c": "count", "#ty": "type"},
		ExpressionAttributeValues: vals,
	})
	return errs.Wrap(err, "touch contact")
}

func (st *DynamoStore) RemoveContact(ctx context.Context, tenantID, memberID, contactID string) error {
	_, err := st.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.Codec.Table), Key: contactKey(tenantID, memberID, contactID)})
	return errs.Wrap(err, "remove contact")
}

func (st *DynamoStore) ContactEntries(ctx context.Context, tenantID, memberID string, limit int) ([]ContactEntry, error) {
	var entries []ContactEntry
	var start map[string]types.AttributeValue
	for len(entries) < limit {
		res, err := st.DB.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(st.Codec.Table),
			KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": avs(TenantPK(tenantID)), ":p": avs(contactPrefix(memberID)),
			},
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, errs.Wrap(err, "list contacts")
		}
		for _, it := range res.Items {
			entries = append(entries, contactEntry(it))
		}
		if start = res.LastEvaluatedKey; start == nil {
			break
		}
	}
	return entries, nil
}

func contactEntry(it map[string]types.AttributeValue) ContactEntry {
	at, _ := time.Parse(time.RFC3339Nano, str(it["lastAt"]))
	manual, _ := it["manual"].(*types.AttributeValueMemberBOOL)
	return ContactEntry{ID: str(it["contactId"]), Score: num(it["score"]), Count: int(num(it["count"])), LastAt: at, Manual: manual != nil && manual.Value}
}
