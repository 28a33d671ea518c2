package notice

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// DecodeImage reads an image of a stream record of the notices table, given
// the record's keys: the notice, whose TenantID and MemberID are those of
// the inbox the keys name. ok is false for an item that is not in an inbox;
// an inbox item that does not decode, or does not match its key, is an
// error.
func DecodeImage(keys, image map[string]types.AttributeValue) (n Notice, ok bool, err error) {
	pk, _ := keys["pk"].(*types.AttributeValueMemberS)
	if pk == nil || !strings.HasPrefix(pk.Value, inboxPrefix) {
		return Notice{}, false, nil
	}
	if err := attributevalue.UnmarshalMap(image, &n); err != nil {
		return Notice{}, false, errs.Wrap(err, "decode notice")
	}
	if n.ID == "" || n.TenantID == "" || n.MemberID == "" || pk.Value != inboxPK(n.TenantID, n.MemberID) {
		return Notice{}, false, errs.Wrap(errs.E(errs.Internal, "internal", "notice item does not match its key"), "decode notice")
	}
	return n, true, nil
}
