package billing

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/errs"
)

// DecodeRecord decodes a subscription item read whole: the tenant lookup
// reads it in the same Query as the tenant item, so billing gives the
// decoding rather than the read.
func DecodeRecord(item map[string]types.AttributeValue) (Record, error) {
	r, err := decodeRecord(item)
	if err != nil {
		return Record{}, errs.Wrap(err, "decode subscription")
	}
	return r, nil
}
