package directory_test

import (
	"bytes"
	"context"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/auth"
	"workbench/shared/directory"
	"workbench/shared/directory/directoryhttp"
	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/ids"
	"workbench/shared/keyring"
	"workbench/shared/tenant"
)

// The tests run the directory's HTTP handlers over real HTTP against a moto
// server that the test binary starts, with their own tables per test.

var motoURL string

func TestMain(m *testing.M) {
	os.Exit(runWithMoto(m))
}

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
		if i > 200 {
			fmt.Fprintln(os.Stderr, "moto did not start")
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m.Run()
}

// sent records SMS.
type sent struct {
	mu  sync.Mutex
	sms map[string][]string
}

func (s *sent) Send(_ context.Context, mobile, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sms == nil {
		s.sms = map[string][]string{}
	}
	s.sms[mobile] = append(s.sms[mobile], text)
	return nil
}

func (s *sent) to(mobile string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sms[mobile]...)
}

// codes is the test's stand-in for Identity's register-code verifier:
// "123456" is right for any mobile.
type codes struct{}

func (codes) Verify(_ context.Context, tenantID, mobile, purpose, code string) error {
	if purpose != "register" || code != "123456" {
		return errs.E(errs.Unauthenticated, "invalid_code", "the code is wrong or has expired")
	}
	return nil
}

type stack struct {
	URL      string
	DB       *dynamodb.Client
	Counter  *dynamo.Counter
	Codec    *directory.Codec
	Service  *directory.Service
	Contacts *directory.Contacts
	SMS      *sent
	Tables   map[string]string
	tokens   *auth.Tokens
	sessions *auth.DynamoSessions
	tenants  *tenant.DynamoStore
	offset   atomic.Int64 // the clock runs this far ahead of time.Now
}

var tableSeq atomic.Int64

// moto is not safe under concurrent requests (a cancelled transaction
// restores a copy of the table), so calls to it take turns, like the
// stack's; concurrency on our side is still real.
var motoTurn sync.Mutex

type serialClient struct{ inner dynamodb.HTTPClient }

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

func newDB(c *dynamo.Counter) *dynamodb.Client {
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithBaseEndpoint(motoURL),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		panic(err)
	}
	opts := []func(*dynamodb.Options){func(o *dynamodb.Options) { o.HTTPClient = serialClient{inner: o.HTTPClient} }}
	if c != nil {
		opts = append(opts, dynamo.WithCounter(c))
	}
	return dynamodb.NewFromConfig(cfg, opts...)
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

func newStack(tb testing.TB) *stack {
	tb.Helper()
	s := &stack{Counter: &dynamo.Counter{}, SMS: &sent{}, Tables: map[string]string{}}
	clock := func() time.Time { return time.Now().UTC().Add(time.Duration(s.offset.Load())) }
	s.DB = newDB(s.Counter)
	n := tableSeq.Add(1)
	for _, name := range []string{"DirectoryTable", "IdentityTable", "TenantsTable"} {
		s.Tables[name] = fmt.Sprintf("%s-%d-%d", name, os.Getpid(), n)
		createTable(tb, s.DB, s.Tables[name], name != "TenantsTable")
	}
	keys, err := keyring.Parse(`{"active":"k1","k1":"test-data-key-0123456789abcdef0123456789abcdef"}`)
	if err != nil {
		tb.Fatal(err)
	}
	index, err := keyring.NewIndex("test-index-key-0123456789abcdef0123456789abcdef")
	if err != nil {
		tb.Fatal(err)
	}
	s.Codec = &directory.Codec{Table: s.Tables["DirectoryTable"], Keys: keys, Index: index}
	s.tenants = &tenant.DynamoStore{DB: s.DB, Table: s.Tables["TenantsTable"], Directory: s.Codec}
	s.Service = &directory.Service{
		DB: s.DB, Codec: s.Codec, SMS: s.SMS,
		LoginURL:  "https://{tenant}.workbench.example.com/login",
		InviteURL: "https://{tenant}.workbench.example.com/join?code={code}",
		Codes:     codes{}, Tenants: tenantIDs{s.tenants}, Now: clock,
	}
	s.Contacts = &directory.Contacts{DB: s.DB, Codec: s.Codec, Members: s.Service, Now: clock}
	s.tokens = &auth.Tokens{Key: []byte("test-token-key-0123456789abcdef0123456789"), Now: clock}
	s.sessions = &auth.DynamoSessions{DB: s.DB, IdentityTable: s.Tables["IdentityTable"], DirectoryTable: s.Tables["DirectoryTable"], Now: clock}
	mw := &auth.Members{Tokens: s.tokens, Sessions: s.sessions}
	r := httpapi.NewRouter()
	(&directoryhttp.MembersHTTP{Service: s.Service, Auth: mw}).Register(r)
	(&directoryhttp.HTTP{Service: s.Service, Contacts: s.Contacts, Auth: mw}).Register(r)
	srv := httptest.NewServer(httpapi.Serve(r))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

type tenantIDs struct{ store *tenant.DynamoStore }

func (t tenantIDs) TenantID(ctx context.Context, code string) (string, error) {
	tn, err := t.store.Get(ctx, code)
	return tn.ID, err
}

// advance moves the stack's clock ahead.
func (s *stack) advance(d time.Duration) { s.offset.Add(int64(d)) }

var mobileSeq atomic.Int64

// mobile returns a mobile no other test uses.
func (s *stack) mobile() string {
	return fmt.Sprintf("139%08d", (time.Now().UnixNano()/1000+mobileSeq.Add(7919))%100000000)
}

type tenantInfo struct {
	ID, Code, AdminID, AdminMobile, Token string
}

var codeSeq atomic.Int64

// newTenant creates a tenant the way the operator API does (its admin goes
// through Codec.CreateItems) and logs the admin in.
func (s *stack) newTenant(tb testing.TB) tenantInfo {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	code := fmt.Sprintf("t%d-%d", os.Getpid(), codeSeq.Add(1))
	tn := tenant.Tenant{ID: ids.New(now), Code: code, Name: "测试企业", CreatedAt: now}
	admin := directory.Member{
		ID: ids.New(now), TenantID: tn.ID, Name: "管理员", Mobile: s.mobile(), Account: "guanliyuan",
		Role: directory.RoleAdmin, Enabled: true, DepartmentIDs: []string{}, Fields: map[string]any{},
		CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	if err := s.tenants.Create(context.Background(), tn, admin); err != nil {
		tb.Fatalf("create tenant: %v", err)
	}
	return tenantInfo{ID: tn.ID, Code: code, AdminID: admin.ID, AdminMobile: admin.Mobile, Token: s.token(tb, tn.ID, code, admin.ID)}
}

// token opens a session for a member and returns its access token.
func (s *stack) token(tb testing.TB, tenantID, code, memberID string) string {
	tb.Helper()
	now := time.Now().UTC()
	sess := auth.NewSession(ids.New(now), tenantID, code, memberID, "sms", now, 24*time.Hour)
	if err := s.sessions.Put(context.Background(), sess); err != nil {
		tb.Fatal(err)
	}
	tok, _, err := s.tokens.Issue(auth.Principal{TenantID: tenantID, TenantCode: code, MemberID: memberID, SessionID: sess.ID})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
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

// errorOf returns the error code and field of an error response.
func (r response) errorOf() (code, field string) {
	var e struct {
		Error struct{ Code, Field string }
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code, e.Error.Field
}

func (s *stack) do(tb testing.TB, method, path, token string, body any) response {
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

// want checks a response's status (and error code when given).
func want(tb testing.TB, r response, status int, code ...string) {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if len(code) > 0 {
		if got, _ := r.errorOf(); got != code[0] {
			tb.Fatalf("error code %q, want %q: %s", got, code[0], r.Body)
		}
	}
}
