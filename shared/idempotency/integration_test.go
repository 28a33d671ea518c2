package idempotency_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/infra/stacktest"
	"workbench/shared/idempotency"
)

type answer struct {
	status int
	body   []byte
	header http.Header
}

func (a answer) code() string {
	var e struct{ Error struct{ Code, Field string } }
	_ = json.Unmarshal(a.body, &e) // a body that is no error has no code, which the caller's comparison tells
	return e.Error.Code
}

// post sends a POST with an Idempotency-Key header (none when key is "").
func post(t *testing.T, st *stacktest.Stack, path, token, key, body string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, st.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if key != "" {
		req.Header.Set(idempotency.Header, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, data, resp.Header}
}

func departments(t *testing.T, st *stacktest.Stack, token string) int {
	t.Helper()
	var page struct{ Items []json.RawMessage }
	if status := st.DoJSON(t, "GET", "/v1/departments", token, nil, &page); status != 200 {
		t.Fatalf("list departments: %d", status)
	}
	return len(page.Items)
}

func records(t *testing.T, st *stacktest.Stack) int {
	t.Helper()
	out, err := st.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{TableName: ptr(st.Tables["IdempotencyTable"])})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

func ptr(s string) *string { return &s }

func TestReplayReturnsTheFirstAnswerAndWritesOnce(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	admin := tn.Admin.Token

	first := post(t, st, "/v1/admin/departments", admin, "dep-1", `{"name":"研发部"}`)
	if first.status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	again := post(t, st, "/v1/admin/departments", admin, "dep-1", `{"name":"研发部"}`)
	if again.status != first.status || !bytes.Equal(again.body, first.body) {
		t.Fatalf("replay: %d %s, want %d %s", again.status, again.body, first.status, first.body)
	}
	if again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("Idempotent-Replayed: first %q, replay %q", first.header.Get("Idempotent-Replayed"), again.header.Get("Idempotent-Replayed"))
	}
	if again.header.Get("Content-Type") != first.header.Get("Content-Type") {
		t.Errorf("replay Content-Type %q, first %q", again.header.Get("Content-Type"), first.header.Get("Content-Type"))
	}
	if n := departments(t, st, admin); n != 1 {
		t.Fatalf("%d departments after a create and its replay, want 1", n)
	}

	// Another body under the same key is refused and writes nothing.
	other := post(t, st, "/v1/admin/departments", admin, "dep-1", `{"name":"市场部"}`)
	if other.status != http.StatusUnprocessableEntity || other.code() != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", other.status, other.body)
	}
	// Without a key, or with a new one, the same body is a new request.
	if a := post(t, st, "/v1/admin/departments", admin, "dep-2", `{"name":"研发部"}`); a.status != http.StatusCreated {
		t.Fatalf("new key: %d %s", a.status, a.body)
	}
	if a := post(t, st, "/v1/admin/departments", admin, "", `{"name":"研发部"}`); a.status != http.StatusCreated {
		t.Fatalf("no key: %d %s", a.status, a.body)
	}
	if n := departments(t, st, admin); n != 3 {
		t.Fatalf("%d departments, want 3", n)
	}

	// Keys are the caller's: another member of the tenant and another
	// tenant's admin use the same key for their own requests.
	other2 := st.NewTenant(t)
	if a := post(t, st, "/v1/admin/departments", other2.Admin.Token, "dep-1", `{"name":"研发部"}`); a.status != http.StatusCreated ||
		a.header.Get("Idempotent-Replayed") != "" || bytes.Equal(a.body, first.body) {
		t.Fatalf("another tenant's admin with the same key: %d %s", a.status, a.body)
	}
	// And a key is the route's: the same key on another route runs.
	m := post(t, st, "/v1/admin/members", admin, "dep-1", `{"name":"王五","mobile":"`+st.Mobile()+`"}`)
	if m.status != http.StatusCreated {
		t.Fatalf("same key, other route: %d %s", m.status, m.body)
	}
}

func TestOperatorCreatesAreReplayed(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	body := `{"code":"idem1","name":"Idem","admin":{"name":"管理员","mobile":"` + st.Mobile() + `"}}`
	first := post(t, st, "/v1/platform/tenants", st.OperatorKey(), "tenant-idem1", body)
	if first.status != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", first.status, first.body)
	}
	// Without the key the retry is a duplicate; with it, the first answer.
	if a := post(t, st, "/v1/platform/tenants", st.OperatorKey(), "", body); a.status != http.StatusConflict {
		t.Fatalf("retry without a key: %d %s", a.status, a.body)
	}
	again := post(t, st, "/v1/platform/tenants", st.OperatorKey(), "tenant-idem1", body)
	if again.status != http.StatusCreated || !bytes.Equal(again.body, first.body) {
		t.Fatalf("replay: %d %s, want %d %s", again.status, again.body, first.status, first.body)
	}
}

// Client errors are answers too: they are replayed, so a retry never
// turns a refused request into an accepted one behind the client's back.
func TestClientErrorsAreReplayed(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	bad := post(t, st, "/v1/admin/departments", tn.Admin.Token, "bad-1", `{"name":""}`)
	if bad.status != http.StatusBadRequest {
		t.Fatalf("empty name: %d %s", bad.status, bad.body)
	}
	again := post(t, st, "/v1/admin/departments", tn.Admin.Token, "bad-1", `{"name":""}`)
	if again.status != bad.status || !bytes.Equal(again.body, bad.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed 400: %d %s %v", again.status, again.body, again.header)
	}
	// A refused credential is not an answer to keep: after logging in
	// again the same key runs.
	if a := post(t, st, "/v1/admin/departments", "not-a-token", "auth-1", `{"name":"x"}`); a.status != http.StatusUnauthorized {
		t.Fatalf("bad token: %d %s", a.status, a.body)
	}
	if a := post(t, st, "/v1/admin/departments", tn.Admin.Token, "auth-1", `{"name":"x"}`); a.status != http.StatusCreated {
		t.Fatalf("after a 401: %d %s", a.status, a.body)
	}
}

func TestKeysAreValidated(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	for _, key := range []string{strings.Repeat("k", idempotency.MaxKeyLength+1), "has space", "键"} {
		a := post(t, st, "/v1/admin/departments", tn.Admin.Token, key, `{"name":"研发部"}`)
		var e struct{ Error struct{ Code, Field string } }
		if err := json.Unmarshal(a.body, &e); err != nil {
			t.Fatalf("%d %s: %v", a.status, a.body, err)
		}
		if a.status != http.StatusBadRequest || e.Error.Code != "invalid_idempotency_key" || e.Error.Field != idempotency.Header {
			t.Errorf("key %.20q: %d %s", key, a.status, a.body)
		}
	}
	if n := departments(t, st, tn.Admin.Token); n != 0 {
		t.Fatalf("%d departments after refused keys", n)
	}
	if a := post(t, st, "/v1/admin/departments", tn.Admin.Token, strings.Repeat("k", idempotency.MaxKeyLength), `{"name":"研发部"}`); a.status != http.StatusCreated {
		t.Fatalf("longest key: %d %s", a.status, a.body)
	}
}

// Parallel sends of one request with one key write once; every other send
// gets the first answer or is told to retry.
func TestParallelRetriesWriteOnce(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	const n = 8
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = post(t, st, "/v1/admin/departments", tn.Admin.Token, "race-1", `{"name":"并发部"}`)
		}()
	}
	wg.Wait()
	var created []byte
	for _, a := range answers {
		switch {
		case a.status == http.StatusCreated:
			if created != nil && !bytes.Equal(created, a.body) {
				t.Errorf("two different 201 bodies: %s and %s", created, a.body)
			}
			created = a.body
		case a.status == http.StatusConflict && a.code() == "idempotency_in_progress":
			if a.header.Get("Retry-After") == "" {
				t.Errorf("409 without Retry-After: %v", a.header)
			}
		default:
			t.Errorf("parallel send: %d %s", a.status, a.body)
		}
	}
	if created == nil {
		t.Fatal("no send created the department")
	}
	if got := departments(t, st, tn.Admin.Token); got != 1 {
		t.Fatalf("%d departments after %d parallel sends with one key, want 1", got, n)
	}
	// After the race, a retry gets the answer.
	if a := post(t, st, "/v1/admin/departments", tn.Admin.Token, "race-1", `{"name":"并发部"}`); a.status != http.StatusCreated || !bytes.Equal(a.body, created) {
		t.Fatalf("retry after the race: %d %s", a.status, a.body)
	}
	if got := records(t, st); got != 1 {
		t.Fatalf("%d idempotency records, want 1", got)
	}
}

// A server error is not kept: the retry runs again and its answer is the
// one replayed from then on. A request still running makes a retry wait.
func TestServerErrorsAreNotKept(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	mw := &idempotency.Middleware{
		Store: &idempotency.DynamoStore{DB: st.DynamoDB(), Table: st.Tables["IdempotencyTable"]},
		Scope: func(*http.Request) string { return "test" },
		Now:   time.Now,
	}
	var calls atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			entered <- struct{}{}
			<-release
			w.Header().Set("Location", "/things/1")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"1"}`)
		default:
			t.Error("the handler ran after its answer was kept")
		}
	}))
	send := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(`{}`))
		req.Header.Set(idempotency.Header, "k1")
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := send(); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("first: %d", rec.Code)
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- send() }()
	<-entered
	if rec := send(); rec.Code != http.StatusConflict || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("while running: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	close(release)
	if rec := <-done; rec.Code != http.StatusCreated {
		t.Fatalf("retry after the 503: %d %s", rec.Code, rec.Body)
	}
	rec := send()
	if rec.Code != http.StatusCreated || rec.Body.String() != `{"id":"1"}` || rec.Header().Get("Location") != "/things/1" {
		t.Fatalf("replay: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2", n)
	}
}

// Every function with POST routes honours keys: one refused request each,
// kept and replayed (the record's PutItem and UpdateItem, which the
// functions' policies allow), and a refused session each, released.
func TestEveryFunctionHonoursKeys(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	admin := tn.Admin.Token
	gone := st.Member(t, tn, "admin")
	st.Disable(t, tn, gone.ID)
	routes := []struct{ function, path, token string }{
		{"PlatformFunction", "/v1/platform/tenants", st.OperatorKey()},
		{"PartnerFunction", "/v1/platform/partners", st.OperatorKey()},
		{"LoginFunction", "/v1/admin/members/" + tn.Admin.ID + "/password-reset", admin},
		{"MembersFunction", "/v1/admin/members", admin},
		{"DirectoryFunction", "/v1/admin/departments", admin},
		{"ChatSendFunction", "/v1/rocket-messages", admin},
		{"ChatFunction", "/v1/conversations", admin},
		{"ApprovalsFunction", "/v1/approvals", admin},
		{"AnnouncementsFunction", "/v1/announcements", admin},
		{"CalendarFunction", "/v1/calendar", admin},
	}
	for _, r := range routes {
		first := post(t, st, r.path, r.token, "every-"+r.function, `{}`)
		again := post(t, st, r.path, r.token, "every-"+r.function, `{}`)
		if first.status != http.StatusBadRequest || again.status != first.status || !bytes.Equal(again.body, first.body) ||
			again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s %s: %d %s, then %d %s", r.function, r.path, first.status, first.body, again.status, again.body)
		}
		if r.token == st.OperatorKey() {
			continue
		}
		// A disabled admin's token still has a valid signature: the key is
		// claimed, the handler refuses the session, and the key is freed.
		for range 2 {
			if a := post(t, st, r.path, gone.Token, "gone-"+r.function, `{}`); a.status != http.StatusUnauthorized || a.header.Get("Idempotent-Replayed") != "" {
				t.Errorf("%s %s with a disabled admin: %d %s %v", r.function, r.path, a.status, a.body, a.header)
			}
		}
	}
}
