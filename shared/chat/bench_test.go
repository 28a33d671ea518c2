package chat

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/auth"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
)

// The benchmarks report DynamoDB round trips (ddbcalls/op) and items read
// (items/op) of the domain operation, counted by the SDK middleware of
// shared/dynamo. The authentication middleware's one BatchGetItem per
// request comes on top in the functions.

func (f *fixture) writeAll(tb testing.TB, records []any) {
	tb.Helper()
	for start := 0; start < len(records); start += dynamo.MaxBatchWrite {
		var batch []types.WriteRequest
		for _, r := range records[start:min(start+dynamo.MaxBatchWrite, len(records))] {
			item, ok := r.(map[string]types.AttributeValue) // encoded already
			if !ok {
				var err error
				if item, err = attributevalue.MarshalMap(r); err != nil {
					tb.Fatal(err)
				}
			}
			batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		}
		if _, err := f.db.BatchWriteItem(bg, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{f.chatTable: batch},
		}); err != nil {
			tb.Fatal(err)
		}
	}
}

func benchSend(b *testing.B, groupSize int) {
	f := newFixture(b)
	sender, _ := f.member(b, "t1", "张三")
	var conv string
	if groupSize == 2 {
		peer, _ := f.member(b, "t1", "李四")
		c, _, err := f.svc.Create(bg, sender, CreateInput{MemberIDs: []string{peer.MemberID}})
		if err != nil {
			b.Fatal(err)
		}
		conv = c.ID
	} else {
		// The group's items as Create writes them, seeded in batches
		// (moto's transactions slow down with table size).
		conv = ids.New(f.now)
		members := append([]string{sender.MemberID}, f.seedMembers(b, "t1", groupSize-1)...)
		records := []any{headRecord{
			PK: convPK("t1", conv), SK: headSK, Type: "conversation", ID: conv, TenantID: "t1",
			Kind: Group, Name: "all hands", OwnerID: sender.MemberID, MemberCount: len(members), LastAt: f.now, CreatedAt: f.now,
		}}
		for _, m := range members {
			records = append(records, newEntry("t1", conv, m, 0, f.now, f.now))
		}
		f.writeAll(b, records)
	}
	f.counter.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.svc.Send(bg, sender, conv, SendInput{Text: fmt.Sprintf("message %d", i), ClientMessageID: fmt.Sprintf("c%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(f.counter.Calls())/float64(b.N), "ddbcalls/op")
	b.ReportMetric(float64(f.counter.Items())/float64(b.N), "items/op")
	if calls := f.counter.Calls(); calls > 3*b.N {
		b.Fatalf("%d calls for %d sends: more than 3 per send", calls, b.N)
	}
}

func BenchmarkSendDirect(b *testing.B)   { benchSend(b, 2) }
func BenchmarkSendGroup500(b *testing.B) { benchSend(b, 500) }

// BenchmarkListConversations200 lists the conversations of a member in
// 200 of them, 50 a page.
func BenchmarkListConversations200(b *testing.B) {
	calls, items := benchList(b, 200, 0)
	if calls > 3 || items > 100 {
		b.Fatalf("%.1f calls and %.1f items a page: more than 3 and 100", calls, items)
	}
}

// BenchmarkListConversations1000 lists the conversations of a member in
// 1,000 of them, half of them groups of 500, 50 a page: a page must cost
// ≤ 3 round trips and ≤ 2 × 50 items whatever the number of conversations
// (issue 14).
func BenchmarkListConversations1000(b *testing.B) {
	calls, items := benchList(b, 1000, 500)
	if calls > 3 || items > 100 {
		b.Fatalf("%.1f calls and %.1f items a page: more than 3 and 100", calls, items)
	}
}

// benchList seeds a member's entries and the heads of n conversations
// (groups of them with 500 members; the other members' entries are not read
// by a list, so they are left out) and lists them a page per iteration,
// walking from the start again after the last page. It returns the round
// trips and items read per page.
func benchList(b *testing.B, n, groups int) (calls, items float64) {
	f := newFixture(b)
	me, _ := f.member(b, "t1", "张三")
	var records []any
	for i := 0; i < n; i++ {
		conv := ids.New(f.now.Add(time.Duration(i) * time.Second))
		at := f.now.Add(time.Duration(i*7%n) * time.Minute)
		h := headRecord{
			PK: convPK("t1", conv), SK: headSK, Type: "conversation", ID: conv, TenantID: "t1",
			Kind: Group, Name: fmt.Sprintf("group %d", i), OwnerID: me.MemberID, MemberCount: 3, Seq: int64(i % 9),
			LastMessage: &LastMessage{ID: MessageID(conv, 1), SenderID: me.MemberID, Text: "hello", CreatedAt: at},
			LastAt:      at, CreatedAt: f.now,
		}
		if i < groups {
			h.MemberCount = 500
		}
		e := newEntry("t1", conv, me.MemberID, 0, at, f.now)
		if e.Pinned = i%50 == 0; e.Pinned {
			e.GSI3PK, e.ListPK = pinPK("t1", me.MemberID), pinPK("t1", me.MemberID)
		}
		records = append(records, h, e)
	}
	f.writeAll(b, records)
	f.counter.Reset()
	cursor, seen := "", 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		page, next, err := f.svc.List(bg, me, cursor, 50)
		if err != nil {
			b.Fatal(err)
		}
		seen += len(page)
		cursor = next
		if next == "" {
			if seen != n {
				b.Fatalf("listed %d conversations, want %d", seen, n)
			}
			seen = 0
		}
	}
	b.StopTimer()
	calls, items = float64(f.counter.Calls())/float64(b.N), float64(f.counter.Items())/float64(b.N)
	b.ReportMetric(calls, "ddbcalls/op")
	b.ReportMetric(items, "items/op")
	b.ReportMetric(items/50, "items/pageitem")
	return calls, items
}

// BenchmarkReminderSweep sweeps a table of 5,000 messages in 50 1:1
// conversations, with 100 reminders of which 20 are due, written as a
// rocket message writes them, and 10 more due at the same time but
// cancelled by their recipients' reads. It reports items read per due
// reminder: the cancelled ones are never read.
func BenchmarkReminderSweep(b *testing.B) {
	f := newFixture(b)
	sender, _ := f.member(b, "t1", "张三")
	peers := f.seedMembers(b, "t1", 50)
	people, err := f.svc.readMembers(bg, "t1", "memberIds", peers, []string{sender.MemberID}, true)
	if err != nil {
		b.Fatal(err)
	}
	shards := f.svc.Store.(*DynamoStore).dueShards()
	var records []any
	var due []map[string]types.AttributeValue
	for c, peer := range peers {
		conv := DirectID("t1", sender.MemberID, peer)
		h := directHead("t1", conv, sender.MemberID, peer, f.now)
		h.Seq = 100
		records = append(records, h, newEntry("t1", conv, sender.MemberID, 0, f.now, f.now), newEntry("t1", conv, peer, 0, f.now, f.now))
		for s := int64(1); s <= 100; s++ {
			records = append(records, messageRecord{
				PK: convPK("t1", conv), SK: messageSK(s), Type: "message", ID: MessageID(conv, s), ConversationID: conv,
				TenantID: "t1", Seq: s, SenderID: sender.MemberID, Text: "stored message", Urgent: s%50 == 0, CreatedAt: f.now,
			})
			if s%50 != 0 {
				continue
			}
			// Two reminders per conversation; those of the first ten
			// conversations are due, the others an hour later.
			dueAt := f.now.Add(5 * time.Minute)
			if c >= 10 {
				dueAt = dueAt.Add(time.Hour)
			}
			r := reminderRecord{
				PK: convPK("t1", conv), SK: reminderSK(s), GSI2PK: shards.For(reminderID("t1", conv, s)), GSI2SK: dueKey(dueAt, "t1", conv, s),
				Type: "reminder", TenantID: "t1", ConversationID: conv, Seq: s, SenderID: sender.MemberID,
				Snippet: "stored message", DueAt: dueAt, CreatedAt: f.now,
				Recipient: peer, People: []person{people[sender.MemberID], people[peer]},
			}
			item, err := r.item()
			if err != nil {
				b.Fatal(err)
			}
			if c < 10 {
				due = append(due, item)
			} else {
				records = append(records, item)
			}
		}
	}
	f.writeAll(b, records)
	// Ten more urgent 1:1 messages falling due at the same time, read by
	// their recipients in time: the read closed their reminders, so the
	// sweep never reads them.
	for _, id := range f.seedMembers(b, "t1", 10) {
		peer := auth.Principal{TenantID: "t1", MemberID: id, Role: "member"}
		c, _, err := f.svc.Create(bg, sender, CreateInput{MemberIDs: []string{id}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.svc.Send(bg, sender, c.ID, SendInput{Text: "read in time", Urgent: true}); err != nil {
			b.Fatal(err)
		}
		if _, err := f.svc.MarkRead(bg, peer, c.ID, ""); err != nil {
			b.Fatal(err)
		}
	}
	at := f.now.Add(6 * time.Minute)
	var calls, items int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var again []any
		for _, it := range due {
			again = append(again, it)
		}
		f.writeAll(b, again) // pending again
		f.counter.Reset()
		b.StartTimer()
		res, err := f.rem.Sweep(bg, at)
		if err != nil {
			b.Fatal(err)
		}
		if res.Due != 20 || res.Claimed != 20 || res.Sent != 20 {
			b.Fatalf("sweep: %+v", res)
		}
		calls += f.counter.Calls()
		items += f.counter.Items()
	}
	b.StopTimer()
	b.ReportMetric(float64(calls)/float64(b.N), "ddbcalls/op")
	b.ReportMetric(float64(items)/float64(b.N), "items/op")
	b.ReportMetric(float64(items)/float64(b.N)/20, "items/due")
	if float64(items)/float64(b.N) > 1.5*20 {
		b.Fatalf("the sweep read %d items for 20 due reminders: more than 1.5 a reminder", items/b.N)
	}
}

// BenchmarkFanoutGroup500 moves the entries of a 500-member group to a new
// message, as ChatFanoutFunction does for each large group in a stream
// batch: the write a large group's send does not do.
func BenchmarkFanoutGroup500(b *testing.B) {
	f := newFixture(b)
	conv := ids.New(f.now)
	var records []any
	for i := 0; i < MaxGroupMembers; i++ {
		records = append(records, newEntry("t1", conv, fmt.Sprintf("m%03d", i), 0, f.now, f.now))
	}
	f.writeAll(b, records)
	fan := &Fanout{Store: &DynamoStore{DB: f.db, Table: f.chatTable}}
	f.counter.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := fan.Apply(bg, []Moved{{TenantID: "t1", ConversationID: conv, Seq: int64(i + 1), At: f.now.Add(time.Duration(i+1) * time.Second)}})
		if err != nil || res.Entries != MaxGroupMembers {
			b.Fatalf("fan-out: %+v %v", res, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(f.counter.Calls())/float64(b.N), "ddbcalls/op")
	b.ReportMetric(float64(f.counter.Items())/float64(b.N), "items/op")
}
