package stacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/localstack"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
	"workbench/shared/keyring"
	"workbench/shared/notice"
)

// A Response is a gateway response kept whole, so that a failed check can
// print the body that explains it.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// Call is Do returning a Response, for tests that check it with Want.
func (s *Stack) Call(t testing.TB, method, path, token string, body any) Response {
	t.Helper()
	status, data, header := s.Do(t, method, path, token, body)
	return Response{Status: status, Body: data, Header: header}
}

// Decode unmarshals the body into v; the test fails if it is not JSON of
// v's shape.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// ErrorCode returns the code and field of an error body
// ({"error":{"code":…,"field":…}}), or empty strings if the body is not one.
func (r Response) ErrorCode() (code, field string) {
	var e struct {
		Error struct{ Code, Field string }
	}
	_ = json.Unmarshal(r.Body, &e) // not an error body: no code, no field
	return e.Error.Code, e.Error.Field
}

// Want fails the test unless r has the status and, when they are given,
// the error code and then the error field. It stops the test, since what
// follows usually depends on the response.
func Want(t testing.TB, r Response, status int, codeAndField ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	code, field := r.ErrorCode()
	if len(codeAndField) > 0 && code != codeAndField[0] {
		t.Fatalf("error code %q, want %q: %s", code, codeAndField[0], r.Body)
	}
	if len(codeAndField) > 1 && field != codeAndField[1] {
		t.Fatalf("error field %q, want %q: %s", field, codeAndField[1], r.Body)
	}
}

// names numbers the members tests create, so that no two share a name or
// an account.
var names atomic.Int64

// Member adds an enabled member with role to the tenant through the
// Directory's admin route (POST /v1/admin/members, as the tenant's admin),
// so it is stored exactly as the app stores members, and opens a session
// for it.
func (s *Stack) Member(t testing.TB, tn Tenant, role string, departmentIDs ...string) Member {
	t.Helper()
	r := s.Call(t, http.MethodPost, "/v1/admin/members", tn.Admin.Token, map[string]any{
		"name": fmt.Sprintf("成员%d", names.Add(1)), "mobile": s.Mobile(), "role": role,
		"departmentIds": append([]string{}, departmentIDs...),
	})
	Want(t, r, http.StatusCreated)
	var m struct{ ID, Name, Mobile, Account string }
	r.Decode(t, &m)
	return Member{ID: m.ID, Name: m.Name, Mobile: m.Mobile, Account: m.Account, Token: s.Token(t, tn.ID, tn.Code, m.ID)}
}

// Department creates a department (under parentID, or at the top if it is
// empty) through the Directory's admin route and returns its id.
func (s *Stack) Department(t testing.TB, tn Tenant, name, parentID string) string {
	t.Helper()
	r := s.Call(t, http.MethodPost, "/v1/admin/departments", tn.Admin.Token, map[string]string{"name": name, "parentId": parentID})
	Want(t, r, http.StatusCreated)
	var d struct{ ID string }
	r.Decode(t, &d)
	return d.ID
}

// Disable turns a member off through the Directory's admin route.
func (s *Stack) Disable(t testing.TB, tn Tenant, memberID string) {
	t.Helper()
	Want(t, s.Call(t, http.MethodPut, "/v1/admin/members/"+memberID+"/status", tn.Admin.Token, map[string]bool{"enabled": false}), http.StatusOK)
}

// Notices returns a member's newest notices (up to 100), read from the
// notices table directly, so a test can see what a function delivered to
// any member without acting as that member.
func (s *Stack) Notices(t testing.TB, tenantID, memberID string) []notice.Notice {
	t.Helper()
	store := &notice.DynamoStore{DB: s.DynamoDB(), Table: s.Tables["NoticesTable"]}
	list, _, err := store.List(context.Background(), tenantID, memberID, "", 100)
	if err != nil {
		t.Fatalf("stacktest: notices: %v", err)
	}
	return list
}

// Codec returns the Directory's codec on this stack, with the stack's
// data and index keys, for tests that read or write member items directly.
func (s *Stack) Codec(t testing.TB) *directory.Codec {
	t.Helper()
	value := func(id string) string {
		sec, ok := secret(s.local, id)
		if !ok {
			t.Fatalf("stacktest: the template has no %s", id)
		}
		v, err := localstack.SecretValue(sec)
		if err != nil {
			t.Fatalf("stacktest: %s: %v", id, err)
		}
		return v
	}
	keys, err := keyring.Parse(value("DataKeysSecret"))
	if err != nil {
		t.Fatalf("stacktest: DataKeysSecret: %v", err)
	}
	index, err := keyring.NewIndex(value("IndexKeySecret"))
	if err != nil {
		t.Fatalf("stacktest: IndexKeySecret: %v", err)
	}
	return &directory.Codec{Table: s.Tables["DirectoryTable"], Keys: keys, Index: index}
}

// SeedMembers writes n enabled members (role member) straight into the
// directory table, encoded as the Directory encodes them, and returns
// their ids. It opens no sessions: it is the fast way to a big tenant,
// where Member would make a request per member.
func (s *Stack) SeedMembers(t testing.TB, tn Tenant, n int, departmentIDs ...string) []string {
	t.Helper()
	codec := s.Codec(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	memberIDs := make([]string, 0, n)
	items := make([]map[string]types.AttributeValue, 0, n)
	for range n {
		k := names.Add(1)
		m := directory.Member{
			ID: ids.New(now), TenantID: tn.ID, Name: fmt.Sprintf("成员%d", k), Mobile: s.Mobile(), Account: fmt.Sprintf("m%d", k),
			Role: directory.RoleMember, Enabled: true, DepartmentIDs: append([]string{}, departmentIDs...), Fields: map[string]any{},
			CreatedAt: now, UpdatedAt: now, Version: 1,
		}
		item, err := codec.Item(m)
		if err != nil {
			t.Fatalf("stacktest: seed member: %v", err)
		}
		items = append(items, item)
		memberIDs = append(memberIDs, m.ID)
	}
	s.BatchWrite(t, s.Tables["DirectoryTable"], items)
	return memberIDs
}

// SeedDirectory writes n enabled members straight into the directory table
// with every item their creates write (uniqueness reservations, search
// tokens), so the tenant's partition holds what a plant's would, and
// returns how many items that is. Benchmarks at a plant's size use it.
func (s *Stack) SeedDirectory(t testing.TB, tn Tenant, n int) int {
	t.Helper()
	codec := s.Codec(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	var items []map[string]types.AttributeValue
	for range n {
		k := names.Add(1)
		m := directory.Member{
			ID: ids.New(now), TenantID: tn.ID, Name: fmt.Sprintf("工人%d", k), Mobile: s.Mobile(), Account: fmt.Sprintf("w%d", k),
			Role: directory.RoleMember, Enabled: true, DepartmentIDs: []string{}, Fields: map[string]any{}, CreatedAt: now, UpdatedAt: now, Version: 1,
		}
		its, err := codec.SeedItems(m)
		if err != nil {
			t.Fatalf("stacktest: seed member: %v", err)
		}
		items = append(items, its...)
	}
	s.BatchWrite(t, s.Tables["DirectoryTable"], items)
	return len(items)
}

// BatchWrite puts items into table with dynamo.BatchWrite. The client is
// the stack's own, so a counter given to New does not see the seeding.
func (s *Stack) BatchWrite(t testing.TB, table string, items []map[string]types.AttributeValue) {
	t.Helper()
	reqs := make([]types.WriteRequest, len(items))
	for i, it := range items {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	if err := dynamo.BatchWrite(context.Background(), s.DynamoDB(), map[string][]types.WriteRequest{table: reqs}); err != nil {
		t.Fatalf("stacktest: batch write %s: %v", table, err)
	}
}

// ReportCounts reports c's DynamoDB round trips and items per request as
// benchmark metrics. Every authenticated request also pays the shared
// middleware's one session check (a BatchGetItem of session and member), so
// "ddbcalls/op" counts everything and "appcalls/op" what the app itself
// does.
func ReportCounts(b *testing.B, c *dynamo.Counter, requests int) {
	b.Helper()
	total := float64(c.Calls()) / float64(requests)
	b.ReportMetric(total, "ddbcalls/op")
	b.ReportMetric(total-1, "appcalls/op")
	b.ReportMetric(float64(c.Items())/float64(requests), "ddbitems/op")
}

// A Metered stack runs its functions on a settable clock and counts their
// DynamoDB round trips: what an app's integration tests (which move time)
// and benchmarks (which report ReportCounts) both need.
type Metered struct {
	*Stack
	// Clock is every function's clock; it starts where NewMetered says.
	Clock *Clock
	// Counter counts every function's DynamoDB round trips (not the test's
	// own, through DynamoDB).
	Counter *dynamo.Counter
}

// NewMetered is New with WithClock on a clock stopped at now and
// WithCounter, opts after them.
func NewMetered(t testing.TB, now time.Time, opts ...Option) *Metered {
	t.Helper()
	m := &Metered{Clock: NewClock(now), Counter: &dynamo.Counter{}}
	m.Stack = New(t, append([]Option{WithClock(m.Clock.Now), WithCounter(m.Counter)}, opts...)...)
	return m
}
