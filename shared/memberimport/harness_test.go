package memberimport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/infra/stacktest"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/keyring"
	"workbench/shared/memberimport"
)

// upload posts a file to the import route with a content type.
func upload(t testing.TB, st *stacktest.Stack, token, query, contentType string, body []byte) (int, []byte) {
	t.Helper()
	code, out, _ := uploadWith(t, st, token, query, contentType, body, nil)
	return code, out
}

// uploadWith is upload with more request headers, answering the response
// headers too; the response is checked against docs/openapi.yaml.
func uploadWith(t testing.TB, st *stacktest.Stack, token, query, contentType string, body []byte, header map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest("POST", st.URL+"/v1/admin/member-imports"+query, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	stacktest.CheckResponse(t, "POST", "/v1/admin/member-imports"+query, resp.StatusCode, resp.Header, out)
	return resp.StatusCode, out, resp.Header
}

// multipartFile wraps a file as the field "file" of a form.
func multipartFile(t testing.TB, name string, data []byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField("note", "ignored"); err != nil {
		t.Fatal(err)
	}
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

type status struct {
	ID                                                  string
	State                                               string
	Total, Processed, Created, Updated, Skipped, Failed int
	Failures                                            []memberimport.Failure
}

// newStack is a stack whose import route starts no job: the test invokes
// the job function with the job's event, as Lambda would, so that the job's
// AWS calls are recorded as the job function's (infra/iamcheck).
func newStack(t testing.TB) *stacktest.Stack {
	return stacktest.New(t, stacktest.WithFunctionEnv("MemberImportsFunction", map[string]string{"MEMBER_IMPORT_TRIGGER": "none"}))
}

// run invokes the job function for a job.
func run(t testing.TB, st *stacktest.Stack, tenantID, id string) {
	t.Helper()
	st.Invoke(t, "MemberImportJobFunction", memberimport.Event{TenantID: tenantID, JobID: id})
}

// start uploads a CSV, runs its job and returns the job's id.
func start(t testing.TB, st *stacktest.Stack, tenantID, token, query, csv string) string {
	t.Helper()
	code, body := upload(t, st, token, query, "text/csv", []byte(csv))
	if code != 202 {
		t.Fatalf("upload = %d %s", code, body)
	}
	var out struct{ ID, State string }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("upload answered %s: %v", body, err)
	}
	if out.ID == "" || out.State != "queued" {
		t.Fatalf("upload answered %s", body)
	}
	run(t, st, tenantID, out.ID)
	return out.ID
}

// follow polls a job until it is over (the local stack runs it in the
// background), and returns its last status.
func follow(t testing.TB, st *stacktest.Stack, token, id string) status {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var s status
		r := st.Call(t, "GET", "/v1/admin/member-imports/"+id, token, nil)
		stacktest.Want(t, r, 200)
		r.Decode(t, &s)
		if s.State == memberimport.StateDone || s.State == memberimport.StateFailed {
			return s
		}
	}
	t.Fatalf("import %s did not finish", id)
	return status{}
}

// jobDB is the stack's DynamoDB with a failure injected: the crashAt-th
// transaction is written and then reported lost, as when a function dies
// right after DynamoDB committed.
type jobDB struct {
	*dynamodb.Client
	mu      sync.Mutex
	n       int
	crashAt int
	// afterBatchGet, if set, runs after each BatchGetItem with its number
	// (from 1): a change made there is one the run's lookups missed.
	afterBatchGet func(n int)
	batchGets     int
}

func (d *jobDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := d.Client.BatchGetItem(ctx, in, opts...)
	d.mu.Lock()
	d.batchGets++
	n, after := d.batchGets, d.afterBatchGet
	d.mu.Unlock()
	if after != nil {
		after(n)
	}
	return out, err
}

var errLost = errors.New("connection lost")

func (d *jobDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := d.Client.TransactWriteItems(ctx, in, opts...)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	if err == nil && d.n == d.crashAt {
		return nil, errLost
	}
	return out, err
}

// sentSMS records welcome SMS.
type sentSMS struct {
	mu  sync.Mutex
	out []string
}

func (s *sentSMS) Send(_ context.Context, mobile, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = append(s.out, mobile)
	return nil
}

// runner builds an import runner on the stack's tables, as the job
// function does, over db.
func runner(t testing.TB, st *stacktest.Stack, db *jobDB, sms *sentSMS) *memberimport.Runner {
	t.Helper()
	ctx := context.Background()
	env, err := cloud.Load(ctx, config.Map(st.Env("MemberImportJobFunction")))
	if err != nil {
		t.Fatal(err)
	}
	data, err := env.Secret(ctx, "DATA_KEYS_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	idxKey, err := env.Secret(ctx, "INDEX_KEY_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	index, err := keyring.NewIndex(idxKey)
	if err != nil {
		t.Fatal(err)
	}
	db.Client = st.DynamoDB()
	codec := &directory.Codec{Table: env.Config("DIRECTORY_TABLE"), Keys: keys, Index: index}
	dir := &directory.Service{Store: &directory.DynamoStore{DB: db, Codec: codec}, SMS: sms, LoginURL: "https://{tenant}.example.com", Now: time.Now}
	r := &memberimport.Runner{
		Store:     &memberimport.Store{DB: db, Table: env.Config("MEMBER_IMPORTS_TABLE"), Keys: keys},
		Directory: dir, Now: time.Now, WelcomeInterval: time.Millisecond,
	}
	r.Trigger = &memberimport.LocalTrigger{Runner: r}
	return r
}

// csvOf builds a CSV with a header and n generated members: mobiles from
// base, names 工人<i>, in department dept.
func csvOf(header string, n int, base int64, dept string) string {
	var b strings.Builder
	b.WriteString(header + "\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "工人%s,%d,%s\n", cn(i), base+int64(i), dept)
	}
	return b.String()
}

// cn spells i in Chinese digits, so generated names pass the name rules.
func cn(i int) string {
	digits := []rune("零一二三四五六七八九")
	var out []rune
	for _, c := range fmt.Sprint(i) {
		out = append(out, digits[c-'0'])
	}
	return string(out)
}
