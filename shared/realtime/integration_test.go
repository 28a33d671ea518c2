package realtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"

	"workbench/infra/stacktest"
	"workbench/shared/chat"
	"workbench/shared/ids"
	"workbench/shared/notice"
	"workbench/shared/realtime"
)

// event decodes a frame.
func event(t *testing.T, frame json.RawMessage) realtime.Event {
	t.Helper()
	var e realtime.Event
	if err := json.Unmarshal(frame, &e); err != nil {
		t.Fatalf("frame %s: %v", frame, err)
	}
	return e
}

// events returns the client's frames up to the pong of a ping sent now:
// every event posted before the ping's answer (posts and the pong travel
// the same connection in order), so "nothing arrived" can be checked
// without waiting.
func events(t *testing.T, c *stacktest.Client) []realtime.Event {
	t.Helper()
	before := len(c.Frames())
	c.Send(t, `{"action":"ping"}`)
	for n := before + 1; ; n++ {
		frames := c.WaitFrames(t, n)
		last := frames[len(frames)-1]
		var probe struct{ Type string }
		if err := json.Unmarshal(last, &probe); err != nil {
			t.Fatal(err)
		}
		if probe.Type != "pong" {
			continue
		}
		var out []realtime.Event
		for _, f := range frames {
			if err := json.Unmarshal(f, &probe); err != nil {
				t.Fatal(err)
			}
			if probe.Type != "pong" {
				out = append(out, event(t, f))
			}
		}
		return out
	}
}

func conversation(t testing.TB, st *stacktest.Stack, token string, body any) string {
	t.Helper()
	r := st.Call(t, http.MethodPost, "/v1/conversations", token, body)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("create conversation: %d %s", r.Status, r.Body)
	}
	var c struct{ ID string }
	r.Decode(t, &c)
	return c.ID
}

func send(t testing.TB, st *stacktest.Stack, token, convID, text string) int64 {
	t.Helper()
	r := st.Call(t, http.MethodPost, "/v1/conversations/"+convID+"/messages", token, map[string]string{"text": text})
	stacktest.Want(t, r, http.StatusCreated)
	var m struct{ Seq int64 }
	r.Decode(t, &m)
	return m.Seq
}

// direct stands up a stack with its streams open, a tenant, its admin
// ann, a member bob and their 1:1 conversation, whose creation is
// delivered already.
func direct(t *testing.T) (st *stacktest.Stack, tn stacktest.Tenant, ann, bob stacktest.Member, conv string) {
	t.Helper()
	st = stacktest.New(t)
	st.Streams(t)
	tn = st.NewTenant(t)
	ann, bob = tn.Admin, st.Member(t, tn, "member")
	conv = conversation(t, st, ann.Token, map[string]any{"memberIds": []string{bob.ID}})
	st.Drain(t)
	return st, tn, ann, bob, conv
}

func TestDirectMessageReachesPeerAndSendersOtherDevice(t *testing.T) {
	t.Parallel()
	st, _, ann, bob, conv := direct(t)

	bobPhone := st.Dial(t, bob.Token)
	annPhone, annLaptop := st.Dial(t, ann.Token), st.Dial(t, ann.Token)
	seq := send(t, st, ann.Token, conv, "你好")
	st.Drain(t)

	for name, c := range map[string]*stacktest.Client{"peer": bobPhone, "sender's phone": annPhone, "sender's laptop": annLaptop} {
		evs := events(t, c)
		if len(evs) != 1 {
			t.Fatalf("%s got %d events, want 1: %+v", name, len(evs), evs)
		}
		e := evs[0]
		if e.Type != realtime.MessageCreated || e.ConversationID != conv || e.Seq != seq || e.Message == nil ||
			e.Message.Text != "你好" || e.Message.SenderID != ann.ID || e.Message.ConversationID != conv || e.ID == "" || e.At.IsZero() {
			t.Errorf("%s got %+v", name, e)
		}
	}
}

func TestGroupOf500With50ConnectedMakesExactly50Posts(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	st.Streams(t)
	tn := st.NewTenant(t)
	others := st.SeedMembers(t, tn, chat.MaxGroupMembers-1)
	conv := conversation(t, st, tn.Admin.Token, map[string]any{"memberIds": others, "name": "全员"})
	st.Drain(t) // the group's creation

	var clients []*stacktest.Client
	for _, id := range others[:50] {
		clients = append(clients, st.Dial(t, st.Token(t, tn.ID, tn.Code, id)))
	}
	before := st.Posts()
	seq := send(t, st, tn.Admin.Token, conv, "通知")
	st.Drain(t)
	if got := st.Posts() - before; got != 50 {
		t.Errorf("%d posts for one message to 50 open connections, want 50", got)
	}
	for i, c := range clients {
		evs := events(t, c)
		if len(evs) != 1 || evs[0].Type != realtime.MessageCreated || evs[0].Seq != seq {
			t.Fatalf("client %d got %+v", i, evs)
		}
	}
}

func TestOtherTenantsAndRemovedMembersGetNothing(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	st.Streams(t)
	tn, other := st.NewTenant(t), st.NewTenant(t)
	ann, bob, carol := tn.Admin, st.Member(t, tn, "member"), st.Member(t, tn, "member")
	conv := conversation(t, st, ann.Token, map[string]any{"memberIds": []string{bob.ID, carol.ID}, "name": "项目组"})
	st.Drain(t)
	stranger := st.Dial(t, other.Admin.Token)
	carolPhone := st.Dial(t, carol.Token)
	bobPhone := st.Dial(t, bob.Token)

	stacktest.Want(t, st.Call(t, http.MethodDelete, "/v1/conversations/"+conv+"/members/"+carol.ID, ann.Token, nil), http.StatusNoContent)
	st.Drain(t)
	removal := events(t, carolPhone)
	if len(removal) != 1 || removal[0].Type != realtime.ConversationUpdated || removal[0].Change != "members" ||
		len(removal[0].Removed) != 1 || removal[0].Removed[0] != carol.ID {
		t.Fatalf("the removed member was told %+v, want one conversation.updated removing her", removal)
	}
	send(t, st, ann.Token, conv, "carol 看不到这条")
	st.Drain(t)

	if evs := events(t, carolPhone); len(evs) != 1 {
		t.Errorf("the removed member got %d events after the removal, want none: %+v", len(evs)-1, evs[1:])
	}
	if evs := events(t, stranger); len(evs) != 0 {
		t.Errorf("a member of another tenant got %+v", evs)
	}
	evs := events(t, bobPhone)
	if len(evs) != 2 || evs[0].Change != "members" || evs[1].Type != realtime.MessageCreated {
		t.Errorf("the remaining member got %+v, want the removal and the message", evs)
	}
}

func TestReadsChangesAndNoticesArePushed(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	st.Streams(t)
	tn := st.NewTenant(t)
	ann, bob := tn.Admin, st.Member(t, tn, "member")
	conv := conversation(t, st, ann.Token, map[string]any{"memberIds": []string{bob.ID}, "name": "小组", "kind": "group"})
	seq := send(t, st, ann.Token, conv, "请看")
	st.Drain(t)
	annPhone, bobPhone := st.Dial(t, ann.Token), st.Dial(t, bob.Token)

	stacktest.Want(t, st.Call(t, http.MethodPost, "/v1/conversations/"+conv+"/read", bob.Token, nil), http.StatusOK)
	stacktest.Want(t, st.Call(t, http.MethodPatch, "/v1/conversations/"+conv, ann.Token, map[string]string{"name": "新名字"}), http.StatusOK)
	stacktest.Want(t, st.Call(t, http.MethodPut, "/v1/conversations/"+conv+"/pin", bob.Token, nil), http.StatusNoContent)
	n := notice.Notice{ID: ids.New(time.Now()), TenantID: tn.ID, MemberID: bob.ID, Kind: "calendar_reminder", Title: "会议提醒", Body: "10:00 周会", CreatedAt: time.Now().UTC()}
	if err := (&notice.DynamoStore{DB: st.DynamoDB(), Table: st.Tables["NoticesTable"]}).Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	st.Drain(t)

	type seen struct{ Type, Change, MemberID, Name string }
	summary := func(evs []realtime.Event) []seen {
		var out []seen
		for _, e := range evs {
			out = append(out, seen{e.Type, e.Change, e.MemberID, e.Name})
		}
		return out
	}
	wantAnn := []seen{{realtime.ConversationRead, "", bob.ID, ""}, {realtime.ConversationUpdated, "renamed", "", "新名字"}}
	annEvents := events(t, annPhone)
	if got := summary(annEvents); !reflect.DeepEqual(got, wantAnn) {
		t.Errorf("ann got %+v, want %+v", got, wantAnn)
	} else if annEvents[0].Seq != seq || annEvents[0].ConversationID != conv {
		t.Errorf("read receipt %+v, want seq %d of %s", annEvents[0], seq, conv)
	}
	bobEvents := events(t, bobPhone)
	wantBob := append(wantAnn, seen{realtime.ConversationUpdated, "pinned", bob.ID, ""}, seen{Type: realtime.NoticeCreated})
	if got := summary(bobEvents); !reflect.DeepEqual(got, wantBob) {
		t.Errorf("bob got %+v, want %+v", got, wantBob)
	} else if last := bobEvents[3]; last.Notice == nil || last.Notice.ID != n.ID || last.Notice.Title != "会议提醒" {
		t.Errorf("notice event %+v", last)
	}
}

func TestGoneConnectionsArePruned(t *testing.T) {
	t.Parallel()
	st, tn, ann, bob, conv := direct(t)
	live := st.Dial(t, bob.Token)
	conns := &realtime.Connections{DB: st.DynamoDB(), Table: st.Tables["ConnectionsTable"]}
	// A connection whose $disconnect never came: the gateway knows it no more.
	stale := realtime.Connection{ID: "staleConnX0=", TenantID: tn.ID, MemberID: bob.ID, ConnectedAt: time.Now().UTC()}
	if err := conns.Open(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	st.Drain(t)
	before := st.Posts()
	send(t, st, ann.Token, conv, "hi")
	st.Drain(t)

	if got := st.Posts() - before; got != 2 {
		t.Errorf("%d posts, want 2 (the live connection and the stale one)", got)
	}
	left, err := conns.Of(context.Background(), tn.ID, []string{bob.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ID == stale.ID {
		t.Errorf("bob's connections after the push: %+v, want only the live one", left)
	}
	if evs := events(t, live); len(evs) != 1 {
		t.Errorf("the live connection got %+v", evs)
	}
}

func TestHandshakeRefusesBadTokensAndStoresNothing(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	disabled, loggedOut := st.Member(t, tn, "member"), st.Member(t, tn, "member")
	st.Disable(t, tn, disabled.ID)
	stacktest.Want(t, st.Call(t, http.MethodPost, "/v1/auth/logout", loggedOut.Token, nil), http.StatusNoContent)

	for name, token := range map[string]string{
		"no token":        "",
		"garbage":         "not-a-token",
		"tampered":        tn.Admin.Token + "x",
		"disabled member": disabled.Token,
		"revoked session": loggedOut.Token,
	} {
		if c, status, err := st.DialStatus(token); err == nil {
			_ = c.Conn.CloseNow()
			t.Errorf("%s: the handshake succeeded", name)
		} else if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401 (%v)", name, status, err)
		}
	}
	// A tenant whose subscription ended long ago is released: 403.
	released := st.NewTenant(t)
	stacktest.Want(t, st.Call(t, http.MethodPut, "/v1/platform/tenants/"+released.Code+"/subscription", st.OperatorKey(),
		map[string]any{"plan": "std", "expiresAt": "2020-01-01T00:00:00Z"}), http.StatusOK)
	if c, status, err := st.DialStatus(released.Admin.Token); err == nil {
		_ = c.Conn.CloseNow()
		t.Error("released tenant: the handshake succeeded")
	} else if status != http.StatusForbidden {
		t.Errorf("released tenant: status %d, want 403 (%v)", status, err)
	}
	out, err := st.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(st.Tables["ConnectionsTable"])})
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 0 {
		t.Errorf("refused handshakes stored %d items", out.Count)
	}
	if open := st.OpenConnections(); len(open) != 0 {
		t.Errorf("open connections %v", open)
	}
}

func TestPingAndUnknownActions(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	c := st.Dial(t, tn.Admin.Token)
	c.Send(t, `{"action":"ping"}`)
	c.Send(t, `{"action":"subscribe"}`)
	c.Send(t, `not json`)
	frames := c.WaitFrames(t, 3)
	var got []string
	for _, f := range frames {
		var v struct {
			Type  string
			Error struct{ Code, Field string }
		}
		if err := json.Unmarshal(f, &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v.Type+":"+v.Error.Code+":"+v.Error.Field)
	}
	want := []string{"pong::", "error:unknown_action:action", "error:invalid_frame:action"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("frames %v, want %v", got, want)
	}
	c.Conn.Close(websocket.StatusNormalClosure, "")
	conns := &realtime.Connections{DB: st.DynamoDB(), Table: st.Tables["ConnectionsTable"]}
	for range 100 { // $disconnect runs when the gateway sees the close
		if left, _ := conns.Of(context.Background(), tn.ID, []string{tn.Admin.ID}); len(left) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("the connection is still stored after the client closed it")
}

// A record that does not decode fails its batch; the mapping bisects down
// to it, delivers the rest, and gives the bad record to the on-failure
// destination.
func TestPoisonRecordIsBisectedAndTheRestDelivered(t *testing.T) {
	t.Parallel()
	st, tn, ann, bob, conv := direct(t)
	streams := st.Streams(t)
	bobPhone := st.Dial(t, bob.Token)

	first := send(t, st, ann.Token, conv, "一")
	// A message item no send would write: its seq is not a number.
	_, err := st.DynamoDB().PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(st.Tables["ChatTable"]),
		Item: map[string]types.AttributeValue{
			"pk":   &types.AttributeValueMemberS{Value: "CONV#" + tn.ID + "#" + conv},
			"sk":   &types.AttributeValueMemberS{Value: "MSG#999999999999"},
			"type": &types.AttributeValueMemberS{Value: "message"},
			"seq":  &types.AttributeValueMemberS{Value: "not a number"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	second := send(t, st, ann.Token, conv, "二")
	st.Drain(t)

	var seqs []int64
	for _, e := range events(t, bobPhone) {
		seqs = append(seqs, e.Seq)
	}
	if !reflect.DeepEqual(seqs, []int64{first, second}) {
		t.Errorf("bob got seqs %v, want %v", seqs, []int64{first, second})
	}
	failures := streams.Failures()
	if len(failures) != 1 || failures[0].Records != 1 || failures[0].Mapping != "PushChatStream" {
		t.Errorf("failures %+v, want the one poison record", failures)
	}
}

// Delivery is at least once: a batch the mapping retries posts its events
// again, with the same ids and seqs, and a client that de-duplicates by
// (conversationId, seq) shows each message once.
func TestRetriedBatchShowsOnceToADeduplicatingClient(t *testing.T) {
	t.Parallel()
	st, tn, ann, bob, conv := direct(t)
	bobPhone := st.Dial(t, bob.Token)

	// The batch as the mapping hands it over, twice: a retry after the
	// function timed out having posted, say.
	seq := int64(1)
	msg := chat.Message{ID: chat.MessageID(conv, seq), ConversationID: conv, Seq: seq, SenderID: ann.ID, Text: "重试", CreatedAt: time.Now().UTC()}
	batch := map[string]any{"Records": []any{map[string]any{
		"eventID": "retry-1", "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
		"eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/" + st.Tables["ChatTable"] + "/stream/x",
		"dynamodb": map[string]any{
			"Keys": map[string]any{"pk": map[string]string{"S": "CONV#" + tn.ID + "#" + conv}, "sk": map[string]string{"S": "MSG#000000000001"}},
			"NewImage": map[string]any{
				"pk": map[string]string{"S": "CONV#" + tn.ID + "#" + conv}, "sk": map[string]string{"S": "MSG#000000000001"},
				"type": map[string]string{"S": "message"}, "id": map[string]string{"S": msg.ID},
				"conversationId": map[string]string{"S": conv}, "tenantId": map[string]string{"S": tn.ID},
				"seq": map[string]string{"N": "1"}, "senderId": map[string]string{"S": ann.ID},
				"text": map[string]string{"S": msg.Text}, "createdAt": map[string]string{"S": msg.CreatedAt.Format(time.RFC3339Nano)},
			},
			"SequenceNumber": "1", "StreamViewType": "NEW_AND_OLD_IMAGES",
		},
	}}}
	st.Invoke(t, "PushFunction", batch)
	st.Invoke(t, "PushFunction", batch)

	raw := events(t, bobPhone)
	if len(raw) != 2 || raw[0].ID != raw[1].ID || raw[0].Key() != raw[1].Key() {
		t.Fatalf("raw frames %+v, want the same event twice", raw)
	}
	var shown []realtime.Event
	var d realtime.Dedup
	for _, e := range raw {
		if d.First(e) {
			shown = append(shown, e)
		}
	}
	if len(shown) != 1 || shown[0].Message.Text != "重试" || shown[0].Seq != seq {
		t.Errorf("the client shows %+v, want the message once", shown)
	}
}

// After a reconnect a client asks the history for what came after the
// last seq it saw.
func TestCatchUpAfterReconnect(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	ann, bob, eve := tn.Admin, st.Member(t, tn, "member"), st.Member(t, tn, "member")
	conv := conversation(t, st, ann.Token, map[string]any{"memberIds": []string{bob.ID}})
	for _, text := range []string{"1", "2", "3"} {
		send(t, st, ann.Token, conv, text)
	}
	page := func(query string) []int64 {
		t.Helper()
		r := st.Call(t, http.MethodGet, "/v1/conversations/"+conv+"/messages?"+query, bob.Token, nil)
		stacktest.Want(t, r, http.StatusOK)
		var out struct {
			Items      []chat.Message
			NextCursor string
		}
		r.Decode(t, &out)
		if out.NextCursor != "" {
			t.Errorf("%s: nextCursor %q, want none", query, out.NextCursor)
		}
		seqs := []int64{}
		for _, m := range out.Items {
			seqs = append(seqs, m.Seq)
		}
		return seqs
	}
	for query, want := range map[string][]int64{
		"afterSeq=1": {2, 3}, "afterSeq=0": {1, 2, 3}, "afterSeq=0&limit=2": {1, 2}, "afterSeq=3": {}, "afterSeq=9": {},
	} {
		if got := page(query); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: seqs %v, want %v", query, got, want)
		}
	}
	for query, code := range map[string]string{
		"afterSeq=-1": "invalid_after_seq", "afterSeq=x": "invalid_after_seq", "afterSeq=": "invalid_after_seq",
		"afterSeq=1&before=" + chat.MessageID(conv, 2): "invalid_query",
	} {
		stacktest.Want(t, st.Call(t, http.MethodGet, "/v1/conversations/"+conv+"/messages?"+query, bob.Token, nil), http.StatusBadRequest, code, "afterSeq")
	}
	stacktest.Want(t, st.Call(t, http.MethodGet, "/v1/conversations/"+conv+"/messages?afterSeq=0", eve.Token, nil), http.StatusNotFound)
}

// A browser cannot set headers on a WebSocket: it offers its token as a
// subprotocol beside "workbench", and the answer names "workbench".
func TestTokenAsSubprotocol(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, st.WebSocketURL(), &websocket.DialOptions{Subprotocols: []string{realtime.Subprotocol, tn.Admin.Token}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.CloseNow() }()
	if got := conn.Subprotocol(); got != realtime.Subprotocol {
		t.Errorf("subprotocol %q, want %q", got, realtime.Subprotocol)
	}
	if _, status, err := st.DialStatus(""); err == nil || status != http.StatusUnauthorized {
		t.Errorf("no token at all: %d %v, want 401", status, err)
	}
}
