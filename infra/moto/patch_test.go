package moto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// The launcher replaces moto's transaction rollback (whole-table copies)
// with an undo log. These tests run the same transactions on a patched and
// a stock server and want the same answers, items, index and stream
// records, so a moto upgrade that changes what the patch stands in for
// fails here rather than in some test far away.
func TestPatchedTransactionsMatchStock(t *testing.T) {
	ctx := context.Background()
	patched := startServer(t, false)
	stock := startServer(t, true)

	got := transactionScenario(ctx, t, patched)
	want := transactionScenario(ctx, t, stock)
	if len(got) != len(want) {
		t.Fatalf("patched moto gave %d observations, stock %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d:\npatched: %s\nstock:   %s", i, got[i], want[i])
		}
	}

	// What the scenario must show whatever moto does, so the comparison
	// above cannot pass by both servers doing nothing.
	for _, w := range []string{
		`cancelled: [None None None ConditionalCheckFailed]`,
		`returned: {"pk":{"S":"t"},"sk":{"S":"guard"},"state":{"S":"locked"}}`,
		`duplicate: ValidationException`,
	} {
		if !slices.Contains(got, w) {
			t.Errorf("scenario lacks %q; it saw:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if !slices.Contains(got, `items after cancel: `+itemsAfterCommit(got)) {
		t.Errorf("a cancelled transaction changed the table:\n%s", strings.Join(got, "\n"))
	}
}

// A cancelled transaction leaves no table copies behind, where stock moto
// keeps one per item for as long as the server lives.
func TestPatchedTransactionsKeepNoCopies(t *testing.T) {
	ctx := context.Background()
	for _, stockMoto := range []bool{false, true} {
		s := startServer(t, stockMoto)
		db := dynamoClient(s)
		createTable(ctx, t, db, "copies", false)
		for i := range 20 {
			var items []types.TransactWriteItem
			for j := range 10 {
				items = append(items, put("copies", fmt.Sprintf("p%d", i), fmt.Sprintf("s%d", j)))
			}
			if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
				t.Fatal(err)
			}
		}
		st, err := ReadStats(ctx, s.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !stockMoto && st.TablesAlive != 1:
			t.Errorf("patched moto holds %d table objects for 1 table", st.TablesAlive)
		case stockMoto && st.TablesAlive <= 1:
			// moto fixed its leak: the undo log may no longer be needed.
			t.Errorf("stock moto holds %d table objects after 20 transactions: is the patch still needed?", st.TablesAlive)
		}
	}
}

func startServer(t *testing.T, stock bool) *Server {
	t.Helper()
	s, err := Start(context.Background(), Options{Dir: "../..", Stock: stock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func dynamoClient(s *Server) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func createTable(ctx context.Context, t *testing.T, db *dynamodb.Client, name string, stream bool) {
	t.Helper()
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("g"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String("byG"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	}
	if stream {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}
	}
	if _, err := db.CreateTable(ctx, in); err != nil {
		t.Fatal(err)
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func put(table, pk, sk string, attrs ...string) types.TransactWriteItem {
	item := map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
	for i := 0; i+1 < len(attrs); i += 2 {
		item[attrs[i]] = s(attrs[i+1])
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: item}}
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(pk), "sk": s(sk)}
}

// transactionScenario runs committed, cancelled and invalid transactions
// and returns what a client can observe after each, one line a fact.
func transactionScenario(ctx context.Context, t *testing.T, srv *Server) []string {
	t.Helper()
	db := dynamoClient(srv)
	const table = "txn"
	createTable(ctx, t, db, table, true)
	var seen []string
	observe := func(label string) {
		seen = append(seen, label+": "+scanText(ctx, t, db, table), "index: "+indexText(ctx, t, db, table))
	}
	transact := func(items ...types.TransactWriteItem) error {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return err
	}

	if err := transact(
		put(table, "t", "a", "g", "one", "n", "x"),
		put(table, "t", "b", "g", "one"),
		put(table, "t", "guard", "state", "locked"),
	); err != nil {
		t.Fatal(err)
	}
	// Committed: a put, an update, a delete and a check.
	if err := transact(
		put(table, "t", "c", "g", "two"),
		types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(table), Key: key("t", "a"),
			UpdateExpression:          aws.String("SET g = :g, n = :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":g": s("two"), ":n": s("y")},
		}},
		types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(table), Key: key("t", "b")}},
		types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(table), Key: key("t", "guard"),
			ConditionExpression: aws.String("attribute_exists(pk)"),
		}},
	); err != nil {
		t.Fatal(err)
	}
	observe("items after commit")

	// Cancelled by its last item: the first three must not stay.
	err := transact(
		put(table, "t", "d", "g", "one"),
		types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(table), Key: key("t", "a"),
			UpdateExpression:          aws.String("SET n = :n REMOVE g"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": s("z")},
		}},
		types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(table), Key: key("t", "c")}},
		types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName: aws.String(table), Key: key("t", "guard"),
			ConditionExpression:                 aws.String("#s = :open"),
			ExpressionAttributeNames:            map[string]string{"#s": "state"},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":open": s("open")},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
	)
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) {
		t.Fatalf("cancelled transaction: %v", err)
	}
	var codes []string
	for _, r := range cancelled.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
		if r.Item != nil {
			seen = append(seen, "returned: "+itemText(t, r.Item))
		}
	}
	seen = append(seen, fmt.Sprintf("cancelled: %v", codes))
	observe("items after cancel")

	// Two operations on one item: refused whole.
	err = transact(put(table, "t", "e"), types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(table), Key: key("t", "e")}})
	seen = append(seen, "duplicate: "+errorCode(err))
	observe("items after duplicate")

	seen = append(seen, "stream: "+streamText(ctx, t, srv, table))
	return seen
}

func errorCode(err error) string {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		return coded.ErrorCode()
	}
	return fmt.Sprint(err)
}

func scanText(ctx context.Context, t *testing.T, db *dynamodb.Client, table string) string {
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	return itemsText(t, out.Items)
}

func indexText(ctx context.Context, t *testing.T, db *dynamodb.Client, table string) string {
	var parts []string
	for _, g := range []string{"one", "two"} {
		out, err := db.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(table), IndexName: aws.String("byG"),
			KeyConditionExpression:    aws.String("g = :g"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":g": s(g)},
		})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, g+"="+itemsText(t, out.Items))
	}
	return strings.Join(parts, " ")
}

// streamText lists the stream's records as event names and keys, in order.
func streamText(ctx context.Context, t *testing.T, srv *Server, table string) string {
	db := dynamoClient(srv)
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	streams := dynamodbstreams.New(dynamodbstreams.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	arn := desc.Table.LatestStreamArn
	sd, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, shard := range sd.StreamDescription.Shards {
		it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: arn, ShardId: shard.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs.Records {
			sk := r.Dynamodb.Keys["sk"].(*streamtypes.AttributeValueMemberS).Value
			events = append(events, string(r.EventName)+" "+sk)
		}
	}
	return strings.Join(events, ", ")
}

func itemsText(t *testing.T, items []map[string]types.AttributeValue) string {
	var texts []string
	for _, it := range items {
		texts = append(texts, itemText(t, it))
	}
	// Scan order is moto's dictionary order; the set is what counts.
	slices.Sort(texts)
	return strings.Join(texts, " ")
}

func itemText(t *testing.T, item map[string]types.AttributeValue) string {
	plain := map[string]map[string]string{}
	for k, v := range item {
		sv, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			t.Fatalf("attribute %s is %T", k, v)
		}
		plain[k] = map[string]string{"S": sv.Value}
	}
	b, err := json.Marshal(plain) // json sorts map keys
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itemsAfterCommit(lines []string) string {
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "items after commit: "); ok {
			return rest
		}
	}
	return "(none)"
}

// Queries read only what they can match on the patched server; what they
// answer, page by page, must not change.
func TestPatchedQueriesMatchStock(t *testing.T) {
	ctx := context.Background()
	patched := startServer(t, false)
	got := queryScenario(ctx, t, patched)
	want := queryScenario(ctx, t, startServer(t, true))
	if !slices.Equal(got, want) {
		t.Fatalf("patched:\n%s\nstock:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(got) < 10 || !strings.Contains(strings.Join(got, "\n"), `"sk":{"S":"05"}`) {
		t.Fatalf("the scenario saw too little:\n%s", strings.Join(got, "\n"))
	}
	st, err := ReadStats(ctx, patched.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if st.QueriesNarrowed != len(got) || st.QueriesWhole != 0 {
		t.Errorf("of %d queries, %d were narrowed and %d read the whole table", len(got), st.QueriesNarrowed, st.QueriesWhole)
	}
}

func queryScenario(ctx context.Context, t *testing.T, srv *Server) []string {
	t.Helper()
	db := dynamoClient(srv)
	const table = "q"
	str := types.ScalarAttributeTypeS
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: str},
			{AttributeName: aws.String("sk"), AttributeType: str},
			{AttributeName: aws.String("g"), AttributeType: str},
			{AttributeName: aws.String("r"), AttributeType: str},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{
				IndexName:  aws.String("byG"),
				KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash}},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			},
			{
				IndexName: aws.String("byGR"),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String("r"), KeyType: types.KeyTypeRange},
				},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
			},
		},
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		item := map[string]types.AttributeValue{"pk": s(fmt.Sprintf("p%d", i%3)), "sk": s(fmt.Sprintf("%02d", i))}
		if i%5 != 0 { // a sparse index: some items are in no index
			item["g"] = s([]string{"one", "two"}[i%2])
			item["r"] = s(fmt.Sprintf("%02d", (i*7)%30))
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}

	var seen []string
	pages := func(label string, in dynamodb.QueryInput) {
		in.TableName = aws.String(table)
		in.Limit = aws.Int32(4)
		for page := 0; ; page++ {
			out, err := db.Query(ctx, &in)
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			seen = append(seen, fmt.Sprintf("%s page %d (%d scanned): %s", label, page, out.ScannedCount, itemsInOrder(t, out.Items)))
			if len(out.LastEvaluatedKey) == 0 {
				return
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	values := func(kv ...string) map[string]types.AttributeValue {
		m := map[string]types.AttributeValue{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = s(kv[i+1])
		}
		return m
	}
	pages("partition", dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: values(":p", "p1")})
	pages("partition backwards", dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: values(":p", "p2"), ScanIndexForward: aws.Bool(false)})
	pages("range", dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p AND sk BETWEEN :a AND :b"), ExpressionAttributeValues: values(":p", "p0", ":a", "03", ":b", "20")})
	pages("filtered", dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("attribute_exists(g)"), ExpressionAttributeValues: values(":p", "p0")})
	pages("no partition", dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: values(":p", "none")})
	pages("index", dynamodb.QueryInput{IndexName: aws.String("byG"), KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: values(":g", "one")})
	pages("index range", dynamodb.QueryInput{IndexName: aws.String("byGR"), KeyConditionExpression: aws.String("g = :g AND r > :r"), ExpressionAttributeValues: values(":g", "two", ":r", "10"), ScanIndexForward: aws.Bool(false)})
	return seen
}

// itemsInOrder keeps the order the server answered in.
func itemsInOrder(t *testing.T, items []map[string]types.AttributeValue) string {
	var texts []string
	for _, it := range items {
		texts = append(texts, itemText(t, it))
	}
	return strings.Join(texts, " ")
}

// A transaction sent again with its ClientRequestToken (as the SDK does
// when it retries one whose answer it lost) succeeds without running again,
// as on DynamoDB; stock moto runs it again, and its own condition cancels
// it.
func TestPatchedTransactionsHonourRequestTokens(t *testing.T) {
	ctx := context.Background()
	for _, stockMoto := range []bool{false, true} {
		srv := startServer(t, stockMoto)
		db := dynamoClient(srv)
		createTable(ctx, t, db, "tokens", false)
		create := func(token string) error {
			item := put("tokens", "t", "once", "n", "1")
			item.Put.ConditionExpression = aws.String("attribute_not_exists(pk)")
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
				TransactItems: []types.TransactWriteItem{item}, ClientRequestToken: aws.String(token),
			})
			return err
		}
		if err := create("token-1"); err != nil {
			t.Fatal(err)
		}
		again := create("token-1")
		var cancelled *types.TransactionCanceledException
		switch {
		case !stockMoto && again != nil:
			t.Errorf("patched moto: the same token again = %v, want success", again)
		case stockMoto && !errors.As(again, &cancelled):
			t.Errorf("stock moto: the same token again = %v; does moto honour tokens now? (the patch may go)", again)
		}
		if err := create("token-2"); !errors.As(err, &cancelled) {
			t.Errorf("stock=%v: another token = %v, want the condition to cancel it", stockMoto, err)
		}
		if !stockMoto {
			other := put("tokens", "t", "other")
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
				TransactItems: []types.TransactWriteItem{other}, ClientRequestToken: aws.String("token-1"),
			})
			if errorCode(err) != "IdempotentParameterMismatchException" {
				t.Errorf("the token with another request = %v", err)
			}
			if st, err := ReadStats(ctx, srv.Endpoint); err != nil || st.TransactionsReplayed != 1 {
				t.Errorf("stats %+v, %v: want 1 transaction replayed", st, err)
			}
		}
	}
}
