package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/chat"
	"workbench/shared/directory"
	"workbench/shared/ids"
	"workbench/shared/notice"
)

// world is one test's stack with what it takes to add members without
// the directory's routes: member items written as the directory writes
// them (tenants and tokens come from stacktest).
type world struct {
	s     *stacktest.Stack
	clock *stacktest.Clock
	codec *directory.Codec
}

type person struct {
	ID, Mobile, Token string
	TenantID          string
}

var start = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func newWorld(t *testing.T) *world {
	t.Helper()
	clock := stacktest.NewClock(start)
	s := stacktest.New(t, stacktest.WithClock(clock.Now))
	return &world{s: s, clock: clock, codec: s.Codec(t)}
}

// member adds an enabled member to the tenant, as the directory would,
// and signs it in.
func (w *world) member(t *testing.T, tn stacktest.Tenant, name string) person {
	t.Helper()
	now := w.clock.Now()
	id := ids.New(now)
	m := directory.Member{
		ID: id, TenantID: tn.ID, Name: name, Mobile: w.s.Mobile(), Account: "u" + id[len(id)-10:],
		Role: "member", Enabled: true, CreatedAt: now, UpdatedAt: now, Version: 1,
	}
	tx, err := w.codec.CreateItems(m, ids.New(now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.DynamoDB().TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: tx}); err != nil {
		t.Fatal(err)
	}
	return person{ID: id, Mobile: m.Mobile, Token: w.s.Token(t, tn.ID, tn.Code, id), TenantID: tn.ID}
}

// admin is the tenant's first admin.
func admin(tn stacktest.Tenant) person {
	return person{ID: tn.Admin.ID, Mobile: tn.Admin.Mobile, Token: tn.Admin.Token, TenantID: tn.ID}
}

// call sends a request and decodes a JSON object answer (nil for none).
func (w *world) call(t *testing.T, method, path string, who person, body any) (int, map[string]any) {
	t.Helper()
	status, raw, header := w.s.Do(t, method, path, who.Token, body)
	if header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, status, raw)
		}
	}
	return status, out
}

func (w *world) mustCall(t *testing.T, want int, method, path string, who person, body any) map[string]any {
	t.Helper()
	status, out := w.call(t, method, path, who, body)
	if status != want {
		t.Fatalf("%s %s: %d %v, want %d", method, path, status, out, want)
	}
	return out
}

// chatItems counts the chat table's items: refused requests must leave it
// as it was.
func (w *world) chatItems(t *testing.T) int {
	t.Helper()
	out, err := w.s.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(w.s.Tables["ChatTable"]), Select: "COUNT"})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

// sweep runs the reminder function as EventBridge would at a time and
// returns its report.
func (w *world) sweep(t *testing.T, at time.Time) chat.SweepResult {
	t.Helper()
	out := w.s.Invoke(t, "RocketReminderFunction", map[string]any{
		"version": "0", "id": "ev-" + at.Format("150405"), "source": "aws.events", "detail-type": "Scheduled Event",
		"account": "123456789012", "region": "us-east-1", "time": at.UTC().Format(time.RFC3339), "resources": []string{}, "detail": map[string]any{},
	})
	var res chat.SweepResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("sweep report %s: %v", out, err)
	}
	return res
}

func items(body map[string]any) []map[string]any {
	raw, _ := body["items"].([]any)
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i], _ = r.(map[string]any)
	}
	return out
}

func errorOf(body map[string]any) (code, field string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return
}

func conversationIn(t *testing.T, w *world, who person, id string) map[string]any {
	t.Helper()
	for _, c := range items(w.mustCall(t, 200, "GET", "/v1/conversations", who, nil)) {
		if c["id"] == id {
			return c
		}
	}
	return nil
}

func TestChatOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a := admin(t1)
	b := w.member(t, t1, "李四")
	c := w.member(t, t1, "王五")

	// The 1:1: 201, then 200 with the same id from either side.
	dm := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID}})
	if dm["kind"] != "direct" || dm["peerId"] != b.ID {
		t.Fatalf("1:1: %v", dm)
	}
	dmID := dm["id"].(string)
	if again := w.mustCall(t, 200, "POST", "/v1/conversations", b, map[string]any{"memberIds": []string{a.ID}}); again["id"] != dmID {
		t.Fatalf("again: %v", again)
	}

	// Two members chatting; idempotent send; a reply.
	m1 := w.mustCall(t, 201, "POST", "/v1/conversations/"+dmID+"/messages", a, map[string]any{"text": "早上好", "clientMessageId": "c-1"})
	if retry := w.mustCall(t, 201, "POST", "/v1/conversations/"+dmID+"/messages", a, map[string]any{"text": "早上好", "clientMessageId": "c-1"}); retry["id"] != m1["id"] {
		t.Fatalf("a retried send made a new message: %v then %v", m1, retry)
	}
	w.clock.Advance(time.Second)
	w.mustCall(t, 201, "POST", "/v1/conversations/"+dmID+"/messages", a, map[string]any{"text": "排产表发你了"})
	if got := conversationIn(t, w, b, dmID); got["unread"] != float64(2) || got["lastMessage"].(map[string]any)["text"] != "排产表发你了" {
		t.Fatalf("b's list: %v", got)
	}
	reply := w.mustCall(t, 201, "POST", "/v1/conversations/"+dmID+"/messages", b, map[string]any{"text": "收到", "replyTo": m1["id"]})
	q, _ := reply["replyTo"].(map[string]any)
	if q["id"] != m1["id"] || q["senderId"] != a.ID || q["snippet"] != "早上好" {
		t.Fatalf("reply: %v", reply)
	}
	hist := w.mustCall(t, 200, "GET", "/v1/conversations/"+dmID+"/messages?limit=2", a, nil)
	if h := items(hist); len(h) != 2 || h[0]["seq"] != float64(3) || h[1]["seq"] != float64(2) || hist["nextCursor"] == nil {
		t.Fatalf("history page 1: %v", hist)
	}
	hist = w.mustCall(t, 200, "GET", "/v1/conversations/"+dmID+"/messages?limit=2&before="+hist["nextCursor"].(string), a, nil)
	if h := items(hist); len(h) != 1 || h[0]["seq"] != float64(1) || hist["nextCursor"] != nil {
		t.Fatalf("history page 2: %v", hist)
	}

	// Read cursor: forward only.
	if r := w.mustCall(t, 200, "POST", "/v1/conversations/"+dmID+"/read", b, map[string]any{"messageId": m1["id"]}); r["unread"] != float64(0) {
		// b replied after m1, so b has read everything up to its reply.
		t.Fatalf("read: %v", r)
	}
	// a has read its own two messages; reading up to the first does not
	// move a's cursor back, and b's reply stays unread.
	if r := w.mustCall(t, 200, "POST", "/v1/conversations/"+dmID+"/read", a, map[string]any{"messageId": m1["id"]}); r["unread"] != float64(1) || r["readSeq"] != float64(2) {
		t.Fatalf("read backwards moved the cursor: %v", r)
	}

	// A group; unread counts; who read what.
	g := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID, c.ID}, "name": "生产部"})
	gID := g["id"].(string)
	if g["kind"] != "group" || g["name"] != "生产部" || g["ownerId"] != a.ID || g["memberCount"] != float64(3) {
		t.Fatalf("group: %v", g)
	}
	w.clock.Advance(time.Second)
	gm := w.mustCall(t, 201, "POST", "/v1/conversations/"+gID+"/messages", a, map[string]any{"text": "三号线下午停机检修"})
	w.mustCall(t, 201, "POST", "/v1/conversations/"+gID+"/messages", b, map[string]any{"text": "好的"})
	if got := conversationIn(t, w, c, gID); got["unread"] != float64(2) {
		t.Fatalf("c's unread: %v", got)
	}
	reads := w.mustCall(t, 200, "GET", "/v1/messages/"+gm["id"].(string)+"/reads", a, nil)
	if reads["readCount"] != float64(1) || reads["unreadCount"] != float64(1) {
		t.Fatalf("reads before c read: %v", reads)
	}
	w.mustCall(t, 200, "POST", "/v1/conversations/"+gID+"/read", c, nil)
	if reads := w.mustCall(t, 200, "GET", "/v1/messages/"+gm["id"].(string)+"/reads", a, nil); reads["readCount"] != float64(2) || reads["unreadCount"] != float64(0) {
		t.Fatalf("reads after: %v", reads)
	}

	// Group management: owner only; rename; add; remove; leave.
	if st, body := w.call(t, "PATCH", "/v1/conversations/"+gID, b, map[string]any{"name": "我的"}); st != 403 {
		t.Fatalf("non-owner rename: %d %v", st, body)
	}
	if r := w.mustCall(t, 200, "PATCH", "/v1/conversations/"+gID, a, map[string]any{"name": "质量部"}); r["name"] != "质量部" {
		t.Fatalf("rename: %v", r)
	}
	d := w.member(t, t1, "赵六")
	if r := w.mustCall(t, 200, "POST", "/v1/conversations/"+gID+"/members", a, map[string]any{"memberIds": []string{d.ID}}); r["memberCount"] != float64(4) {
		t.Fatalf("add: %v", r)
	}
	w.mustCall(t, 204, "DELETE", "/v1/conversations/"+gID+"/members/"+d.ID, a, nil)
	w.mustCall(t, 204, "POST", "/v1/conversations/"+gID+"/leave", c, nil)
	if st, _ := w.call(t, "GET", "/v1/conversations/"+gID+"/messages", c, nil); st != 404 {
		t.Fatalf("a member who left still reads the group: %d", st)
	}

	// Pin first; unpin; delete for me only; a new message brings it back.
	w.clock.Advance(time.Second)
	w.mustCall(t, 201, "POST", "/v1/conversations/"+gID+"/messages", a, map[string]any{"text": "newest"})
	w.mustCall(t, 204, "PUT", "/v1/conversations/"+dmID+"/pin", b, nil)
	if list := items(w.mustCall(t, 200, "GET", "/v1/conversations", b, nil)); len(list) != 2 || list[0]["id"] != dmID || list[0]["pinned"] != true {
		t.Fatalf("pinned first: %v", list)
	}
	w.mustCall(t, 204, "DELETE", "/v1/conversations/"+dmID+"/pin", b, nil)
	if list := items(w.mustCall(t, 200, "GET", "/v1/conversations", b, nil)); list[0]["id"] != gID {
		t.Fatalf("by activity after unpin: %v", list)
	}
	w.mustCall(t, 204, "DELETE", "/v1/conversations/"+dmID, b, nil)
	if conversationIn(t, w, b, dmID) != nil {
		t.Fatal("deleted conversation still listed")
	}
	if conversationIn(t, w, a, dmID) == nil {
		t.Fatal("delete removed it from the other member's list")
	}
	w.clock.Advance(time.Second)
	w.mustCall(t, 201, "POST", "/v1/conversations/"+dmID+"/messages", a, map[string]any{"text": "在吗？"})
	if got := conversationIn(t, w, b, dmID); got == nil || got["unread"] != float64(1) {
		t.Fatalf("back with only the new message unread: %v", got)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a := admin(t1)
	b := w.member(t, t1, "李四")
	c := w.member(t, t1, "王五")
	t2 := w.s.NewTenant(t)
	x := admin(t2)
	dm := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID}})["id"].(string)
	other := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{c.ID}})["id"].(string)
	elsewhere := w.mustCall(t, 201, "POST", "/v1/conversations/"+other+"/messages", a, map[string]any{"text": "x"})["id"].(string)
	many := make([]string, 500)
	for i := range many {
		many[i] = fmt.Sprintf("m%03d", i)
	}
	send := "/v1/conversations/" + dm + "/messages"
	before := w.chatItems(t)
	for _, tc := range []struct {
		name         string
		method, path string
		who          person
		body         any
		status       int
		code, field  string
	}{
		{"empty text", "POST", send, a, map[string]any{"text": ""}, 400, "empty_text", "text"},
		{"blank text", "POST", send, a, map[string]any{"text": " \n "}, 400, "empty_text", "text"},
		{"oversize text", "POST", send, a, map[string]any{"text": strings.Repeat("长", 4001)}, 400, "text_too_long", "text"},
		{"control character", "POST", send, a, map[string]any{"text": "bell\u0007"}, 400, "invalid_text", "text"},
		{"unknown field", "POST", send, a, map[string]any{"text": "x", "colour": "red"}, 400, "unknown_field", "colour"},
		{"wrong type", "POST", send, a, map[string]any{"text": 5}, 400, "wrong_type", "text"},
		{"unknown conversation", "POST", "/v1/conversations/" + chat.DirectID(t1.ID, a.ID, "nobody") + "/messages", a, map[string]any{"text": "x"}, 404, "conversation_not_found", ""},
		{"not a member", "POST", send, c, map[string]any{"text": "x"}, 404, "conversation_not_found", ""},
		{"replyTo elsewhere", "POST", send, a, map[string]any{"text": "x", "replyTo": elsewhere}, 400, "reply_to_other_conversation", "replyTo"},
		{"replyTo unknown", "POST", send, a, map[string]any{"text": "x", "replyTo": chat.MessageID(dm, 9)}, 400, "reply_not_found", "replyTo"},
		{"recipient of another tenant", "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{x.ID}}, 400, "unknown_member", "memberIds"},
		{"unknown recipient", "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID, "01nobody"}, "name": "g"}, 400, "unknown_member", "memberIds"},
		{"duplicate members", "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID, c.ID, b.ID}, "name": "g"}, 400, "duplicate_member", "memberIds"},
		{"more than 500 members", "POST", "/v1/conversations", a, map[string]any{"memberIds": many, "name": "g"}, 400, "too_many_members", "memberIds"},
		{"group name too long", "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID, c.ID}, "name": strings.Repeat("名", 31)}, 400, "invalid_group_name", "name"},
		{"rocket to another tenant", "POST", "/v1/rocket-messages", a, map[string]any{"memberIds": []string{b.ID, x.ID}, "text": "x"}, 400, "unknown_member", "memberIds"},
		{"rocket to nobody", "POST", "/v1/rocket-messages", a, map[string]any{"memberIds": []string{}, "text": "x"}, 400, "no_members", "memberIds"},
		{"rocket without text", "POST", "/v1/rocket-messages", a, map[string]any{"memberIds": []string{b.ID}, "text": ""}, 400, "empty_text", "text"},
		{"rocket duplicates", "POST", "/v1/rocket-messages", a, map[string]any{"memberIds": []string{b.ID, b.ID}, "text": "x"}, 400, "duplicate_member", "memberIds"},
		{"read a message elsewhere", "POST", "/v1/conversations/" + dm + "/read", a, map[string]any{"messageId": elsewhere}, 400, "message_not_in_conversation", "messageId"},
		{"bad limit", "GET", "/v1/conversations?limit=500", a, nil, 400, "invalid_query", "limit"},
		{"bad cursor", "GET", "/v1/conversations?cursor=%21", a, nil, 400, "invalid_cursor", "cursor"},
		{"settings out of range", "PUT", "/v1/admin/chat-settings", a, map[string]any{"rocketReminderMinutes": 0}, 400, "invalid_reminder_window", "rocketReminderMinutes"},
		{"settings by a member", "PUT", "/v1/admin/chat-settings", b, map[string]any{"rocketReminderMinutes": 10}, 403, "admin_only", ""},
		{"no token", "POST", send, person{}, map[string]any{"text": "x"}, 401, "missing_token", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := w.call(t, tc.method, tc.path, tc.who, tc.body)
			code, field := errorOf(body)
			if status != tc.status || code != tc.code || field != tc.field {
				t.Fatalf("%d %s (field %q), want %d %s (field %q): %v", status, code, field, tc.status, tc.code, tc.field, body)
			}
		})
	}
	if n := w.chatItems(t); n != before {
		t.Fatalf("refused requests wrote %d items", n-before)
	}
}

func TestCrossTenantIsolation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a := admin(t1)
	b := w.member(t, t1, "李四")
	t2 := w.s.NewTenant(t)
	x := admin(t2)
	dm := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID}})["id"].(string)
	m := w.mustCall(t, 201, "POST", "/v1/conversations/"+dm+"/messages", a, map[string]any{"text": "secret"})["id"].(string)
	w.mustCall(t, 200, "PUT", "/v1/admin/chat-settings", a, map[string]any{"rocketReminderMinutes": 30})
	before := w.chatItems(t)
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/conversations/" + dm, nil},
		{"GET", "/v1/conversations/" + dm + "/messages", nil},
		{"POST", "/v1/conversations/" + dm + "/messages", map[string]any{"text": "hi"}},
		{"POST", "/v1/conversations/" + dm + "/read", map[string]any{"messageId": m}},
		{"GET", "/v1/messages/" + m + "/reads", nil},
		{"PUT", "/v1/conversations/" + dm + "/pin", nil},
		{"DELETE", "/v1/conversations/" + dm + "/pin", nil},
		{"DELETE", "/v1/conversations/" + dm, nil},
		{"PATCH", "/v1/conversations/" + dm, map[string]any{"name": "mine"}},
		{"POST", "/v1/conversations/" + dm + "/members", map[string]any{"memberIds": []string{b.ID}}},
		{"POST", "/v1/conversations/" + dm + "/leave", nil},
	} {
		if st, body := w.call(t, r.method, r.path, x, r.body); st != 404 {
			t.Errorf("%s %s by another tenant: %d %v", r.method, r.path, st, body)
		}
	}
	if list := items(w.mustCall(t, 200, "GET", "/v1/conversations", x, nil)); len(list) != 0 {
		t.Fatalf("another tenant lists %v", list)
	}
	if s := w.mustCall(t, 200, "GET", "/v1/admin/chat-settings", x, nil); s["rocketReminderMinutes"] != float64(5) {
		t.Fatalf("another tenant's settings: %v", s)
	}
	if n := w.chatItems(t); n != before {
		t.Fatalf("another tenant's requests wrote %d items", n-before)
	}
}

func TestConcurrentSendsOverHTTP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a := w.member(t, t1, "张三")
	b := w.member(t, t1, "李四")
	dm := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID}})["id"].(string)
	const n = 12
	var wg sync.WaitGroup
	seqs := make([]int, n)
	fails := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			who := []person{a, b}[i%2]
			// As a client would: a 503 (the emulator serves one request at
			// a time, so a loaded machine runs into the function's
			// deadline) is sent again after Retry-After, under the same
			// clientMessageId, so a send that did commit is not doubled.
			body, _ := json.Marshal(map[string]any{"text": fmt.Sprintf("race %d", i), "clientMessageId": fmt.Sprintf("race-%d", i)})
			for attempt := 0; ; attempt++ {
				req, _ := http.NewRequest("POST", w.s.URL+"/v1/conversations/"+dm+"/messages", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+who.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					fails[i] = err.Error()
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				stacktest.CheckResponse(t, "POST", "/v1/conversations/"+dm+"/messages", resp.StatusCode, resp.Header, raw)
				if resp.StatusCode == http.StatusServiceUnavailable && attempt < 5 {
					time.Sleep(time.Second)
					continue
				}
				var m struct{ Seq int }
				if resp.StatusCode != 201 && resp.StatusCode != 200 {
					fails[i] = fmt.Sprint(resp.StatusCode)
				} else if err := json.Unmarshal(raw, &m); err != nil {
					fails[i] = err.Error()
				}
				seqs[i] = m.Seq
				return
			}
		}(i)
	}
	wg.Wait()
	for i, f := range fails {
		if f != "" {
			t.Fatalf("send %d: %s", i, f)
		}
	}
	sort.Ints(seqs)
	for i, s := range seqs {
		if s != i+1 {
			t.Fatalf("sequences %v are not 1..%d, unique and gap-free", seqs, n)
		}
	}
	hist := items(w.mustCall(t, 200, "GET", "/v1/conversations/"+dm+"/messages?limit=100", a, nil))
	if len(hist) != n || hist[0]["seq"] != float64(n) {
		t.Fatalf("history holds %d messages", len(hist))
	}
	if c := conversationIn(t, w, a, dm); c["lastSeq"] != float64(n) {
		t.Fatalf("head: %v", c)
	}
}

func TestRocketReminders(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a := admin(t1)
	b := w.member(t, t1, "李四")
	c := w.member(t, t1, "王五")
	long := strings.Repeat("三号线故障停机请立即到现场处理", 5) // 70 characters
	r := w.mustCall(t, 201, "POST", "/v1/rocket-messages", a, map[string]any{"memberIds": []string{b.ID, c.ID}, "text": long, "clientMessageId": "r-1"})
	msgs, _ := r["messages"].([]any)
	if len(msgs) != 2 || r["remindAt"] != start.Add(5*time.Minute).Format(time.RFC3339) {
		t.Fatalf("rocket: %v", r)
	}
	toC := msgs[1].(map[string]any)
	if toC["urgent"] != true || toC["conversationId"] != chat.DirectID(t1.ID, a.ID, c.ID) {
		t.Fatalf("rocket message to c: %v", toC)
	}
	// A retry sends nothing new.
	if again := w.mustCall(t, 201, "POST", "/v1/rocket-messages", a, map[string]any{"memberIds": []string{b.ID, c.ID}, "text": long, "clientMessageId": "r-1"}); again["messages"].([]any)[1].(map[string]any)["id"] != toC["id"] {
		t.Fatalf("retry: %v", again)
	}
	if got := conversationIn(t, w, b, chat.DirectID(t1.ID, a.ID, b.ID)); got == nil || got["unread"] != float64(1) {
		t.Fatalf("b's 1:1 with the rocket: %v", got)
	}

	// c reads in time; b does not.
	w.clock.Advance(2 * time.Minute)
	w.mustCall(t, 200, "POST", "/v1/conversations/"+toC["conversationId"].(string)+"/read", c, map[string]any{"messageId": toC["id"]})

	w.sweep(t, start.Add(4*time.Minute))
	if sms := w.s.SMS(t, b.Mobile); len(sms) != 0 {
		t.Fatalf("SMS before the window: %v", sms)
	}
	if res := w.sweep(t, start.Add(5*time.Minute+30*time.Second)); res.Sent != 1 || res.Failed != 0 {
		t.Fatalf("first sweep past the window: %+v, want one SMS", res)
	}
	if res := w.sweep(t, start.Add(5*time.Minute+30*time.Second)); res.Sent != 0 { // the same event twice
		t.Fatalf("the same sweep again: %+v, want no SMS", res)
	}
	w.sweep(t, start.Add(7*time.Minute))
	sms := w.s.SMS(t, b.Mobile)
	if len(sms) != 1 {
		t.Fatalf("b got %d reminders, want 1: %v", len(sms), sms)
	}
	if !strings.Contains(sms[0].Text, t1.Admin.Name) || strings.Contains(sms[0].Text, long) || !strings.Contains(sms[0].Text, long[:30]) {
		t.Fatalf("reminder text: %q", sms[0].Text)
	}
	if sms := w.s.SMS(t, c.Mobile); len(sms) != 0 {
		t.Fatalf("c read in time but got %v", sms)
	}
}

func TestUrgentGroupMessageAndWindowSetting(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a := admin(t1)
	b := w.member(t, t1, "李四")
	c := w.member(t, t1, "王五")
	if s := w.mustCall(t, 200, "GET", "/v1/admin/chat-settings", a, nil); s["rocketReminderMinutes"] != float64(5) {
		t.Fatalf("default window: %v", s)
	}
	w.mustCall(t, 200, "PUT", "/v1/admin/chat-settings", a, map[string]any{"rocketReminderMinutes": 1})
	g := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID, c.ID}, "name": "抢修"})["id"].(string)
	m := w.mustCall(t, 201, "POST", "/v1/conversations/"+g+"/messages", a, map[string]any{"text": "全员到三号线", "urgent": true})
	w.mustCall(t, 200, "POST", "/v1/conversations/"+g+"/read", b, map[string]any{"messageId": m["id"]})
	w.sweep(t, start.Add(90*time.Second))
	w.sweep(t, start.Add(150*time.Second))
	if sms := w.s.SMS(t, c.Mobile); len(sms) != 1 || !strings.Contains(sms[0].Text, "全员到三号线") {
		t.Fatalf("c's reminder: %v", sms)
	}
	if sms := w.s.SMS(t, b.Mobile); len(sms) != 0 {
		t.Fatalf("b read in time: %v", sms)
	}
	for _, sms := range w.s.SMS(t, a.Mobile) { // the admin's welcome SMS is there
		if strings.Contains(sms.Text, "全员到三号线") {
			t.Fatalf("the sender was reminded: %v", sms)
		}
	}
}

func TestNotices(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a := admin(t1)
	b := w.member(t, t1, "李四")
	store := &notice.DynamoStore{DB: w.s.DynamoDB(), Table: w.s.Tables["NoticesTable"]}
	for i := 1; i <= 3; i++ {
		err := store.Deliver(context.Background(), notice.Notice{
			ID: fmt.Sprintf("n%d", i), TenantID: t1.ID, MemberID: a.ID, Kind: "expiry_warning",
			Title: "订阅即将到期", Body: fmt.Sprintf("还有 %d 天", 30/i), CreatedAt: start.Add(time.Duration(i) * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	page := w.mustCall(t, 200, "GET", "/v1/me/notices?limit=2", a, nil)
	if got := items(page); len(got) != 2 || got[0]["id"] != "n3" || got[0]["read"] != false || page["unreadCount"] != float64(3) || page["nextCursor"] == nil {
		t.Fatalf("page 1: %v", page)
	}
	w.mustCall(t, 204, "POST", "/v1/me/notices/n3/read", a, nil)
	w.mustCall(t, 204, "POST", "/v1/me/notices/n3/read", a, nil)
	if st, _ := w.call(t, "POST", "/v1/me/notices/n3/read", b, nil); st != 404 {
		t.Fatalf("another member marks a's notice: %d", st)
	}
	page = w.mustCall(t, 200, "GET", "/v1/me/notices", a, nil)
	if got := items(page); got[0]["read"] != true || got[0]["readAt"] == nil || page["unreadCount"] != float64(2) {
		t.Fatalf("after read: %v", page)
	}
	if page := w.mustCall(t, 200, "GET", "/v1/me/notices", b, nil); len(items(page)) != 0 || page["unreadCount"] != float64(0) {
		t.Fatalf("b sees a's notices: %v", page)
	}
}

// Sending a message ranks the recipient among the sender's frequent
// contacts, as the directory's address book shows them.
func TestSendingUpdatesFrequentContacts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	alice, bob, carol := admin(t1), w.member(t, t1, "鲍勃"), w.member(t, t1, "卡罗尔")

	conv := w.mustCall(t, 201, "POST", "/v1/conversations", alice, map[string]any{"memberIds": []string{bob.ID}})
	for range 3 {
		w.mustCall(t, 201, "POST", "/v1/conversations/"+conv["id"].(string)+"/messages", alice, map[string]any{"text": "你好"})
	}
	conv2 := w.mustCall(t, 201, "POST", "/v1/conversations", alice, map[string]any{"memberIds": []string{carol.ID}})
	w.mustCall(t, 201, "POST", "/v1/conversations/"+conv2["id"].(string)+"/messages", alice, map[string]any{"text": "在吗"})

	list := items(w.mustCall(t, 200, "GET", "/v1/me/frequent-contacts", alice, nil))
	if len(list) != 2 {
		t.Fatalf("frequent contacts: %v", list)
	}
	first := list[0]["member"].(map[string]any)["id"]
	if first != bob.ID || list[0]["count"].(float64) != 3 {
		t.Errorf("first contact %v (count %v), want bob with 3", first, list[0]["count"])
	}
	// Bob sent nothing: his list is empty.
	if got := items(w.mustCall(t, 200, "GET", "/v1/me/frequent-contacts", bob, nil)); len(got) != 0 {
		t.Errorf("bob's contacts: %v", got)
	}
}

// Groups are found by name among the caller's own conversations.
func TestSearchGroupsByName(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a, b, c, d := admin(t1), w.member(t, t1, "李四"), w.member(t, t1, "王五"), w.member(t, t1, "赵六")
	w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID, c.ID}, "name": "生产部周会"})
	w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID, c.ID}, "name": "Quality Team"})
	w.mustCall(t, 201, "POST", "/v1/conversations", b, map[string]any{"memberIds": []string{c.ID, d.ID}, "name": "生产部小组"}) // a is not in it
	w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID}})

	names := func(who person, q string) []string {
		var out []string
		for _, it := range items(w.mustCall(t, 200, "GET", "/v1/conversations?q="+url.QueryEscape(q), who, nil)) {
			out = append(out, it["name"].(string))
		}
		sort.Strings(out)
		return out
	}
	if got := names(a, "生产部"); len(got) != 1 || got[0] != "生产部周会" {
		t.Errorf("a searching 生产部: %v", got)
	}
	if got := names(b, "生产部"); len(got) != 2 {
		t.Errorf("b searching 生产部: %v", got)
	}
	if got := names(a, "quality"); len(got) != 1 || got[0] != "Quality Team" {
		t.Errorf("case-insensitive search: %v", got)
	}
	if got := names(a, "不存在"); len(got) != 0 {
		t.Errorf("no match: %v", got)
	}
	for _, q := range []string{"", strings.Repeat("长", 31)} {
		status, body := w.call(t, "GET", "/v1/conversations?q="+url.QueryEscape(q), a, nil)
		if code, field := errorOf(body); status != 400 || code != "invalid_query" || field != "q" {
			t.Errorf("q=%q: %d %v", q, status, body)
		}
	}
}

// A group larger than chat.FanoutMembers: its send writes only the
// sender's entry, and ChatFanoutFunction, reading the table's stream,
// moves the other members' entries in their lists.
func TestLargeGroupMovesInListsThroughTheStream(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a, b := admin(t1), w.member(t, t1, "李四")
	memberIDs := []string{b.ID}
	for i := 0; i < chat.FanoutMembers; i++ {
		memberIDs = append(memberIDs, w.member(t, t1, fmt.Sprintf("工人%d", i)).ID)
	}
	w.s.Streams(t) // from here on
	group := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": memberIDs, "name": "总装车间"})
	w.clock.Advance(time.Second)
	direct := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{memberIDs[1]}})
	w.clock.Advance(time.Second)
	w.mustCall(t, 201, "POST", "/v1/conversations/"+group["id"].(string)+"/messages", b, map[string]any{"text": "三点开会"})

	order := func() []any {
		var ids []any
		for _, c := range items(w.mustCall(t, 200, "GET", "/v1/conversations", a, nil)) {
			ids = append(ids, c["id"])
		}
		return ids
	}
	if got := order(); len(got) != 2 || got[0] != direct["id"] {
		t.Fatalf("before the stream's fan-out: %v", got)
	}
	w.s.Drain(t)
	got := order()
	if len(got) != 2 || got[0] != group["id"] {
		t.Fatalf("after the stream's fan-out: %v", got)
	}
	if c := conversationIn(t, w, a, group["id"].(string)); c["unread"] != float64(1) {
		t.Fatalf("group as listed: %v", c)
	}
	if f := w.s.Streams(t).Failures(); len(f) != 0 {
		t.Fatalf("stream failures: %+v", f)
	}
}

// Entries written before the list index are placed by invoking
// ChatFanoutFunction with {"backfill": true}, as a deploy does once.
func TestListBackfillThroughTheFunction(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1 := w.s.NewTenant(t)
	a, b := admin(t1), w.member(t, t1, "李四")
	conv := w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID}})["id"].(string)
	// Make a's entry as it was stored before the index.
	table := w.s.Tables["ChatTable"]
	_, err := w.s.DynamoDB().UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "CONV#" + t1.ID + "#" + conv}, "sk": &types.AttributeValueMemberS{Value: "MEMBER#" + a.ID},
		},
		UpdateExpression: aws.String("REMOVE gsi3pk, gsi3sk, listPk, lastSeq"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := items(w.mustCall(t, 200, "GET", "/v1/conversations", a, nil)); len(got) != 0 {
		t.Fatalf("listed without a place: %v", got)
	}
	var res chat.BackfillResult
	if err := json.Unmarshal(w.s.Invoke(t, "ChatFanoutFunction", map[string]any{"backfill": true}), &res); err != nil {
		t.Fatal(err)
	}
	if res.Scanned != 1 || res.Listed != 1 || !res.Done {
		t.Fatalf("backfill: %+v", res)
	}
	if got := items(w.mustCall(t, 200, "GET", "/v1/conversations", a, nil)); len(got) != 1 || got[0]["id"] != conv {
		t.Fatalf("after the backfill: %v", got)
	}
}

// The conversation list's cursors page through the list, the whole one or
// a search, each conversation once; and a cursor is bound to the tenant,
// the member and the query it came from: garbage, another member's,
// another tenant's or another query's cursor is 400 invalid_cursor, not a
// first page.
func TestConversationListCursors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	t1, t2 := w.s.NewTenant(t), w.s.NewTenant(t)
	a, b, stranger := admin(t1), w.member(t, t1, "李四"), admin(t2)
	for i := range 5 {
		w.clock.Advance(time.Minute)
		w.mustCall(t, 201, "POST", "/v1/conversations", a, map[string]any{"memberIds": []string{b.ID}, "name": fmt.Sprint("周会 ", i), "kind": "group"})
	}
	list, search := "/v1/conversations?limit=2", "/v1/conversations?limit=2&q="+url.QueryEscape("周会")
	pages := func(path string) (ids []string, first string) {
		cursor := ""
		for n := 0; n < 10; n++ {
			body := w.mustCall(t, 200, "GET", path+"&cursor="+url.QueryEscape(cursor), a, nil)
			for _, it := range items(body) {
				ids = append(ids, it["id"].(string))
			}
			cursor, _ = body["nextCursor"].(string)
			if n == 0 {
				first = cursor
			}
			if cursor == "" {
				return ids, first
			}
		}
		t.Fatalf("%s: more pages than conversations", path)
		return nil, ""
	}
	listed, listCursor := pages(list)
	found, searchCursor := pages(search)
	if len(listed) != 5 || fmt.Sprint(listed) != fmt.Sprint(found) || listCursor == "" || searchCursor == "" {
		t.Fatalf("paged list %v (first cursor %q), search %v (%q): want the 5 groups once each, in one order", listed, listCursor, found, searchCursor)
	}
	refused := []struct {
		what, path string
		who        person
		cursor     string
	}{
		{"garbage", list, a, "bm9wZQ"},
		{"not base64", list, a, "!!!"},
		{"another member's", list, b, listCursor},
		{"another tenant's", list, stranger, listCursor},
		{"the search's in the list", list, a, searchCursor},
		{"the list's in a search", search, a, listCursor},
		{"another search's", "/v1/conversations?limit=2&q=" + url.QueryEscape("周"), a, searchCursor},
		{"another member's search", search, b, searchCursor},
	}
	for _, c := range refused {
		status, body := w.call(t, "GET", c.path+"&cursor="+url.QueryEscape(c.cursor), c.who, nil)
		if code, field := errorOf(body); status != 400 || code != "invalid_cursor" || field != "cursor" {
			t.Errorf("%s cursor: %d %v; want 400 invalid_cursor", c.what, status, body)
		}
	}
}
