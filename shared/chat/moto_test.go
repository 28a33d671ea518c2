package chat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/moto"
	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
	"workbench/shared/keyring"
)

// The tests of this file drive the service and the sweep against a moto
// server of their own, to count DynamoDB round trips and items exactly;
// the HTTP contract is tested through infra/stacktest in integration_test.go.

var motoURL string

func TestMain(m *testing.M) {
	// The same single-threaded moto server as the local stack's, but one of
	// this binary's own: the internal tests cannot import infra/stacktest
	// (it builds every function, chat's included).
	srv, err := moto.Start(context.Background(), moto.Options{Dir: moduleRoot(), Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "moto server:", err, "(run make deps)")
		os.Exit(1)
	}
	motoURL = srv.Endpoint
	code := m.Run()
	srv.Stop()
	os.Exit(code)
}

func moduleRoot() string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}

var tableSeq atomic.Int64

type fixture struct {
	db        *dynamodb.Client
	counter   *dynamo.Counter
	chatTable string
	codec     *directory.Codec
	svc       *Service
	rem       *Reminders
	sms       *fakeSMS
	now       time.Time
	clock     *time.Time
}

type fakeSMS struct {
	mu   sync.Mutex
	sent []struct{ To, Text string }
	fail map[string]bool
}

func (f *fakeSMS) Send(ctx context.Context, mobile, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[mobile] {
		return fmt.Errorf("carrier said no")
	}
	f.sent = append(f.sent, struct{ To, Text string }{mobile, text})
	return nil
}

func (f *fakeSMS) to(mobile string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.sent {
		if s.To == mobile {
			out = append(out, s.Text)
		}
	}
	return out
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	counter := &dynamo.Counter{}
	db := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(motoURL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}, dynamo.WithCounter(counter))
	n := tableSeq.Add(1)
	chatTable := fmt.Sprintf("chat-%d-%d", os.Getpid(), n)
	dirTable := fmt.Sprintf("directory-%d-%d", os.Getpid(), n)
	ctx := context.Background()
	for _, t := range []struct {
		name string
		gsis []string
	}{{chatTable, []string{"gsi1", "gsi2", listIndex}}, {dirTable, []string{"gsi1"}}} {
		in := &dynamodb.CreateTableInput{
			TableName:   aws.String(t.name),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
			},
		}
		for _, g := range t.gsis {
			projection := &types.Projection{ProjectionType: types.ProjectionTypeAll}
			if g == listIndex { // as template.yaml declares it
				projection = &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: listProjection}
			}
			in.AttributeDefinitions = append(in.AttributeDefinitions,
				types.AttributeDefinition{AttributeName: aws.String(g + "pk"), AttributeType: types.ScalarAttributeTypeS},
				types.AttributeDefinition{AttributeName: aws.String(g + "sk"), AttributeType: types.ScalarAttributeTypeS})
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
				IndexName: aws.String(g),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String(g + "pk"), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String(g + "sk"), KeyType: types.KeyTypeRange},
				},
				Projection: projection,
			})
		}
		// The name is this process's own: "already exists" is the SDK's
		// retry of a creation whose answer was lost on a loaded machine.
		var exists *types.ResourceInUseException
		if _, err := db.CreateTable(ctx, in); err != nil && !errors.As(err, &exists) {
			tb.Fatalf("create table: %v", err)
		}
	}
	keys, err := keyring.Parse(`{"active":"k1","k1":"test-data-key-material-0123456789abcdef"}`)
	if err != nil {
		tb.Fatal(err)
	}
	index, err := keyring.NewIndex("test-index-key-material-0123456789abcdef")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{db: db, counter: counter, chatTable: chatTable, sms: &fakeSMS{fail: map[string]bool{}}}
	f.now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	clock := f.now
	f.clock = &clock
	f.codec = &directory.Codec{Table: dirTable, Keys: keys, Index: index}
	nowFn := func() time.Time { return *f.clock }
	f.svc = &Service{Store: &DynamoStore{DB: db, Table: chatTable, Directory: &directory.Codec{Table: dirTable}}, Now: nowFn}
	f.rem = &Reminders{Store: &DynamoStore{DB: db, Table: chatTable, Directory: f.codec}, SMS: f.sms}
	return f
}

func (f *fixture) advance(d time.Duration) { *f.clock = f.clock.Add(d) }

var mobileSeq atomic.Int64

// member writes an enabled member of tenant into the directory, as the
// directory capability would.
func (f *fixture) member(tb testing.TB, tenantID, name string) (auth.Principal, string) {
	tb.Helper()
	return f.memberAs(tb, tenantID, name, "member")
}

func (f *fixture) memberAs(tb testing.TB, tenantID, name, role string) (auth.Principal, string) {
	tb.Helper()
	id := ids.New(*f.clock)
	mobile := fmt.Sprintf("139%08d", mobileSeq.Add(1))
	m := directory.Member{
		ID: id, TenantID: tenantID, Name: name, Mobile: mobile, Account: "acct" + id[len(id)-8:],
		Role: role, Enabled: true, CreatedAt: *f.clock, UpdatedAt: *f.clock, Version: 1,
	}
	tx, err := f.codec.CreateItems(m, ids.New(*f.clock))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.db.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: tx}); err != nil {
		tb.Fatalf("create member: %v", err)
	}
	return auth.Principal{TenantID: tenantID, MemberID: id, Role: role}, mobile
}

// seedMembers writes n enabled members' items (no reservations: the
// directory's rules are not under test here) with BatchWriteItem.
func (f *fixture) seedMembers(tb testing.TB, tenantID string, n int) []string {
	tb.Helper()
	var out []string
	var batch []types.WriteRequest
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := f.db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{f.codec.Table: batch},
		}); err != nil {
			tb.Fatal(err)
		}
		batch = nil
	}
	for i := 0; i < n; i++ {
		id := ids.New(*f.clock)
		item, err := f.codec.Item(directory.Member{
			ID: id, TenantID: tenantID, Name: fmt.Sprintf("成员%d", i), Mobile: fmt.Sprintf("137%08d", mobileSeq.Add(1)),
			Account: "seed" + id[len(id)-8:], Role: "member", Enabled: true, CreatedAt: *f.clock, UpdatedAt: *f.clock,
		})
		if err != nil {
			tb.Fatal(err)
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		out = append(out, id)
		if len(batch) == dynamo.MaxBatchWrite {
			flush()
		}
	}
	flush()
	return out
}
