package approval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"workbench/infra/localstack"
	"workbench/infra/stacktest"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
	"workbench/shared/keyring"
	"workbench/shared/notice"
)

// The integration tests drive the app through stacktest: every function of the
// template built by stack.Functions, with the template's environment, on
// the test's own tables and secrets, over HTTP through the local gateway.

type stackT struct {
	URL     string
	DB      *dynamodb.Client // the test's own client, not counted
	Counter *dynamo.Counter  // every function's round trips
	Codec   *directory.Codec
	Notices *notice.DynamoStore
	Tables  map[string]string
	st      *stacktest.Stack
	clock   *stacktest.Clock
}

var seq atomic.Int64

// now2026 is a fixed "now" for tests that plan December 2026.
var now2026 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// newStack stands up a stack whose clock starts at now (setNow moves it).
func newStack(tb testing.TB, now time.Time) *stackT {
	tb.Helper()
	s := &stackT{Counter: &dynamo.Counter{}, clock: stacktest.NewClock(now)}
	s.st = stacktest.New(tb, stacktest.WithClock(s.clock.Now), stacktest.WithCounter(s.Counter))
	s.URL, s.Tables, s.DB = s.st.URL, s.st.Tables, s.st.DynamoDB()
	env := s.st.Env("AnnouncementsFunction")
	secret := func(setting string) string {
		sm := secretsmanager.New(secretsmanager.Options{
			Region: localstack.Region, BaseEndpoint: aws.String(s.st.Endpoint),
			Credentials: credentials.NewStaticCredentialsProvider(localstack.AccessKeyID, localstack.SecretAccessKey, ""),
		})
		out, err := sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(env[setting])})
		if err != nil {
			tb.Fatalf("secret %s: %v", setting, err)
		}
		return aws.ToString(out.SecretString)
	}
	keys, err := keyring.Parse(secret("DATA_KEYS_SECRET"))
	if err != nil {
		tb.Fatal(err)
	}
	index, err := keyring.NewIndex(secret("INDEX_KEY_SECRET"))
	if err != nil {
		tb.Fatal(err)
	}
	s.Codec = &directory.Codec{Table: s.Tables["DirectoryTable"], Keys: keys, Index: index}
	s.Notices = &notice.DynamoStore{DB: s.DB, Table: s.Tables["NoticesTable"]}
	return s
}

// invoke runs a non-HTTP function with an event.
func (s *stackT) invoke(tb testing.TB, fn string, event any) []byte {
	tb.Helper()
	return s.st.Invoke(tb, fn, event)
}

func (s *stackT) setNow(t time.Time) { s.clock.Set(t) }

func mobile() string { return stacktest.Mobile() }

type member struct {
	ID, Mobile, Token string
}

type tenantT struct {
	ID, Code string
	Admin    member
}

// newTenant creates a tenant through the operator API, with its admin.
func (s *stackT) newTenant(tb testing.TB) tenantT {
	tb.Helper()
	tn := s.st.NewTenant(tb)
	return tenantT{ID: tn.ID, Code: tn.Code, Admin: member{ID: tn.Admin.ID, Mobile: tn.Admin.Mobile, Token: tn.Admin.Token}}
}

// member adds an enabled member through the Directory's admin route and
// opens a session for it.
func (s *stackT) member(tb testing.TB, t tenantT, role string, departments ...string) member {
	tb.Helper()
	body := map[string]any{"name": fmt.Sprintf("成员%d", seq.Add(1)), "mobile": mobile(), "role": role, "departmentIds": append([]string{}, departments...)}
	r := s.do(tb, "POST", "/v1/admin/members", t.Admin.Token, body)
	want(tb, r, 201)
	var m struct{ ID, Mobile string }
	r.decode(tb, &m)
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
	return s.st.Token(tb, t.ID, t.Code, memberID)
}

// disable turns a member off through the Directory's admin route.
func (s *stackT) disable(tb testing.TB, t tenantT, memberID string) {
	tb.Helper()
	want(tb, s.do(tb, "PUT", "/v1/admin/members/"+memberID+"/status", t.Admin.Token, map[string]bool{"enabled": false}), 200)
}

// department creates a department through the Directory's admin route.
func (s *stackT) department(tb testing.TB, t tenantT, name, parent string) string {
	tb.Helper()
	r := s.do(tb, "POST", "/v1/admin/departments", t.Admin.Token, map[string]string{"name": name, "parentId": parent})
	want(tb, r, 201)
	var d struct{ ID string }
	r.decode(tb, &d)
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

// The benchmarks count DynamoDB round trips per request with
// dynamo.Counter. Every authenticated request also pays the shared
// middleware's one session check (a BatchGetItem of session and member);
// "ddbcalls/op" counts everything, "appcalls/op" what the app itself does.

func (s *stackT) batchWrite(tb testing.TB, table string, items []map[string]types.AttributeValue) {
	tb.Helper()
	for len(items) > 0 {
		n := min(len(items), dynamo.MaxBatchWrite)
		req := make([]types.WriteRequest, n)
		for i, it := range items[:n] {
			req[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
		}
		items = items[n:]
		pending := map[string][]types.WriteRequest{table: req}
		for len(pending[table]) > 0 {
			out, err := s.DB.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				tb.Fatal(err)
			}
			pending = out.UnprocessedItems
		}
	}
}

func report(b *testing.B, c *dynamo.Counter, requests int) {
	total := float64(c.Calls()) / float64(requests)
	b.ReportMetric(total, "ddbcalls/op")
	b.ReportMetric(total-1, "appcalls/op")
	b.ReportMetric(float64(c.Items())/float64(requests), "ddbitems/op")
}
