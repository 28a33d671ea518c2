package chat

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/auth"
)

// listAll walks the member's list with pages of limit, checking each page's
// cost: at most 3 round trips and 2 × limit items.
func (f *fixture) listAll(t *testing.T, p auth.Principal, limit int) []Conversation {
	t.Helper()
	var all []Conversation
	cursor := ""
	for pages := 0; ; pages++ {
		f.counter.Reset()
		page, next, err := f.svc.List(bg, p, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		if calls, items := f.counter.Calls(), f.counter.Items(); calls > 3 || items > 2*limit {
			t.Fatalf("page %d: %d round trips and %d items for a page of %d", pages, calls, items, limit)
		}
		if pages > 50 {
			t.Fatal("paging runs away")
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

func idsOf(convs []Conversation) []string {
	var out []string
	for _, c := range convs {
		out = append(out, c.ID)
	}
	return out
}

// inListOrder reports whether convs are pinned first, then newest activity,
// then ascending id.
func inListOrder(convs []Conversation) bool {
	return slices.IsSortedFunc(convs, func(a, b Conversation) int {
		switch {
		case a.Pinned != b.Pinned:
			if a.Pinned {
				return -1
			}
			return 1
		case !a.LastActivityAt.Equal(b.LastActivityAt):
			return b.LastActivityAt.Compare(a.LastActivityAt)
		}
		return cmpString(a.ID, b.ID)
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestListOrderUnreadAndCost(t *testing.T) {
	f := newFixture(t)
	me, _ := f.member(t, "t1", "张三")
	var peers []auth.Principal
	for i := 0; i < 5; i++ {
		p, _ := f.member(t, "t1", fmt.Sprintf("同事%d", i))
		peers = append(peers, p)
	}
	// Two 1:1s created at the same millisecond and never written to: a tie
	// on activity, broken by ascending id.
	tieA, tieB := f.direct(t, me, peers[0]).ID, f.direct(t, me, peers[1]).ID
	f.advance(time.Second)
	name := "班组"
	group, _, err := f.svc.Create(bg, me, CreateInput{MemberIDs: []string{peers[2].MemberID, peers[3].MemberID}, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	f.advance(time.Second)
	later := f.direct(t, me, peers[4]).ID
	f.send(t, peers[4], later, "one")
	f.send(t, peers[4], later, "two")
	f.advance(time.Second)
	// A member of the small group writes: the group moves up in my list
	// at once (the send moved my entry in its transaction).
	f.send(t, peers[2], group.ID, "shift change")
	must[struct{}](t)(struct{}{}, f.svc.SetPinned(bg, me, later, true))
	must[struct{}](t)(struct{}{}, f.svc.SetPinned(bg, me, group.ID, true))

	got := f.listAll(t, me, 2)
	want := []string{group.ID, later, min(tieA, tieB), max(tieA, tieB)}
	if fmt.Sprint(idsOf(got)) != fmt.Sprint(want) || !inListOrder(got) || !got[1].Pinned || got[2].Pinned {
		t.Fatalf("order\n got %v\nwant %v", idsOf(got), want)
	}
	unread := map[string]int64{later: 2, tieB: 0, group.ID: 1, tieA: 0}
	for _, c := range got {
		if c.Unread != unread[c.ID] {
			t.Errorf("%s unread %d, want %d", c.ID, c.Unread, unread[c.ID])
		}
	}
	// The other members' lists moved too, without reading anything more.
	if got := f.listAll(t, peers[3], 10); len(got) != 1 || got[0].ID != group.ID || got[0].Unread != 1 {
		t.Fatalf("peer's list: %+v", got)
	}
}

func TestListTieBreaksByID(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	ids := []string{"01aaaaaaaaaaaaaaaaaaaaaaaa", "01aaaaaaaaaaaaaaaaaaaaaaab", "0zaaaaaaaaaaaaaaaaaaaaaaaa", "d0000000000000000000000000"}
	for i := 1; i < len(ids); i++ {
		// Read newest first (descending keys): a smaller id must come first.
		if !(listSK(at, ids[i-1]) > listSK(at, ids[i])) {
			t.Errorf("%s does not list before %s at the same time", ids[i-1], ids[i])
		}
	}
	if !(listSK(at.Add(time.Millisecond), ids[3]) > listSK(at, ids[0])) {
		t.Error("newer activity must list first whatever the id")
	}
}

func TestListPagingWhileSending(t *testing.T) {
	f := newFixture(t)
	me, _ := f.member(t, "t1", "张三")
	var convs []string
	var peers []auth.Principal
	for i := 0; i < 10; i++ {
		p, _ := f.member(t, "t1", fmt.Sprintf("同事%d", i))
		f.advance(time.Second)
		convs = append(convs, f.direct(t, me, p).ID)
		peers = append(peers, p)
	}
	// Newest first: convs[9] … convs[0].
	var walked []string
	page, next, err := f.svc.List(bg, me, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	walked = append(walked, idsOf(page)...)
	// One already listed moves up: not listed again.
	f.advance(time.Second)
	f.send(t, peers[9], convs[9], "again")
	page, next, err = f.svc.List(bg, me, next, 3)
	if err != nil {
		t.Fatal(err)
	}
	walked = append(walked, idsOf(page)...)
	// One not listed yet moves up past the cursor: it shows at the top of
	// the next refresh, not in this walk.
	f.advance(time.Second)
	f.send(t, peers[0], convs[0], "news")
	for next != "" {
		if page, next, err = f.svc.List(bg, me, next, 3); err != nil {
			t.Fatal(err)
		}
		walked = append(walked, idsOf(page)...)
	}
	want := []string{convs[9], convs[8], convs[7], convs[6], convs[5], convs[4], convs[3], convs[2], convs[1]}
	if fmt.Sprint(walked) != fmt.Sprint(want) {
		t.Fatalf("walk\n got %v\nwant %v", walked, want)
	}
	top, _, err := f.svc.List(bg, me, "", 2)
	if err != nil || fmt.Sprint(idsOf(top)) != fmt.Sprint([]string{convs[0], convs[9]}) {
		t.Fatalf("refresh: %v %v", idsOf(top), err)
	}
}

// bigGroup makes a group of me and n seeded members, more than
// FanoutMembers: its sends leave the other members' entries to Fanout.
func (f *fixture) bigGroup(t *testing.T, me auth.Principal, others ...string) Conversation {
	t.Helper()
	name := "全厂"
	g, _, err := f.svc.Create(bg, me, CreateInput{MemberIDs: append(others, f.seedMembers(t, me.TenantID, FanoutMembers)...), Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (f *fixture) head(t *testing.T, tenantID, convID string) map[string]types.AttributeValue {
	t.Helper()
	items, err := batchGet(bg, f.db, f.chatTable, []map[string]types.AttributeValue{key(convPK(tenantID, convID), headSK)}, true)
	if err != nil || len(items) != 1 {
		t.Fatalf("head: %v", err)
	}
	return items[0]
}

func TestLargeGroupFanout(t *testing.T) {
	f := newFixture(t)
	me, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	c, _ := f.member(t, "t1", "王五")
	g := f.bigGroup(t, me, b.MemberID, c.MemberID)
	f.advance(time.Second)
	dm := f.direct(t, me, c).ID
	f.advance(time.Second)
	before := f.head(t, "t1", g.ID)
	f.counter.Reset()
	m := f.send(t, b, g.ID, "all hands at 3")
	if calls := f.counter.Calls(); calls != 2 {
		t.Fatalf("a send to a large group took %d round trips", calls)
	}
	after := f.head(t, "t1", g.ID)
	moved, ok, err := DecodeMoved(key(convPK("t1", g.ID), headSK), before, after)
	if err != nil || !ok || moved.Seq != m.Seq || !moved.At.Equal(m.CreatedAt) {
		t.Fatalf("decode: %+v %v %v", moved, ok, err)
	}
	// Not moved yet for the others (the stream's fan-out has not run); at
	// once for the sender.
	if got := f.listAll(t, c, 10); got[0].ID != dm || got[1].ID != g.ID || got[1].Unread != 1 {
		t.Fatalf("before the fan-out: %v", idsOf(got))
	}
	if got := f.listAll(t, b, 10); got[0].ID != g.ID {
		t.Fatalf("sender's list: %v", idsOf(got))
	}
	res, err := (&Fanout{Store: &DynamoStore{DB: f.db, Table: f.chatTable}}).Apply(bg, []Moved{moved, {TenantID: "t1", ConversationID: g.ID, Seq: 0, At: f.now}})
	if err != nil || res.Conversations != 1 || res.Entries != FanoutMembers+2 {
		t.Fatalf("fan-out: %+v %v", res, err)
	}
	if got := f.listAll(t, c, 10); got[0].ID != g.ID || got[0].Unread != 1 || got[1].ID != dm {
		t.Fatalf("after the fan-out: %v", idsOf(got))
	}
	// Again, or late: nothing moves back.
	res, err = (&Fanout{Store: &DynamoStore{DB: f.db, Table: f.chatTable}}).Apply(bg, []Moved{moved})
	if err != nil || res.Entries != 0 {
		t.Fatalf("fan-out again: %+v %v", res, err)
	}
	// c deletes it; a late batch of the old message does not bring it
	// back, a new message does.
	must[struct{}](t)(struct{}{}, f.svc.Hide(bg, c, g.ID))
	older := moved
	older.Seq--
	if _, err := (&Fanout{Store: &DynamoStore{DB: f.db, Table: f.chatTable}}).Apply(bg, []Moved{older, moved}); err != nil {
		t.Fatal(err)
	}
	if got := f.listAll(t, c, 10); len(got) != 1 || got[0].ID != dm {
		t.Fatalf("hidden: %v", idsOf(got))
	}
	f.advance(time.Second)
	m2 := f.send(t, me, g.ID, "reminder: 3 o'clock")
	if _, err := (&Fanout{Store: &DynamoStore{DB: f.db, Table: f.chatTable}}).Apply(bg, []Moved{{TenantID: "t1", ConversationID: g.ID, Seq: m2.Seq, At: m2.CreatedAt}}); err != nil {
		t.Fatal(err)
	}
	if got := f.listAll(t, c, 10); len(got) != 2 || got[0].ID != g.ID || got[0].Unread != 1 {
		t.Fatalf("back after a new message: %+v", got)
	}
}

func TestDecodeMoved(t *testing.T) {
	pk := convPK("t1", "01aaaaaaaaaaaaaaaaaaaaaaaa")
	head := func(kind string, seq int64, fanout ...string) map[string]types.AttributeValue {
		h := map[string]types.AttributeValue{"pk": str(pk), "sk": str(headSK), "kind": str(kind), "seq": num(seq), "lastAt": str("2026-11-27T09:00:00Z")}
		if len(fanout) > 0 {
			h["fanout"] = &types.AttributeValueMemberSS{Value: fanout}
		}
		return h
	}
	for _, tc := range []struct {
		name     string
		keys     map[string]types.AttributeValue
		old, new map[string]types.AttributeValue
		want     bool
	}{
		{"large group, new message", key(pk, headSK), head(Group, 4), head(Group, 5), true},
		{"large group created", key(pk, headSK), nil, head(Group, 0), false},
		{"large group renamed", key(pk, headSK), head(Group, 5), head(Group, 5), false},
		{"small group: fanned out by its send", key(pk, headSK), head(Group, 4, "a", "b"), head(Group, 5, "a", "b"), false},
		{"1:1", key(pk, headSK), head(Direct, 4), head(Direct, 5), false},
		{"entry", key(pk, entrySK("a")), head(Group, 4), head(Group, 5), false},
		{"deleted", key(pk, headSK), head(Group, 4), nil, false},
		{"not chat", key("TENANT#t1", headSK), head(Group, 4), head(Group, 5), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok, err := DecodeMoved(tc.keys, tc.old, tc.new)
			if err != nil || ok != tc.want || ok && (m.Seq != 5 || m.TenantID != "t1" || m.ConversationID != "01aaaaaaaaaaaaaaaaaaaaaaaa") {
				t.Fatalf("got %+v %v %v", m, ok, err)
			}
		})
	}
}

func TestGroupCrossingTheFanoutSize(t *testing.T) {
	f := newFixture(t)
	me, _ := f.member(t, "t1", "张三")
	b, _ := f.member(t, "t1", "李四")
	name := "小组"
	g, _, err := f.svc.Create(bg, me, CreateInput{MemberIDs: []string{b.MemberID}, Name: &name, Kind: Group})
	if err != nil {
		t.Fatal(err)
	}
	fanout := func() int {
		var h headRecord
		if err := unmarshal(f.head(t, "t1", g.ID), &h); err != nil {
			t.Fatal(err)
		}
		return len(h.Fanout)
	}
	if fanout() != 2 {
		t.Fatalf("a new small group fans out to %d", fanout())
	}
	c, _ := f.member(t, "t1", "王五")
	must[Conversation](t)(f.svc.AddMembers(bg, me, g.ID, []string{c.MemberID}))
	if fanout() != 3 {
		t.Fatalf("after adding: %d", fanout())
	}
	// c is listed at once when b writes.
	f.advance(time.Second)
	f.send(t, b, g.ID, "welcome")
	if got := f.listAll(t, c, 10); len(got) != 1 || got[0].Unread != 1 {
		t.Fatalf("c's list: %+v", got)
	}
	must[struct{}](t)(struct{}{}, f.svc.RemoveMember(bg, me, g.ID, b.MemberID))
	if fanout() != 2 {
		t.Fatalf("after removing: %d", fanout())
	}
	must[Conversation](t)(f.svc.AddMembers(bg, me, g.ID, f.seedMembers(t, "t1", FanoutMembers)))
	if fanout() != 0 {
		t.Fatalf("a group of %d still fans out on send", FanoutMembers+2)
	}
}

func TestBackfillList(t *testing.T) {
	f := newFixture(t)
	me, _ := f.member(t, "t1", "张三")
	// Conversations as they were stored before the list index: entries
	// with no place in it.
	var records []any
	var convs []string
	for i := 0; i < 4; i++ {
		conv := DirectID("t1", me.MemberID, fmt.Sprintf("peer%d", i))
		at := f.now.Add(time.Duration(i) * time.Minute)
		h := directHead("t1", conv, me.MemberID, fmt.Sprintf("peer%d", i), f.now)
		h.Seq, h.LastAt = 3, at
		e := newEntry("t1", conv, me.MemberID, 0, at, f.now)
		e.GSI3PK, e.GSI3SK, e.ListPK, e.LastSeq = "", "", "", 0
		switch i {
		case 0:
			e.Pinned = true
		case 1:
			hidden := int64(3) // deleted, nothing new since
			e.HiddenSeq, e.ReadSeq = &hidden, 3
		case 2:
			hidden := int64(2) // deleted, then a new message
			e.HiddenSeq, e.ReadSeq = &hidden, 2
		}
		records = append(records, h, e)
		convs = append(convs, conv)
	}
	f.writeAll(t, records)
	if got := f.listAll(t, me, 10); len(got) != 0 {
		t.Fatalf("listed before the backfill: %v", idsOf(got))
	}
	res, err := BackfillList(bg, f.db, f.chatTable)
	if err != nil || res.Scanned != 4 || res.Listed != 4 || !res.Done {
		t.Fatalf("backfill: %+v %v", res, err)
	}
	got := f.listAll(t, me, 10)
	if want := []string{convs[0], convs[3], convs[2]}; fmt.Sprint(idsOf(got)) != fmt.Sprint(want) || !got[0].Pinned || got[2].Unread != 1 {
		t.Fatalf("after the backfill\n got %+v\nwant %v", got, want)
	}
	if res, err := BackfillList(bg, f.db, f.chatTable); err != nil || res.Scanned != 0 {
		t.Fatalf("again: %+v %v", res, err)
	}
}

func TestSearchGroupsPages(t *testing.T) {
	f := newFixture(t)
	me, _ := f.member(t, "t1", "张三")
	peer, _ := f.member(t, "t1", "李四")
	var want []string
	for i := 0; i < 5; i++ {
		f.advance(time.Second)
		name := fmt.Sprintf("Line %d", i)
		g, _, err := f.svc.Create(bg, me, CreateInput{MemberIDs: []string{peer.MemberID}, Name: &name, Kind: Group})
		if err != nil {
			t.Fatal(err)
		}
		other := fmt.Sprintf("班组 %d", i)
		if _, _, err := f.svc.Create(bg, me, CreateInput{MemberIDs: []string{peer.MemberID}, Name: &other, Kind: Group}); err != nil {
			t.Fatal(err)
		}
		want = append([]string{g.ID}, want...)
	}
	var got []string
	cursor := ""
	for pages := 0; pages < 5; pages++ {
		page, next, err := f.svc.SearchGroups(bg, me, "line", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, idsOf(page)...)
		if cursor = next; next == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("search pages\n got %v\nwant %v", got, want)
	}
	if _, _, err := f.svc.SearchGroups(bg, me, "line", "not-a-cursor", 2); err == nil {
		t.Fatal("a bad cursor was taken")
	}
}
