package stacktest_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/infra/stacktest"
)

func TestResponseAndWant(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	r := st.Call(t, "GET", "/v1/nowhere", "", nil)
	stacktest.Want(t, r, http.StatusNotFound, "route_not_found")
	if code, field := r.ErrorCode(); code != "route_not_found" || field != "" {
		t.Errorf("ErrorCode() = %q, %q", code, field)
	}
	if code, field := (stacktest.Response{Status: 200, Body: []byte("not json")}).ErrorCode(); code != "" || field != "" {
		t.Errorf("ErrorCode of a non-error body = %q, %q", code, field)
	}
	r = st.Call(t, "GET", "/v1/health", "", nil)
	stacktest.Want(t, r, http.StatusOK)
	var h struct{ Status string }
	r.Decode(t, &h)
	if h.Status != "ok" || r.Header.Get("X-Request-Id") == "" {
		t.Errorf("GET /v1/health = %+v, headers %v", h, r.Header)
	}
}

func TestMemberDepartmentDisable(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	sales := st.Department(t, tn, "Sales", "")
	east := st.Department(t, tn, "East", sales)
	m := st.Member(t, tn, "member", east)
	if m.ID == "" || m.Mobile == "" || m.Token == "" || m.Name == "" {
		t.Fatalf("member %+v", m)
	}
	// The member is stored as the Directory stores it, and its token works.
	r := st.Call(t, "GET", "/v1/members/"+m.ID, m.Token, nil)
	stacktest.Want(t, r, http.StatusOK)
	var got struct {
		ID            string
		Role          string
		DepartmentIDs []string
	}
	r.Decode(t, &got)
	if got.ID != m.ID || got.Role != "member" || !slices.Equal(got.DepartmentIDs, []string{east}) {
		t.Errorf("GET /v1/members/%s = %s", m.ID, r.Body)
	}
	st.Disable(t, tn, m.ID)
	if r := st.Call(t, "GET", "/v1/members/"+m.ID, m.Token, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("a disabled member's token: %d %s", r.Status, r.Body)
	}
	if n := st.Notices(t, tn.ID, m.ID); len(n) != 0 {
		t.Errorf("notices of a new member: %+v", n)
	}
}

func TestSeedMembers(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	count := func() int32 {
		t.Helper()
		out, err := st.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{TableName: &[]string{st.Tables["DirectoryTable"]}[0], Select: "COUNT"})
		if err != nil {
			t.Fatal(err)
		}
		return out.Count
	}
	before := count()
	// More than one batch of 25.
	seeded := st.SeedMembers(t, tn, 60)
	if len(seeded) != 60 || count()-before != 60 {
		t.Fatalf("seeded %d members, the table grew by %d", len(seeded), count()-before)
	}
	// Seeded members are real members: the admin reads them.
	stacktest.Want(t, st.Call(t, "GET", "/v1/members/"+seeded[59], tn.Admin.Token, nil), http.StatusOK)
}

// fatalRecorder is a testing.TB whose Fatalf records the failure and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	failed string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs Want on a recorder and returns its failure message, "" if
// Want passed.
func failure(t *testing.T, r stacktest.Response, status int, codeAndField ...string) string {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		stacktest.Want(rec, r, status, codeAndField...)
	}()
	<-done
	return rec.failed
}

func TestWantFails(t *testing.T) {
	r := stacktest.Response{Status: 400, Body: []byte(`{"error":{"code":"invalid_name","field":"name"}}`)}
	for _, tt := range []struct {
		status       int
		codeAndField []string
		fails        bool
	}{
		{400, nil, false},
		{400, []string{"invalid_name"}, false},
		{400, []string{"invalid_name", "name"}, false},
		{200, nil, true},
		{400, []string{"other"}, true},
		{400, []string{"invalid_name", "title"}, true},
		{400, []string{"invalid_name", ""}, true},
	} {
		if msg := failure(t, r, tt.status, tt.codeAndField...); (msg != "") != tt.fails {
			t.Errorf("Want(%d, %q): failure %q", tt.status, tt.codeAndField, msg)
		}
	}
}
