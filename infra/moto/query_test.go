package moto

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The launcher hands moto's query only the items of a partition a page can
// visit, cut by bisection from a sorted copy kept per table version. Every
// page of every query here must come out of the patched server as it comes
// out of stock moto: items in order, counts, LastEvaluatedKey, for each key
// condition DynamoDB has, both directions, filters, limits, and pages that
// end by size (moto ends a page at 1 MB, and looks at the items after the
// matches to decide whether to say there is more).
func TestPatchedPagesMatchStock(t *testing.T) {
	_, got := matchStock(t, pageScenario)
	// What the scenario must show, so that it cannot pass by seeing little.
	lacking(t, got,
		// A page ended by size, and one ended by the size of an item
		// after the matches.
		"partition forward limit=none page 1 (count 1, scanned 1): t/S#050 next none",
		"begins M# forward limit=none page 1 (count 0, scanned 0):  next none",
		"between N backward limit=7 page 2",
		"foreign start key",
	)
}

// matchStock runs a scenario on a patched and a stock server, reports
// where their observations differ, and returns the patched server and what
// it showed.
func matchStock(t *testing.T, scenario func(context.Context, *testing.T, *Server) []string) (*Server, []string) {
	t.Helper()
	ctx := context.Background()
	patched := startServer(t, false)
	got := scenario(ctx, t, patched)
	diffLines(t, got, scenario(ctx, t, startServer(t, true)))
	return patched, got
}

// diffLines reports the first few lines where the patched server's
// observations differ from stock moto's.
func diffLines(t *testing.T, patched, stock []string) {
	t.Helper()
	for i, bad := 0, 0; i < max(len(patched), len(stock)) && bad < 5; i++ {
		p, s := lineAt(patched, i), lineAt(stock, i)
		if p != s {
			bad++
			t.Errorf("observation %d\npatched: %s\nstock:   %s", i, p, s)
		}
	}
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(none)"
}

// lacking reports what a scenario should have seen and did not, so that a
// comparison cannot pass by both servers doing nothing.
func lacking(t *testing.T, seen []string, wants ...string) {
	t.Helper()
	all := strings.Join(seen, "\n")
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("the scenario lacks %q:\n%s", w, all)
		}
	}
}

// Paging through a partition hands moto about a page of items per Query,
// not the partition: what made an export of a 10,000-member directory
// quadratic.
func TestPatchedPagesReadAPage(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, false)
	db := dynamoClient(srv)
	createTable(ctx, t, db, "big", false)
	var items []map[string]types.AttributeValue
	for i := range 3000 {
		prefix := []string{"A#", "M#", "S#"}[i%3]
		items = append(items, map[string]types.AttributeValue{"pk": s("t"), "sk": s(fmt.Sprintf("%s%05d", prefix, i))})
	}
	batchPut(ctx, t, db, "big", items)
	before, err := ReadStats(ctx, srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	in := &dynamodb.QueryInput{
		TableName: aws.String("big"), KeyConditionExpression: aws.String("pk = :p AND begins_with(sk, :m)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("t"), ":m": s("M#")}, Limit: aws.Int32(50),
	}
	pages, read := 0, 0
	for {
		out, err := db.Query(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		read += len(out.Items)
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	after, err := ReadStats(ctx, srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// moto ends the 20th page with a LastEvaluatedKey, as S# items follow.
	if read != 1000 || pages != 21 {
		t.Fatalf("read %d items in %d pages, want 1000 in 21", read, pages)
	}
	if handed := after.QueryCandidates - before.QueryCandidates; handed > pages*51 {
		t.Errorf("%d pages of 50 handed moto %d items: more than a page and one each", pages, handed)
	}
}

func batchPut(ctx context.Context, t *testing.T, db *dynamodb.Client, table string, items []map[string]types.AttributeValue) {
	t.Helper()
	for chunk := range slices.Chunk(items, 25) {
		var reqs []types.WriteRequest
		for _, it := range chunk {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.UnprocessedItems) > 0 {
			t.Fatalf("moto left %d items unprocessed", len(out.UnprocessedItems[table]))
		}
	}
}

func pageScenario(ctx context.Context, t *testing.T, srv *Server) []string {
	t.Helper()
	db := dynamoClient(srv)
	createTable(ctx, t, db, "pages", false)
	n := types.ScalarAttributeTypeN
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("numbers"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: n},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	}); err != nil {
		t.Fatal(err)
	}

	// Partition "t": A#, M# and S# items; three M# items of 300 KB end a
	// page by size, and a 350 KB S# item after the M# ones makes moto end
	// the last M# page with a LastEvaluatedKey although no M# item is left.
	var items []map[string]types.AttributeValue
	for i := range 40 {
		item := map[string]types.AttributeValue{"pk": s("t"), "sk": s(fmt.Sprintf("M#%03d", i)), "odd": s(fmt.Sprint(i % 2))}
		if i == 10 || i == 11 || i == 12 {
			item["blob"] = s(strings.Repeat("x", 300<<10))
		}
		items = append(items, item)
	}
	for i := range 20 {
		items = append(items,
			map[string]types.AttributeValue{"pk": s("t"), "sk": s(fmt.Sprintf("A#%03d", i)), "odd": s(fmt.Sprint(i % 2))},
			map[string]types.AttributeValue{"pk": s("t"), "sk": s(fmt.Sprintf("S#%03d", i)), "odd": s(fmt.Sprint(i % 2))},
			map[string]types.AttributeValue{"pk": s("u"), "sk": s(fmt.Sprintf("M#%03d", i)), "odd": s(fmt.Sprint(i % 2))},
		)
	}
	items = append(items, map[string]types.AttributeValue{"pk": s("t"), "sk": s("S#050"), "odd": s("0"), "blob": s(strings.Repeat("y", 350<<10))})
	batchPut(ctx, t, db, "pages", items)
	var numbers []map[string]types.AttributeValue
	for i := range 120 {
		numbers = append(numbers, map[string]types.AttributeValue{"pk": s("n"), "sk": &types.AttributeValueMemberN{Value: fmt.Sprint(i)}})
	}
	batchPut(ctx, t, db, "numbers", numbers)

	var seen []string
	pages := func(label string, in dynamodb.QueryInput) {
		for _, forward := range []bool{true, false} {
			for _, limit := range []int32{0, 1, 7, 25} {
				in := in
				in.ScanIndexForward = aws.Bool(forward)
				in.Limit = nil
				if limit > 0 {
					in.Limit = aws.Int32(limit)
				}
				name := fmt.Sprintf("%s %s limit=%s", label, map[bool]string{true: "forward", false: "backward"}[forward], map[bool]string{true: "none", false: fmt.Sprint(limit)}[limit == 0])
				seen = append(seen, queryPages(ctx, t, db, name, &in)...)
			}
		}
	}
	str := func(kv ...string) map[string]types.AttributeValue {
		m := map[string]types.AttributeValue{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = s(kv[i+1])
		}
		return m
	}
	num := func(kv ...string) map[string]types.AttributeValue {
		m := map[string]types.AttributeValue{":p": s("n")}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = &types.AttributeValueMemberN{Value: kv[i+1]}
		}
		return m
	}
	q := func(cond string, values map[string]types.AttributeValue) dynamodb.QueryInput {
		return dynamodb.QueryInput{TableName: aws.String("pages"), KeyConditionExpression: aws.String("pk = :p" + cond), ExpressionAttributeValues: values}
	}
	pages("partition", q("", str(":p", "t")))
	pages("begins M#", q(" AND begins_with(sk, :m)", str(":p", "t", ":m", "M#")))
	pages("begins Z#", q(" AND begins_with(sk, :m)", str(":p", "t", ":m", "Z#")))
	pages("between", q(" AND sk BETWEEN :a AND :b", str(":p", "t", ":a", "A#015", ":b", "M#004")))
	pages("between reversed", q(" AND sk BETWEEN :a AND :b", str(":p", "t", ":a", "M#004", ":b", "A#015")))
	pages("equal", q(" AND sk = :a", str(":p", "t", ":a", "M#020")))
	pages("less", q(" AND sk < :a", str(":p", "t", ":a", "A#010")))
	pages("less or equal", q(" AND sk <= :a", str(":p", "t", ":a", "M#")))
	pages("greater", q(" AND sk > :a", str(":p", "t", ":a", "M#038")))
	pages("greater or equal", q(" AND sk >= :a", str(":p", "t", ":a", "S#019")))
	filtered := q(" AND begins_with(sk, :m)", str(":p", "t", ":m", "M#", ":one", "1"))
	filtered.FilterExpression = aws.String("odd = :one")
	pages("begins M# filtered", filtered)
	legacy := dynamodb.QueryInput{
		TableName: aws.String("pages"),
		KeyConditions: map[string]types.Condition{
			"pk": {ComparisonOperator: types.ComparisonOperatorEq, AttributeValueList: []types.AttributeValue{s("u")}},
		},
		QueryFilter: map[string]types.Condition{
			"odd": {ComparisonOperator: types.ComparisonOperatorEq, AttributeValueList: []types.AttributeValue{s("1")}},
		},
	}
	pages("legacy filter", legacy)
	nq := func(cond string, values map[string]types.AttributeValue) dynamodb.QueryInput {
		return dynamodb.QueryInput{TableName: aws.String("numbers"), KeyConditionExpression: aws.String("pk = :p" + cond), ExpressionAttributeValues: values}
	}
	pages("between N", nq(" AND sk BETWEEN :a AND :b", num(":a", "9", ":b", "101")))
	pages("less N", nq(" AND sk < :a", num(":a", "15")))
	pages("greater N", nq(" AND sk > :a", num(":a", "99")))

	// A start key of another partition, and one between two items.
	for _, start := range []map[string]types.AttributeValue{str("pk", "u", "sk", "M#005"), str("pk", "t", "sk", "M#0055")} {
		in := q(" AND begins_with(sk, :m)", str(":p", "t", ":m", "M#"))
		in.ExclusiveStartKey = start
		in.Limit = aws.Int32(5)
		seen = append(seen, queryPages(ctx, t, db, "foreign start key "+itemKey(start), &in)...)
	}
	return seen
}

// queryPages pages through a query and says what each page held.
func queryPages(ctx context.Context, t *testing.T, db *dynamodb.Client, label string, in *dynamodb.QueryInput) []string {
	t.Helper()
	var seen []string
	for page := 0; page < 200; page++ {
		out, err := db.Query(ctx, in)
		if err != nil {
			return append(seen, fmt.Sprintf("%s page %d: %s", label, page, errorCode(err)))
		}
		var keys []string
		for _, it := range out.Items {
			keys = append(keys, itemKey(it))
		}
		next := "none"
		if out.LastEvaluatedKey != nil {
			next = itemKey(out.LastEvaluatedKey)
		}
		seen = append(seen, fmt.Sprintf("%s page %d (count %d, scanned %d): %s next %s", label, page, out.Count, out.ScannedCount, strings.Join(keys, " "), next))
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return seen
}

func itemKey(item map[string]types.AttributeValue) string {
	var parts []string
	for _, name := range []string{"pk", "sk"} {
		switch v := item[name].(type) {
		case *types.AttributeValueMemberS:
			parts = append(parts, v.Value)
		case *types.AttributeValueMemberN:
			parts = append(parts, v.Value)
		}
	}
	return strings.Join(parts, "/")
}

// The launcher writes the answers of item reads with moto's JSON encoder
// instead of its service-model serializer. The bodies must be the same
// JSON as stock moto's, for items of every attribute type.
func TestPatchedReadsAnswerAsStock(t *testing.T) {
	patched, got := matchStock(t, readScenario)
	if len(got) < 6 {
		t.Fatalf("the scenario saw %d answers", len(got))
	}
	st, err := ReadStats(context.Background(), patched.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if st.ReadsDumped < len(got) {
		t.Errorf("%d of %d reads went through the encoder", st.ReadsDumped, len(got))
	}
}

// recorder keeps the body of every answer the client receives, as JSON
// with its keys sorted.
type recorder struct{ bodies []string }

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("answer %s: %w", body, err)
	}
	sorted, _ := json.Marshal(v) // maps marshal with sorted keys
	r.bodies = append(r.bodies, string(sorted))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func readScenario(ctx context.Context, t *testing.T, srv *Server) []string {
	t.Helper()
	rec := &recorder{}
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.Endpoint), HTTPClient: rec,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	createTable(ctx, t, db, "reads", false)
	every := map[string]types.AttributeValue{
		"pk": s("t"), "sk": s("every"), "g": s("one"),
		"text": s("会议 \u00e9 \" \\ </>"), "n": &types.AttributeValueMemberN{Value: "-12.50"},
		"big": &types.AttributeValueMemberN{Value: "12345678901234567890.123456789"},
		"bin": &types.AttributeValueMemberB{Value: []byte{0, 1, 2, 250, 255}},
		"yes": &types.AttributeValueMemberBOOL{Value: true}, "none": &types.AttributeValueMemberNULL{Value: true},
		"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}, "ns": &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs":   &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x"), &types.AttributeValueMemberN{Value: "3"}, &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberB{Value: []byte("v")}}}}},
		"map":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"inner": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}, "e": s("")}},
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("reads"), Item: every}); err != nil {
		t.Fatal(err)
	}
	for _, sk := range []string{"a", "b"} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("reads"), Item: map[string]types.AttributeValue{"pk": s("t"), "sk": s(sk)}}); err != nil {
			t.Fatal(err)
		}
	}
	rec.bodies = nil
	calls := []func() error{
		func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("reads"), Key: key("t", "every")})
			return err
		},
		func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("reads"), Key: key("t", "none"), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
			return err
		},
		func() error {
			_, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("reads"), KeyConditionExpression: aws.String("pk = :p"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("t")}, Limit: aws.Int32(2), ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes})
			return err
		},
		func() error {
			_, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("reads"), IndexName: aws.String("byG"), KeyConditionExpression: aws.String("g = :g"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":g": s("one")}, ProjectionExpression: aws.String("bin, #l, #m.e"),
				ExpressionAttributeNames: map[string]string{"#l": "list", "#m": "map"}})
			return err
		},
		func() error {
			_, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("reads"), KeyConditionExpression: aws.String("pk = :p"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": s("t")}, Select: types.SelectCount})
			return err
		},
		func() error {
			_, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("reads"), Limit: aws.Int32(1)})
			return err
		},
		func() error {
			_, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				"reads": {Keys: []map[string]types.AttributeValue{key("t", "every"), key("t", "a"), key("t", "missing")}},
			}})
			return err
		},
	}
	for _, call := range calls {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	return rec.bodies
}

// The launcher keeps each item's JSON between two dumps of a table
// (TableItems, the local stack's snapshots); every kind of write must show
// in the next dump as a Scan shows it: puts, overwrites, in-place updates,
// deletes, committed and cancelled transactions.
func TestTableItemsFollowWrites(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t, false)
	db := dynamoClient(srv)
	createTable(ctx, t, db, "dumps", false)
	update := func(sk, n string) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String("dumps"), Key: key("t", sk), UpdateExpression: aws.String("SET n = :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": s(n)},
		}}
	}
	steps := []func() error{
		func() error {
			return transactErr(ctx, db, put("dumps", "t", "a", "n", "1"), put("dumps", "t", "b", "n", "1"), put("dumps", "t", "c", "n", "1"))
		},
		func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("dumps"), Key: key("t", "a"),
				UpdateExpression: aws.String("SET n = :n, g = :g"), ExpressionAttributeValues: map[string]types.AttributeValue{":n": s("2"), ":g": s("one")}})
			return err
		},
		func() error { return transactErr(ctx, db, update("b", "3"), put("dumps", "t", "c", "n", "3")) },
		func() error {
			// Cancelled by its condition: the update it made first is undone.
			cond := put("dumps", "t", "c", "n", "4")
			cond.Put.ConditionExpression = aws.String("attribute_not_exists(pk)")
			if err := transactErr(ctx, db, update("a", "4"), cond); err == nil {
				t.Fatal("the conditional transaction committed")
			}
			return nil
		},
		func() error {
			_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("dumps"), Key: key("t", "b")})
			return err
		},
		func() error {
			// An update whose condition fails changes nothing.
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("dumps"), Key: key("t", "a"),
				UpdateExpression: aws.String("SET n = :n"), ConditionExpression: aws.String("n = :n"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": s("9")}})
			if err == nil {
				t.Fatal("the conditional update passed")
			}
			return nil
		},
	}
	last := int64(-1)
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		version, items, err := TableItems(ctx, srv.Endpoint, "dumps")
		if err != nil {
			t.Fatal(err)
		}
		var dumped []string
		for _, it := range items {
			b, err := json.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			sorted, _ := json.Marshal(v)
			dumped = append(dumped, string(sorted))
		}
		slices.Sort(dumped)
		if got, want := strings.Join(dumped, " "), scanText(ctx, t, db, "dumps"); got != want {
			t.Errorf("step %d: the dump holds\n%s\na Scan\n%s", i, got, want)
		}
		if version < last {
			t.Errorf("step %d: version %d after %d", i, version, last)
		}
		last = version
	}
}

func transactErr(ctx context.Context, db *dynamodb.Client, items ...types.TransactWriteItem) error {
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return err
}
