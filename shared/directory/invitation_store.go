package directory

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/audit"
	"workbench/shared/errs"
)

type invitationRecord struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Type string `dynamodbav:"type"`
	Exp  int64  `dynamodbav:"exp"` // expiresAt in epoch seconds, for the use condition
	TTL  int64  `dynamodbav:"ttl"`
	Invitation
}

func (st *DynamoStore) CreateInvitation(ctx context.Context, tenantID string, inv Invitation, change audit.Change) error {
	item, err := attributevalue.MarshalMap(invitationRecord{
		PK: TenantPK(tenantID), SK: InvitationSK(inv.Code), Type: "invitation",
		Exp: inv.ExpiresAt.Unix(), TTL: inv.ExpiresAt.Add(30 * 24 * time.Hour).Unix(), Invitation: inv,
	})
	if err != nil {
		return errs.Wrap(err, "encode invitation")
	}
	t := &txn{}
	t.add(errRetry, putNew(st.Codec.Table, item))
	if err := st.audited(ctx, t, tenantID, change); err != nil {
		return err
	}
	return t.run(ctx, st.DB)
}

func (st *DynamoStore) Invitation(ctx context.Context, tenantID, code string) (Invitation, bool, error) {
	var rec invitationRecord
	ok, err := st.get(ctx, tenantID, InvitationSK(code), "invitation", &rec)
	return rec.Invitation, ok, err
}

// RegisterMember inserts m with a use of the invitation code, conditional
// on the invitation being unexpired (at m's creation) and not used up.
func (st *DynamoStore) RegisterMember(ctx context.Context, m Member, code string) error {
	use := types.TransactWriteItem{Update: &types.Update{
		TableName: st.table(), Key: key(m.TenantID, InvitationSK(code)),
		UpdateExpression:          aws.String("ADD uses :one"),
		ConditionExpression:       aws.String("exp > :now AND (attribute_not_exists(maxUses) OR uses < maxUses)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": avn(1), ":now": avn(int(m.CreatedAt.Unix()))},
	}}
	t := &txn{}
	t.add(errInvitationUsedUp, use)
	return st.insert(ctx, t, m, -1, nil)
}
