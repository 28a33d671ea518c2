package directory_test

import (
	"context"
	"net/http"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/infra/stacktest"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/stack/directoryfn"
)

// The tests drive the members and directory functions over real HTTP on a
// stacktest stack (the template's functions built by stack.Functions, on
// moto). Self-registration verifies real "register" codes: registerCode
// asks for one as a person would.

// testStack is a stacktest stack with the directory's Go API on the same
// tables (for Contacts.Touch, which chat calls, and for the benchmarks).
type testStack struct {
	st       *stacktest.Stack
	URL      string
	DB       *dynamodb.Client // counted by Counter
	Counter  *dynamo.Counter
	Codec    *directory.Codec
	Service  *directory.Service
	Contacts *directory.Contacts
	SMS      smsLog
	Tables   map[string]string
	offset   atomic.Int64 // the stack's clock runs this far ahead of time.Now
}

type smsLog struct {
	t  testing.TB
	st *stacktest.Stack
}

// to returns the texts of the SMS sent to mobile, oldest first.
func (l smsLog) to(mobile string) []string {
	var out []string
	for _, m := range l.st.SMS(l.t, mobile) {
		out = append(out, m.Text)
	}
	return out
}

func newStack(tb testing.TB) *testStack {
	tb.Helper()
	s := &testStack{Counter: &dynamo.Counter{}}
	clock := func() time.Time { return time.Now().UTC().Add(time.Duration(s.offset.Load())) }
	s.st = stacktest.New(tb, stacktest.WithClock(clock))
	s.URL, s.Tables, s.SMS = s.st.URL, s.st.Tables, smsLog{tb, s.st}
	ctx := context.Background()
	env, err := cloud.Load(ctx, config.Map(s.st.Env("DirectoryFunction")))
	if err != nil {
		tb.Fatal(err)
	}
	env.Now = clock
	s.DB = dynamodb.NewFromConfig(env.AWS, dynamo.WithCounter(s.Counter))
	env.DynamoDB = s.DB
	if s.Contacts, err = directoryfn.Contacts(ctx, env); err != nil {
		tb.Fatal(err)
	}
	s.Service, s.Codec = s.Contacts.Members, s.Contacts.Store.(*directory.DynamoStore).Codec
	return s
}

// registerCode asks for a "register" SMS code to mobile, as a person
// registering does, and returns it.
func (s *testStack) registerCode(t testing.TB, tenantCode, mobile string) string {
	t.Helper()
	stacktest.Want(t, s.do(t, "POST", "/v1/auth/sms-codes", "", map[string]any{"tenant": tenantCode, "mobile": mobile, "purpose": "register"}), http.StatusAccepted)
	texts := s.SMS.to(mobile)
	if len(texts) > 0 {
		if codes := sixDigits.FindAllString(texts[len(texts)-1], -1); len(codes) > 0 {
			return codes[len(codes)-1]
		}
	}
	t.Fatalf("no register code in the SMS to %s: %q", mobile, texts)
	return ""
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// advance moves the stack's clock ahead.
func (s *testStack) advance(d time.Duration) { s.offset.Add(int64(d)) }

func (s *testStack) mobile() string { return s.st.Mobile() }

type tenantInfo struct {
	ID, Code, AdminID, AdminMobile, Token string
}

// newTenant creates a tenant through the operator API (its admin goes
// through Codec.CreateItems) with a session for its admin.
func (s *testStack) newTenant(tb testing.TB) tenantInfo {
	tb.Helper()
	tn := s.st.NewTenant(tb)
	return tenantInfo{ID: tn.ID, Code: tn.Code, AdminID: tn.Admin.ID, AdminMobile: tn.Admin.Mobile, Token: tn.Admin.Token}
}

// token opens a session for a member and returns its access token.
func (s *testStack) token(tb testing.TB, tenantID, code, memberID string) string {
	tb.Helper()
	return s.st.Token(tb, tenantID, code, memberID)
}

// do is Stack.Call that also checks that every response carries an
// X-Request-Id.
func (s *testStack) do(tb testing.TB, method, path, token string, body any) stacktest.Response {
	tb.Helper()
	r := s.st.Call(tb, method, path, token, body)
	if r.Header.Get("X-Request-Id") == "" {
		tb.Errorf("%s %s: no X-Request-Id", method, path)
	}
	return r
}
