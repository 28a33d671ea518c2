package dynamo

import (
	"context"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DefaultShards is how many partitions a sharded index uses unless the
// INDEX_SHARDS setting says otherwise. A DynamoDB partition takes about
// 1,000 writes a second; a sparse index whose key is a constant (every
// pending reminder under "DUE") would cap the whole platform at that.
const DefaultShards = 8

// MaxShards bounds the setting: every sweep reads every shard.
const MaxShards = 64

// Shards spreads a sparse index partition that would otherwise be keyed by
// a constant over N partitions "<Key>#0" … "<Key>#<N-1>". An item's shard
// follows from its id alone, so rewriting an item keeps it in its shard,
// and readers query every shard and merge.
type Shards struct {
	Key string // the constant the index was keyed by before sharding
	N   int    // shards; zero or less means DefaultShards
}

func (s Shards) n() int {
	if s.N <= 0 {
		return DefaultShards
	}
	return min(s.N, MaxShards)
}

// For is the partition of the item identified by id.
func (s Shards) For(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return s.Key + "#" + strconv.Itoa(int(h.Sum32()%uint32(s.n())))
}

// Partitions are the partitions a reader queries: every shard, then Key
// itself, where items written before sharding stay until they leave the
// index (a sweep handles them like the others; once the constant partition
// is empty it costs one empty Query).
//
// Raising N is safe; lowering it would strand the items of the shards
// dropped, so it is never lowered.
func (s Shards) Partitions() []string {
	out := make([]string, 0, s.n()+1)
	for i := range s.n() {
		out = append(out, s.Key+"#"+strconv.Itoa(i))
	}
	return append(out, s.Key)
}

// Querier is the part of the DynamoDB client QueryShards uses.
type Querier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// QueryShards runs in once per partition, in parallel, with the partition
// as the value of placeholder in its key condition, reads each to its end
// and returns all the items in the order of their string attribute
// sortAttr (the index's sort key), ties broken by pk and sk.
func QueryShards(ctx context.Context, db Querier, in *dynamodb.QueryInput, placeholder string, partitions []string, sortAttr string) ([]map[string]types.AttributeValue, error) {
	results := make([][]map[string]types.AttributeValue, len(partitions))
	errs := make([]error, len(partitions))
	var wg sync.WaitGroup
	for i, p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = queryPartition(ctx, db, in, placeholder, p)
		}()
	}
	wg.Wait()
	var all []map[string]types.AttributeValue
	for i, err := range errs {
		if err != nil {
			return nil, err
		}
		all = append(all, results[i]...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		for _, a := range []string{sortAttr, "pk", "sk"} {
			x, y := stringAttr(all[i], a), stringAttr(all[j], a)
			if x != y {
				return x < y
			}
		}
		return false
	})
	return all, nil
}

func queryPartition(ctx context.Context, db Querier, tmpl *dynamodb.QueryInput, placeholder, partition string) ([]map[string]types.AttributeValue, error) {
	in := *tmpl
	in.ExpressionAttributeValues = make(map[string]types.AttributeValue, len(tmpl.ExpressionAttributeValues)+1)
	for k, v := range tmpl.ExpressionAttributeValues {
		in.ExpressionAttributeValues[k] = v
	}
	in.ExpressionAttributeValues[placeholder] = &types.AttributeValueMemberS{Value: partition}
	var items []map[string]types.AttributeValue
	for {
		out, err := db.Query(ctx, &in)
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
