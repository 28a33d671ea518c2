package chat

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/shared/auth"
	"workbench/shared/errs"
)

var bg = context.Background()

func wantErr(t *testing.T, err error, kind errs.Kind, code string) {
	t.Helper()
	if err == nil || errs.KindOf(err) != kind || !errs.Is(err, code) {
		t.Fatalf("got error %v, want %v %s", err, kind, code)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// itemCount counts the items of the chat table, to show that failures
// write nothing.
func (f *fixture) itemCount(t *testing.T) int {
	t.Helper()
	out, err := f.db.Scan(bg, &dynamodb.ScanInput{TableName: aws.String(f.chatTable), Select: "COUNT"})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

func (f *fixture) direct(t *testing.T, a, b auth.Principal) Conversation {
	t.Helper()
	c, _, err := f.svc.Create(bg, a, CreateInput{MemberIDs: []string{b.MemberID}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) send(t *testing.T, p auth.Principal, conv, text string) Message {
	t.Helper()
	m, err := f.svc.Send(bg, p, conv, SendInput{Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) find(t *testing.T, p auth.Principal, conv string) *Conversation {
	t.Helper()
	list, _, err := f.svc.List(bg, p, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.ID == conv {
			return &c
		}
	}
	return nil
}

func TestDirectConversationIsOnePerPair(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	c1, created, err := f.svc.Create(bg, a, CreateInput{MemberIDs: []string{b.MemberID}})
	if err != nil || !created || c1.Kind != Direct || c1.PeerID != b.MemberID {
		t.Fatalf("create: %+v %v %v", c1, created, err)
	}
	c2, created, err := f.svc.Create(bg, b, CreateInput{MemberIDs: []string{a.MemberID}})
	if err != nil || created || c2.ID != c1.ID || c2.PeerID != a.MemberID {
		t.Fatalf("create again from the other side: %+v %v %v", c2, created, err)
	}
	if len(c2.Members) != 2 {
		t.Fatalf("members = %v", c2.Members)
	}
}

func TestSendHistoryUnreadAndRead(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	conv := f.direct(t, a, b).ID
	var sent []Message
	for i := 1; i <= 5; i++ {
		f.advance(time.Second)
		sent = append(sent, f.send(t, a, conv, fmt.Sprintf("message %d", i)))
	}
	for i, m := range sent {
		if m.Seq != int64(i+1) || m.ID != MessageID(conv, int64(i+1)) || m.SenderID != a.MemberID {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	if c := f.find(t, b, conv); c == nil || c.Unread != 5 || c.LastMessage == nil || c.LastMessage.Text != "message 5" {
		t.Fatalf("b's view: %+v", c)
	}
	if c := f.find(t, a, conv); c == nil || c.Unread != 0 {
		t.Fatalf("the sender has unread own messages: %+v", c)
	}

	page, next, err := f.svc.History(bg, b, conv, "", 2)
	if err != nil || len(page) != 2 || page[0].Seq != 5 || page[1].Seq != 4 || next != page[1].ID {
		t.Fatalf("first page: %+v %q %v", page, next, err)
	}
	page, next, err = f.svc.History(bg, b, conv, next, 10)
	if err != nil || len(page) != 3 || page[0].Seq != 3 || page[2].Seq != 1 || next != "" {
		t.Fatalf("second page: %+v %q %v", page, next, err)
	}

	c := must[Conversation](t)(f.svc.MarkRead(bg, b, conv, sent[2].ID))
	if c.Unread != 2 {
		t.Fatalf("after reading up to 3: unread %d", c.Unread)
	}
	c = must[Conversation](t)(f.svc.MarkRead(bg, b, conv, sent[0].ID))
	if c.Unread != 2 {
		t.Fatalf("the read cursor moved backwards: unread %d", c.Unread)
	}
	if c := f.find(t, b, conv); c.Unread != 2 {
		t.Fatalf("stored cursor moved backwards: unread %d", c.Unread)
	}
	c = must[Conversation](t)(f.svc.MarkRead(bg, b, conv, ""))
	if c.Unread != 0 {
		t.Fatalf("mark all read: unread %d", c.Unread)
	}
	_, err = f.svc.MarkRead(bg, b, conv, MessageID(conv, 99))
	wantErr(t, err, errs.Invalid, "message_not_in_conversation")
}

func TestSendRules(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	c, _ := f.member(t, "t1", "王五")
	conv := f.direct(t, a, b).ID
	other := f.direct(t, a, c).ID
	first := f.send(t, a, conv, "first")
	elsewhere := f.send(t, a, other, "elsewhere")
	before := f.itemCount(t)

	for _, tc := range []struct {
		name string
		p    auth.Principal
		conv string
		in   SendInput
		kind errs.Kind
		code string
	}{
		{"empty", a, conv, SendInput{Text: "  "}, errs.Invalid, "empty_text"},
		{"too long", a, conv, SendInput{Text: strings.Repeat("x", MaxTextRunes+1)}, errs.Invalid, "text_too_long"},
		{"control", a, conv, SendInput{Text: "bell\x07"}, errs.Invalid, "invalid_text"},
		{"unknown conversation", a, DirectID("t1", a.MemberID, "nobody"), SendInput{Text: "hi"}, errs.NotFound, "conversation_not_found"},
		{"malformed conversation", a, "nope", SendInput{Text: "hi"}, errs.NotFound, "conversation_not_found"},
		{"not a member", c, conv, SendInput{Text: "hi"}, errs.NotFound, "conversation_not_found"},
		{"other tenant", auth.Principal{TenantID: "t2", MemberID: a.MemberID}, conv, SendInput{Text: "hi"}, errs.NotFound, "conversation_not_found"},
		{"reply elsewhere", a, conv, SendInput{Text: "hi", ReplyTo: elsewhere.ID}, errs.Invalid, "reply_to_other_conversation"},
		{"reply garbage", a, conv, SendInput{Text: "hi", ReplyTo: "garbage"}, errs.Invalid, "reply_to_other_conversation"},
		{"reply unknown", a, conv, SendInput{Text: "hi", ReplyTo: MessageID(conv, 7)}, errs.Invalid, "reply_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Send(bg, tc.p, tc.conv, tc.in)
			wantErr(t, err, tc.kind, tc.code)
		})
	}
	if n := f.itemCount(t); n != before {
		t.Fatalf("refused sends wrote %d items", n-before)
	}

	reply, err := f.svc.Send(bg, b, conv, SendInput{Text: "a reply", ReplyTo: first.ID})
	if err != nil || reply.ReplyTo == nil || reply.ReplyTo.ID != first.ID || reply.ReplyTo.SenderID != a.MemberID || reply.ReplyTo.Snippet != "first" {
		t.Fatalf("reply: %+v %v", reply, err)
	}
}

func TestIdempotentSend(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	conv := f.direct(t, a, b).ID
	m1 := must[Message](t)(f.svc.Send(bg, a, conv, SendInput{Text: "once", ClientMessageID: "c-1"}))
	m2 := must[Message](t)(f.svc.Send(bg, a, conv, SendInput{Text: "once", ClientMessageID: "c-1"}))
	if m1.ID != m2.ID || m2.Seq != 1 {
		t.Fatalf("retry made a new message: %+v then %+v", m1, m2)
	}
	// The same client id from the other member is another message.
	m3 := must[Message](t)(f.svc.Send(bg, b, conv, SendInput{Text: "mine", ClientMessageID: "c-1"}))
	if m3.Seq != 2 {
		t.Fatalf("other sender's message: %+v", m3)
	}
	if c := f.find(t, b, conv); c.LastSeq != 2 {
		t.Fatalf("lastSeq %d, want 2", c.LastSeq)
	}
}

func TestConcurrentSendsTakeUniqueGapFreeSequences(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	conv := f.direct(t, a, b).ID
	const n = 16
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	errsOut := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := a
			if i%2 == 1 {
				p = b
			}
			m, err := f.svc.Send(bg, p, conv, SendInput{Text: fmt.Sprintf("race %d", i), ClientMessageID: fmt.Sprintf("r%d", i)})
			seqs[i], errsOut[i] = m.Seq, err
		}(i)
	}
	wg.Wait()
	for i, err := range errsOut {
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("sequences %v are not 1..%d", seqs, n)
		}
	}
	page, _, err := f.svc.History(bg, a, conv, "", 100)
	if err != nil || len(page) != n {
		t.Fatalf("history has %d messages, %v", len(page), err)
	}
}

func TestPinHideAndComeBack(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	c, _ := f.member(t, "t1", "王五")
	ab := f.direct(t, a, b).ID
	ac := f.direct(t, a, c).ID
	f.advance(time.Second)
	f.send(t, b, ab, "older")
	f.advance(time.Second)
	f.send(t, c, ac, "newer")
	order := func() []string {
		list, _, err := f.svc.List(bg, a, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		return ids
	}
	if got := order(); len(got) != 2 || got[0] != ac {
		t.Fatalf("by activity: %v", got)
	}
	if err := f.svc.SetPinned(bg, a, ab, true); err != nil {
		t.Fatal(err)
	}
	if got := order(); got[0] != ab {
		t.Fatalf("pinned first: %v", got)
	}
	if got := f.find(t, b, ab); got.Pinned {
		t.Fatal("pinning shows for the other member")
	}
	if err := f.svc.SetPinned(bg, a, ab, false); err != nil {
		t.Fatal(err)
	}
	if got := order(); got[0] != ac {
		t.Fatalf("unpinned: %v", got)
	}
	wantErr(t, f.svc.SetPinned(bg, c, ab, true), errs.NotFound, "conversation_not_found")

	f.send(t, b, ab, "two")
	if err := f.svc.Hide(bg, a, ab); err != nil {
		t.Fatal(err)
	}
	if got := order(); len(got) != 1 || got[0] != ac {
		t.Fatalf("after delete: %v", got)
	}
	if f.find(t, b, ab) == nil {
		t.Fatal("delete removed it from the other member's list")
	}
	f.advance(time.Second)
	f.send(t, b, ab, "back again")
	got := f.find(t, a, ab)
	if got == nil || got.Unread != 1 {
		t.Fatalf("a new message should bring it back with 1 unread: %+v", got)
	}
	wantErr(t, f.svc.Hide(bg, c, ab), errs.NotFound, "conversation_not_found")
}

func TestGroups(t *testing.T) {
	f := newFixture(t)
	owner, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	c, _ := f.member(t, "t1", "王五")
	d, _ := f.member(t, "t1", "赵六")
	foreign, _ := f.member(t, "t2", "外人")
	name := "生产部"
	before := f.itemCount(t)
	for _, tc := range []struct {
		name string
		in   CreateInput
		code string
	}{
		{"duplicate", CreateInput{MemberIDs: []string{b.MemberID, c.MemberID, b.MemberID}, Name: &name}, "duplicate_member"},
		{"other tenant", CreateInput{MemberIDs: []string{b.MemberID, foreign.MemberID}, Name: &name}, "unknown_member"},
		{"unknown", CreateInput{MemberIDs: []string{b.MemberID, "01nobody"}, Name: &name}, "unknown_member"},
		{"too many", CreateInput{MemberIDs: manyIDs(500), Name: &name}, "too_many_members"},
		{"empty", CreateInput{MemberIDs: nil, Name: &name}, "no_members"},
		{"bad name", CreateInput{MemberIDs: []string{b.MemberID, c.MemberID}, Name: ptr(strings.Repeat("名", 31))}, "invalid_group_name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.svc.Create(bg, owner, tc.in)
			wantErr(t, err, errs.Invalid, tc.code)
		})
	}
	if n := f.itemCount(t); n != before {
		t.Fatalf("refused creations wrote %d items", n-before)
	}

	g, created, err := f.svc.Create(bg, owner, CreateInput{MemberIDs: []string{b.MemberID, c.MemberID}, Name: &name})
	if err != nil || !created || g.Kind != Group || g.Name != name || g.OwnerID != owner.MemberID || g.MemberCount != 3 {
		t.Fatalf("create group: %+v %v", g, err)
	}
	m1 := f.send(t, owner, g.ID, "hello all")
	f.send(t, b, g.ID, "hi")
	if x := f.find(t, c, g.ID); x.Unread != 2 {
		t.Fatalf("c unread %d", x.Unread)
	}
	_, err = f.svc.Send(bg, d, g.ID, SendInput{Text: "let me in"})
	wantErr(t, err, errs.NotFound, "conversation_not_found")

	// Reads: b has read m1 (b sent after it? no: sending marks own message read only).
	must[Conversation](t)(f.svc.MarkRead(bg, b, g.ID, m1.ID))
	r := must[Reads](t)(f.svc.Reads(bg, c, m1.ID))
	if r.ReadCount != 1 || r.Read[0].MemberID != b.MemberID || r.UnreadCount != 1 || r.Unread[0].MemberID != c.MemberID {
		t.Fatalf("reads: %+v", r)
	}
	_, err = f.svc.Reads(bg, d, m1.ID)
	wantErr(t, err, errs.NotFound, "message_not_found")
	_, err = f.svc.Reads(bg, auth.Principal{TenantID: "t2", MemberID: owner.MemberID}, m1.ID)
	wantErr(t, err, errs.NotFound, "message_not_found")

	// Owner-only management.
	_, err = f.svc.Rename(bg, b, g.ID, "mine now")
	wantErr(t, err, errs.Forbidden, "owner_only")
	_, err = f.svc.AddMembers(bg, b, g.ID, []string{d.MemberID})
	wantErr(t, err, errs.Forbidden, "owner_only")
	wantErr(t, f.svc.RemoveMember(bg, b, g.ID, c.MemberID), errs.Forbidden, "owner_only")
	_, err = f.svc.AddMembers(bg, owner, g.ID, []string{foreign.MemberID})
	wantErr(t, err, errs.Invalid, "unknown_member")

	g = must[Conversation](t)(f.svc.Rename(bg, owner, g.ID, "质量部"))
	if g.Name != "质量部" {
		t.Fatalf("rename: %+v", g)
	}
	g = must[Conversation](t)(f.svc.AddMembers(bg, owner, g.ID, []string{d.MemberID, b.MemberID}))
	if g.MemberCount != 4 || len(g.Members) != 4 {
		t.Fatalf("add: %+v", g)
	}
	if x := f.find(t, d, g.ID); x == nil || x.Unread != 0 {
		t.Fatalf("a new member starts with history read: %+v", x)
	}
	f.send(t, d, g.ID, "thanks")

	if err := f.svc.RemoveMember(bg, owner, g.ID, c.MemberID); err != nil {
		t.Fatal(err)
	}
	if f.find(t, c, g.ID) != nil {
		t.Fatal("removed member still lists the group")
	}
	_, _, err = f.svc.History(bg, c, g.ID, "", 10)
	wantErr(t, err, errs.NotFound, "conversation_not_found")

	// The owner leaves: the group passes on.
	if err := f.svc.RemoveMember(bg, owner, g.ID, owner.MemberID); err != nil {
		t.Fatal(err)
	}
	g = must[Conversation](t)(f.svc.Get(bg, b, g.ID))
	if g.OwnerID != b.MemberID || g.MemberCount != 2 {
		t.Fatalf("after the owner left: %+v", g)
	}
	// 1:1 conversations have no members to manage.
	ab := f.direct(t, b, d).ID
	wantErr(t, f.svc.RemoveMember(bg, b, ab, b.MemberID), errs.Invalid, "not_a_group")
}

func TestGroupOf500(t *testing.T) {
	f := newFixture(t)
	owner, _ := f.member(t, "t1", "张三")
	others := f.seedMembers(t, "t1", 499)
	g, _, err := f.svc.Create(bg, owner, CreateInput{MemberIDs: others})
	if err != nil || g.MemberCount != 500 || len(g.Members) != 500 {
		t.Fatalf("group of 500: %d members, %v", g.MemberCount, err)
	}
	extra, _ := f.member(t, "t1", "多余")
	_, err = f.svc.AddMembers(bg, owner, g.ID, []string{extra.MemberID})
	wantErr(t, err, errs.Invalid, "too_many_members")
}

func TestSettings(t *testing.T) {
	f := newFixture(t)
	s := must[Settings](t)(f.svc.Settings(bg, "t1"))
	if s.RocketReminderMinutes != 5 {
		t.Fatalf("default %d", s.RocketReminderMinutes)
	}
	for _, bad := range []int{0, 61, -1} {
		_, err := f.svc.PutSettings(bg, "t1", Settings{RocketReminderMinutes: bad})
		wantErr(t, err, errs.Invalid, "invalid_reminder_window")
	}
	must[Settings](t)(f.svc.PutSettings(bg, "t1", Settings{RocketReminderMinutes: 60}))
	if s := must[Settings](t)(f.svc.Settings(bg, "t1")); s.RocketReminderMinutes != 60 {
		t.Fatalf("got %d", s.RocketReminderMinutes)
	}
	if s := must[Settings](t)(f.svc.Settings(bg, "t2")); s.RocketReminderMinutes != 5 {
		t.Fatalf("another tenant's settings leaked: %d", s.RocketReminderMinutes)
	}
}

func ptr[T any](v T) *T { return &v }

func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m%04d", i)
	}
	return out
}
