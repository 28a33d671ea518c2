package directory

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Holders returns which members hold unique values of one kind (mobiles or
// accounts, already normalised): value → member id, absent when free. It
// reads the reservation items, 100 a BatchGetItem, so a bulk import matches
// a page of rows in one round trip.
func (s *Service) Holders(ctx context.Context, tenantID, kind string, values []string) (map[string]string, error) {
	return s.Store.Holders(ctx, tenantID, kind, values)
}

func (st *DynamoStore) Holders(ctx context.Context, tenantID, kind string, values []string) (map[string]string, error) {
	byToken := map[string]string{}
	var keys []map[string]types.AttributeValue
	for _, v := range values {
		k := st.Codec.UniqueKey(tenantID, kind, v)
		sk := str(k["sk"])
		if _, ok := byToken[sk]; ok {
			continue
		}
		byToken[sk] = v
		keys = append(keys, k)
	}
	items, err := st.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(items))
	for _, it := range items {
		out[byToken[str(it["sk"])]] = str(it["memberId"])
	}
	return out, nil
}
