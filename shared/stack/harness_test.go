package stack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"workbench/shared/auth"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
	"workbench/shared/keyring"
	"workbench/shared/notice"
	"workbench/shared/stack"
)

// Until the lead's infra/stacktest lands on main, these tests run the apps'
// functions as the stack builds them (stack.Functions, from an environment
// like the template's) against a moto server the test binary starts, each
// test with its own tables and secrets, and call them over real HTTP through
// a small API Gateway v2 adapter.

var motoURL string

func TestMain(m *testing.M) { os.Exit(runWithMoto(m)) }

func runWithMoto(m *testing.M) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	python := "python3"
	if p := os.Getenv("PYTHON"); p != "" {
		python = p
	} else if _, err := os.Stat("../../.local/venv/bin/python"); err == nil {
		python = "../../.local/venv/bin/python"
	}
	cmd := exec.Command(python, "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot start moto (make deps):", err)
		return 1
	}
	defer cmd.Process.Kill()
	motoURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(motoURL + "/moto-api/"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 300 {
			fmt.Fprintln(os.Stderr, "moto did not start")
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m.Run()
}

// moto is not safe under concurrent requests, so calls to it take turns
// (as on the local stack); the concurrency of our handlers is still real.
var motoTurn sync.Mutex

type serialClient struct{ inner aws.HTTPClient }

func (c serialClient) Do(r *http.Request) (*http.Response, error) {
	motoTurn.Lock()
	defer motoTurn.Unlock()
	resp, err := c.inner.Do(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, err
}

func serialDB(o *dynamodb.Options) { o.HTTPClient = serialClient{inner: o.HTTPClient} }

func awsOptions() []func(*awsconfig.LoadOptions) error {
	return []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithBaseEndpoint(motoURL),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
	}
}

type stackT struct {
	URL      string
	DB       *dynamodb.Client // counted by Counter
	Counter  *dynamo.Counter
	Codec    *directory.Codec
	Dir      *directory.Service
	Notices  *notice.DynamoStore
	Tables   map[string]string
	handlers map[string]lambda.Handler
	tokens   *auth.Tokens
	sessions *auth.DynamoSessions
	now      atomic.Pointer[time.Time]
}

var seq atomic.Int64

const (
	dataKeys = `{"active":"k1","k1":"test-data-key-0123456789abcdef0123456789abcdef"}`
	indexKey = "test-index-key-0123456789abcdef0123456789abcdef"
	tokenKey = "test-token-key-0123456789abcdef0123456789"
)

// newStack creates private tables and secrets and builds the apps'
// functions; the clock starts at now and moves with setNow.
func newStack(tb testing.TB, now time.Time) *stackT {
	tb.Helper()
	ctx := context.Background()
	s := &stackT{Counter: &dynamo.Counter{}, Tables: map[string]string{}, handlers: map[string]lambda.Handler{}}
	s.now.Store(&now)
	clock := func() time.Time { return *s.now.Load() }
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsOptions()...)
	if err != nil {
		tb.Fatal(err)
	}
	s.DB = dynamodb.NewFromConfig(cfg, serialDB, dynamo.WithCounter(s.Counter))
	n := seq.Add(1)
	settings := map[string]string{"AWS_ENDPOINT_URL": motoURL, "AWS_REGION": "us-east-1"}
	for name, setting := range map[string]string{
		"DirectoryTable": "DIRECTORY_TABLE", "IdentityTable": "IDENTITY_TABLE", "NoticesTable": "NOTICES_TABLE",
		"CalendarTable": "CALENDAR_TABLE", "ApprovalsTable": "APPROVALS_TABLE", "AnnouncementsTable": "ANNOUNCEMENTS_TABLE",
	} {
		s.Tables[name] = fmt.Sprintf("%s-%d-%d", name, os.Getpid(), n)
		settings[setting] = s.Tables[name]
		createTable(tb, s.DB, s.Tables[name], name != "NoticesTable")
	}
	secrets := secretsmanager.NewFromConfig(cfg)
	for setting, value := range map[string]string{"DATA_KEYS_SECRET": dataKeys, "INDEX_KEY_SECRET": indexKey, "TOKEN_KEY_SECRET": tokenKey} {
		name := fmt.Sprintf("%s-%d-%d", setting, os.Getpid(), n)
		if _, err := secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			tb.Fatal(err)
		}
		settings[setting] = name
	}
	for _, fn := range []string{"CalendarFunction", "CalendarReminderFunction", "ApprovalsFunction", "AnnouncementsFunction"} {
		env, err := cloud.Load(ctx, config.Map(settings), awsOptions()...)
		if err != nil {
			tb.Fatal(err)
		}
		env.Now = clock
		env.DynamoDB = dynamodb.New(env.DynamoDB.Options(), serialDB, dynamo.WithCounter(s.Counter))
		env.SNS = sns.New(env.SNS.Options(), func(o *sns.Options) { o.HTTPClient = serialClient{inner: o.HTTPClient} })
		h, err := stack.Functions[fn](ctx, env)
		if err != nil {
			tb.Fatalf("build %s: %v", fn, err)
		}
		s.handlers[fn] = h
	}
	keys, _ := keyring.Parse(dataKeys)
	index, _ := keyring.NewIndex(indexKey)
	s.Codec = &directory.Codec{Table: s.Tables["DirectoryTable"], Keys: keys, Index: index}
	s.Dir = &directory.Service{DB: s.DB, Codec: s.Codec, Now: clock}
	s.Notices = &notice.DynamoStore{DB: s.DB, Table: s.Tables["NoticesTable"]}
	s.tokens = &auth.Tokens{Key: []byte(tokenKey), Now: clock}
	s.sessions = &auth.DynamoSessions{DB: s.DB, IdentityTable: s.Tables["IdentityTable"], DirectoryTable: s.Tables["DirectoryTable"], Now: clock}
	srv := httptest.NewServer(http.HandlerFunc(s.gateway))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func createTable(tb testing.TB, db *dynamodb.Client, name string, gsi bool) {
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
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
	if gsi {
		in.AttributeDefinitions = append(in.AttributeDefinitions,
			types.AttributeDefinition{AttributeName: aws.String("gsi1pk"), AttributeType: types.ScalarAttributeTypeS},
			types.AttributeDefinition{AttributeName: aws.String("gsi1sk"), AttributeType: types.ScalarAttributeTypeS})
		in.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{
			IndexName: aws.String("gsi1"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("gsi1pk"), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String("gsi1sk"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}}
	}
	if _, err := db.CreateTable(context.Background(), in); err != nil {
		tb.Fatalf("create table %s: %v", name, err)
	}
}

// gateway routes by path prefix to a function and invokes it with the API
// Gateway v2 event, as the HTTP API does.
func (s *stackT) gateway(w http.ResponseWriter, r *http.Request) {
	fn := ""
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/calendar"):
		fn = "CalendarFunction"
	case strings.HasPrefix(r.URL.Path, "/v1/approvals"):
		fn = "ApprovalsFunction"
	case strings.HasPrefix(r.URL.Path, "/v1/announcements"):
		fn = "AnnouncementsFunction"
	default:
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	headers := map[string]string{}
	for k := range r.Header {
		headers[strings.ToLower(k)] = r.Header.Get(k)
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery,
		Headers: headers, Body: string(body),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: ids.New(time.Now()),
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, SourceIP: "127.0.0.1", UserAgent: r.UserAgent()},
		},
	}
	payload, _ := json.Marshal(ev)
	out, err := s.handlers[fn].Invoke(r.Context(), payload)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.StatusCode)
	b := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, _ = base64.StdEncoding.DecodeString(resp.Body)
	}
	w.Write(b)
}

// invoke runs a non-HTTP function with an event.
func (s *stackT) invoke(tb testing.TB, fn string, event any) []byte {
	tb.Helper()
	payload, _ := json.Marshal(event)
	out, err := s.handlers[fn].Invoke(context.Background(), payload)
	if err != nil {
		tb.Fatalf("invoke %s: %v", fn, err)
	}
	return out
}

func (s *stackT) setNow(t time.Time) { s.now.Store(&t) }

var mobileSeq atomic.Int64

func mobile() string {
	return fmt.Sprintf("137%08d", (time.Now().UnixNano()/1000+mobileSeq.Add(7919))%100000000)
}

type member struct {
	ID, Mobile, Token string
}

type tenantT struct {
	ID, Code string
	Admin    member
}

// newTenant writes a tenant's admin as the directory does and logs it in.
func (s *stackT) newTenant(tb testing.TB) tenantT {
	tb.Helper()
	t := tenantT{ID: ids.New(time.Now()), Code: fmt.Sprintf("t%d", seq.Add(1))}
	t.Admin = s.member(tb, t, directory.RoleAdmin)
	return t
}

// member adds an enabled member of the tenant in the given departments
// and opens a session for it.
func (s *stackT) member(tb testing.TB, t tenantT, role string, departments ...string) member {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	n := seq.Add(1)
	m := directory.Member{
		ID: ids.New(now), TenantID: t.ID, Name: fmt.Sprintf("成员%d", n), Mobile: mobile(), Account: fmt.Sprintf("m%d", n),
		Role: role, Enabled: true, DepartmentIDs: append([]string{}, departments...), Fields: map[string]any{},
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	items, err := s.Codec.CreateItems(m, ids.New(now))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.DB.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		tb.Fatal(err)
	}
	return member{ID: m.ID, Mobile: m.Mobile, Token: s.token(tb, t, m.ID)}
}

// seedMembers writes n enabled members' items (as the directory encodes
// them) with BatchWriteItem, without sessions: a fast seed for big tenants.
func (s *stackT) seedMembers(tb testing.TB, t tenantT, n int, departments ...string) []string {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var ids_ []string
	var batch []types.WriteRequest
	flush := func() {
		for len(batch) > 0 {
			out, err := s.DB.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.Tables["DirectoryTable"]: batch}})
			if err != nil {
				tb.Fatal(err)
			}
			batch = out.UnprocessedItems[s.Tables["DirectoryTable"]]
		}
	}
	for range n {
		k := seq.Add(1)
		m := directory.Member{
			ID: ids.New(now), TenantID: t.ID, Name: fmt.Sprintf("成员%d", k), Mobile: mobile(), Account: fmt.Sprintf("m%d", k),
			Role: directory.RoleMember, Enabled: true, DepartmentIDs: append([]string{}, departments...), Fields: map[string]any{},
			CreatedAt: now, UpdatedAt: now, Version: 1,
		}
		item, err := s.Codec.Item(m)
		if err != nil {
			tb.Fatal(err)
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		ids_ = append(ids_, m.ID)
		if len(batch) == dynamo.MaxBatchWrite {
			flush()
		}
	}
	flush()
	return ids_
}

func (s *stackT) token(tb testing.TB, t tenantT, memberID string) string {
	tb.Helper()
	now := s.now.Load().UTC()
	sess := auth.NewSession(ids.New(now), t.ID, t.Code, memberID, "sms", now, 365*24*time.Hour)
	if err := s.sessions.Put(context.Background(), sess); err != nil {
		tb.Fatal(err)
	}
	s.tokens.TTL = 365 * 24 * time.Hour
	tok, _, err := s.tokens.Issue(auth.Principal{TenantID: t.ID, TenantCode: t.Code, MemberID: memberID, SessionID: sess.ID})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (s *stackT) disable(tb testing.TB, t tenantT, memberID string) {
	tb.Helper()
	_, err := s.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Tables["DirectoryTable"]), Key: s.Codec.Key(t.ID, memberID),
		UpdateExpression:          aws.String("SET enabled = :f"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}},
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func (s *stackT) department(tb testing.TB, t tenantT, name, parent string) string {
	tb.Helper()
	d, err := s.Dir.CreateDepartment(context.Background(), t.ID, name, parent)
	if err != nil {
		tb.Fatal(err)
	}
	return d.ID
}

func (s *stackT) notices(tb testing.TB, t tenantT, memberID string) []notice.Notice {
	tb.Helper()
	list, _, err := s.Notices.List(context.Background(), t.ID, memberID, "", 100)
	if err != nil {
		tb.Fatal(err)
	}
	return list
}

type response struct {
	Status int
	Body   []byte
}

func (r response) decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r response) errorOf() (code, field string) {
	var e struct {
		Error struct{ Code, Field string }
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code, e.Error.Field
}

func (s *stackT) do(tb testing.TB, method, path, token string, body any) response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, data}
}

// want checks a response's status, and its error code and field when given.
func want(tb testing.TB, r response, status int, codeAndField ...string) {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	code, field := r.errorOf()
	if len(codeAndField) > 0 && code != codeAndField[0] {
		tb.Fatalf("error code %q, want %q: %s", code, codeAndField[0], r.Body)
	}
	if len(codeAndField) > 1 && field != codeAndField[1] {
		tb.Fatalf("error field %q, want %q: %s", field, codeAndField[1], r.Body)
	}
}
