package chat

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"workbench/shared/auth"
	"workbench/shared/httpapi"
	"workbench/shared/ids"
	"workbench/shared/notice"
)

// httpStack serves both chat routers over real HTTP with the real member
// authentication (tokens, sessions in the identity table, member items in
// the directory table).
type httpStack struct {
	f      *fixture
	url    string
	tokens *auth.Tokens
	sess   *auth.DynamoSessions
	notes  *notice.DynamoStore
}

func newHTTPStack(t *testing.T) *httpStack {
	f := newFixture(t)
	tokens := &auth.Tokens{Key: []byte("test-token-key-0123456789abcdef-0123456789"), Now: func() time.Time { return *f.clock }}
	sess := &auth.DynamoSessions{DB: f.db, IdentityTable: "identity-" + f.chatTable, DirectoryTable: f.codec.Table, Now: func() time.Time { return *f.clock }}
	notes := &notice.DynamoStore{DB: f.db, Table: "notices-" + f.chatTable}
	h := &HTTP{Service: f.svc, Notices: notes, Auth: &auth.Members{Tokens: tokens, Sessions: sess}}
	r := httpapi.NewRouter()
	h.RegisterSend(r)
	h.Register(r)
	srv := httptest.NewServer(httpapi.Serve(r))
	t.Cleanup(srv.Close)
	return &httpStack{f: f, url: srv.URL, tokens: tokens, sess: sess, notes: notes}
}

// token signs in a member: a live session and its access token.
func (s *httpStack) token(t *testing.T, p auth.Principal) string {
	t.Helper()
	p.SessionID = ids.New(*s.f.clock)
	if err := s.sess.Put(bg, auth.NewSession(p.SessionID, p.TenantID, "code-"+p.TenantID, p.MemberID, "sms", *s.f.clock, 24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.tokens.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s *httpStack) do(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object", method, path, raw)
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("%s %s: no X-Request-Id", method, path)
	}
	return resp.StatusCode, out
}

func errCode(body map[string]any) (code, field string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return
}

func TestHTTPContract(t *testing.T) {
	s := newHTTPStack(t)
	a, _ := s.f.memberAs(t, "t1", "张三", "admin")
	b, _ := s.f.member(t, "t1", "李四")
	c, _ := s.f.member(t, "t1", "王五")
	x, _ := s.f.member(t, "t2", "外人")
	admin := a
	A, B, C, X := s.token(t, a), s.token(t, b), s.token(t, c), s.token(t, x)

	if st, _ := s.do(t, "GET", "/v1/conversations", "", nil); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	st, conv := s.do(t, "POST", "/v1/conversations", A, map[string]any{"memberIds": []string{b.MemberID}})
	if st != 201 || conv["kind"] != "direct" {
		t.Fatalf("create 1:1: %d %v", st, conv)
	}
	dm := conv["id"].(string)
	if st, again := s.do(t, "POST", "/v1/conversations", B, map[string]any{"memberIds": []string{a.MemberID}}); st != 200 || again["id"] != dm {
		t.Fatalf("again: %d %v", st, again)
	}
	st, m1 := s.do(t, "POST", "/v1/conversations/"+dm+"/messages", A, map[string]any{"text": "hello", "clientMessageId": "k1"})
	if st != 201 || m1["seq"] != float64(1) || m1["text"] != "hello" {
		t.Fatalf("send: %d %v", st, m1)
	}
	if st, m := s.do(t, "POST", "/v1/conversations/"+dm+"/messages", A, map[string]any{"text": "hello", "clientMessageId": "k1"}); st != 201 || m["id"] != m1["id"] {
		t.Fatalf("idempotent send: %d %v", st, m)
	}
	st, list := s.do(t, "GET", "/v1/conversations", B, nil)
	items, _ := list["items"].([]any)
	if st != 200 || len(items) != 1 || items[0].(map[string]any)["unread"] != float64(1) {
		t.Fatalf("list: %d %v", st, list)
	}
	if _, ok := list["nextCursor"]; ok {
		t.Fatal("nextCursor on the last page")
	}
	first := items[0].(map[string]any)
	for _, k := range []string{"id", "kind", "name", "pinned", "unread", "lastMessage"} {
		if _, ok := first[k]; !ok {
			t.Errorf("conversation has no %q", k)
		}
	}

	// Bad input names the problem.
	for _, tc := range []struct {
		method, path, token string
		body                any
		status              int
		code, field         string
	}{
		{"POST", "/v1/conversations/" + dm + "/messages", A, map[string]any{"text": ""}, 400, "empty_text", "text"},
		{"POST", "/v1/conversations/" + dm + "/messages", A, map[string]any{"text": strings.Repeat("长", 4001)}, 400, "text_too_long", "text"},
		{"POST", "/v1/conversations/" + dm + "/messages", A, map[string]any{"text": "a\u0000b"}, 400, "invalid_text", "text"},
		{"POST", "/v1/conversations/" + dm + "/messages", A, map[string]any{"text": "x", "extra": 1}, 400, "unknown_field", "extra"},
		{"POST", "/v1/conversations/" + dm + "/messages", C, map[string]any{"text": "x"}, 404, "conversation_not_found", ""},
		{"POST", "/v1/conversations/" + dm + "/messages", X, map[string]any{"text": "x"}, 404, "conversation_not_found", ""},
		{"GET", "/v1/conversations/" + dm + "/messages", X, nil, 404, "conversation_not_found", ""},
		{"GET", "/v1/conversations/" + dm, X, nil, 404, "conversation_not_found", ""},
		{"GET", "/v1/messages/" + m1["id"].(string) + "/reads", X, nil, 404, "message_not_found", ""},
		{"PUT", "/v1/conversations/" + dm + "/pin", X, nil, 404, "conversation_not_found", ""},
		{"DELETE", "/v1/conversations/" + dm, X, nil, 404, "conversation_not_found", ""},
		{"POST", "/v1/conversations/" + dm + "/read", X, nil, 404, "conversation_not_found", ""},
		{"POST", "/v1/conversations", A, map[string]any{"memberIds": []string{x.MemberID}}, 400, "unknown_member", "memberIds"},
		{"POST", "/v1/conversations", A, map[string]any{"memberIds": []string{b.MemberID, c.MemberID, b.MemberID}}, 400, "duplicate_member", "memberIds"},
		{"POST", "/v1/rocket-messages", A, map[string]any{"memberIds": []string{x.MemberID}, "text": "x"}, 400, "unknown_member", "memberIds"},
		{"GET", "/v1/conversations?limit=0", A, nil, 400, "invalid_query", "limit"},
		{"GET", "/v1/conversations?cursor=zzz", A, nil, 400, "invalid_cursor", "cursor"},
		{"GET", "/v1/admin/chat-settings", B, nil, 403, "admin_only", ""},
		{"PUT", "/v1/admin/chat-settings", s.token(t, admin), map[string]any{"rocketReminderMinutes": 61}, 400, "invalid_reminder_window", "rocketReminderMinutes"},
	} {
		st, body := s.do(t, tc.method, tc.path, tc.token, tc.body)
		code, field := errCode(body)
		if st != tc.status || code != tc.code || field != tc.field {
			t.Errorf("%s %s %v: %d %s/%s, want %d %s/%s", tc.method, tc.path, tc.body, st, code, field, tc.status, tc.code, tc.field)
		}
	}

	// Read with no body marks everything read; pin and delete answer 204.
	if st, v := s.do(t, "POST", "/v1/conversations/"+dm+"/read", B, nil); st != 200 || v["unread"] != float64(0) {
		t.Fatalf("read: %d %v", st, v)
	}
	for _, r := range []struct{ method, path string }{{"PUT", "/pin"}, {"DELETE", "/pin"}, {"DELETE", ""}} {
		if st, _ := s.do(t, r.method, "/v1/conversations/"+dm+r.path, B, nil); st != 204 {
			t.Fatalf("%s %s: %d", r.method, r.path, st)
		}
	}
	if st, reads := s.do(t, "GET", "/v1/messages/"+m1["id"].(string)+"/reads", A, nil); st != 200 || reads["readCount"] != float64(1) {
		t.Fatalf("reads: %d %v", st, reads)
	}

	// Settings and notices.
	AD := s.token(t, admin)
	if st, v := s.do(t, "PUT", "/v1/admin/chat-settings", AD, map[string]any{"rocketReminderMinutes": 10}); st != 200 || v["rocketReminderMinutes"] != float64(10) {
		t.Fatalf("put settings: %d %v", st, v)
	}
	if err := s.notes.Deliver(bg, notice.Notice{ID: "n1", TenantID: "t1", MemberID: b.MemberID, Kind: "expiry_warning", Title: "Subscription", Body: "expires in 7 days", CreatedAt: *s.f.clock}); err != nil {
		t.Fatal(err)
	}
	st, page := s.do(t, "GET", "/v1/me/notices", B, nil)
	ns, _ := page["items"].([]any)
	if st != 200 || len(ns) != 1 || page["unreadCount"] != float64(1) || ns[0].(map[string]any)["read"] != false {
		t.Fatalf("notices: %d %v", st, page)
	}
	if st, page := s.do(t, "GET", "/v1/me/notices", A, nil); st != 200 || len(page["items"].([]any)) != 0 {
		t.Fatalf("another member sees b's notices: %v", page)
	}
	if st, _ := s.do(t, "POST", "/v1/me/notices/n1/read", A, nil); st != 404 {
		t.Fatalf("a marks b's notice: %d", st)
	}
	if st, _ := s.do(t, "POST", "/v1/me/notices/n1/read", B, nil); st != 204 {
		t.Fatalf("mark notice read: %d", st)
	}
	if _, page := s.do(t, "GET", "/v1/me/notices", B, nil); page["unreadCount"] != float64(0) || page["items"].([]any)[0].(map[string]any)["read"] != true {
		t.Fatalf("after read: %v", page)
	}
}
