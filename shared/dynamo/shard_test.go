package dynamo_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/dynamo"
)

func TestShardsSpreadKeys(t *testing.T) {
	sh := dynamo.Shards{Key: "DUE", N: 8}
	counts := map[string]int{}
	for i := range 8000 {
		counts[sh.For(fmt.Sprintf("t%03d#conv%05d#MSG#%012d", i%50, i, i%7))]++
	}
	if len(counts) != 8 {
		t.Fatalf("keys went to %d shards, want 8: %v", len(counts), counts)
	}
	for k, n := range counts {
		// 1,000 each on average; a hash that clumps would leave some far off.
		if n < 800 || n > 1200 {
			t.Errorf("shard %s holds %d of 8,000 keys: %v", k, n, counts)
		}
	}
	if first, again := sh.For("same id"), sh.For("same id"); first != again {
		t.Fatal("an item's shard must follow from its id alone")
	}
	parts := sh.Partitions()
	if len(parts) != 9 || parts[0] != "DUE#0" || parts[7] != "DUE#7" || parts[8] != "DUE" {
		t.Fatalf("partitions %v: want the 8 shards, then the unsharded key", parts)
	}
	if got := len((dynamo.Shards{Key: "DUE"}).Partitions()); got != dynamo.DefaultShards+1 {
		t.Fatalf("zero N: %d partitions, want the default %d + 1", got, dynamo.DefaultShards)
	}
}

// TestQueryShardsKeepsOrder writes a sparse index spread over 8 shards and
// the legacy constant partition, and reads it back through the real
// DynamoDB protocol: every item once, in sort-key order.
func TestQueryShardsKeepsOrder(t *testing.T) {
	s := stacktest.New(t)
	table := s.Tables["ChatTable"]
	var counter dynamo.Counter
	db := s.DynamoDB(dynamo.WithCounter(&counter))
	sh := dynamo.Shards{Key: "DUE", N: 8}
	var want []string
	var items []map[string]types.AttributeValue
	for i := range 300 {
		id := fmt.Sprintf("item%04d", i)
		due := fmt.Sprintf("2027-01-01T00:%02d:%02d.000Z#%s", (i*37)%60, i%60, id)
		part := sh.For(id)
		if i%10 == 0 {
			part = "DUE" // written before the index was sharded
		}
		items = append(items, map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "X#" + id}, "sk": &types.AttributeValueMemberS{Value: "R"},
			"gsi2pk": &types.AttributeValueMemberS{Value: part}, "gsi2sk": &types.AttributeValueMemberS{Value: due},
		})
		if due < "2027-01-01T00:45" {
			want = append(want, due)
		}
	}
	s.BatchWrite(t, table, items)
	sort.Strings(want)

	got, err := dynamo.QueryShards(context.Background(), db, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String("gsi2"),
		KeyConditionExpression:    aws.String("gsi2pk = :pk AND gsi2sk < :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberS{Value: "2027-01-01T00:45"}},
	}, ":pk", sh.Partitions(), "gsi2sk")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d items, want %d", len(got), len(want))
	}
	for i, it := range got {
		if sk := it["gsi2sk"].(*types.AttributeValueMemberS).Value; sk != want[i] {
			t.Fatalf("item %d is %s, want %s: the merge lost the order", i, sk, want[i])
		}
	}
	if q := counter.Calls("Query"); q != 9 {
		t.Fatalf("%d queries, want one per shard and one for the legacy key (9)", q)
	}
	if counter.Items() != len(want) {
		t.Fatalf("read %d items for %d due: only what is due is read", counter.Items(), len(want))
	}
}
