package chat

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/errs"
)

func TestRocketReminders(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, bMobile := f.member(t, "t1", "李四")
	c, cMobile := f.member(t, "t1", "王五")
	foreign, _ := f.member(t, "t2", "外人")
	long := strings.Repeat("请立即处理生产线故障", 10) // 100 characters

	before := f.itemCount(t)
	for _, tc := range []struct {
		name string
		in   RocketInput
		code string
	}{
		{"no text", RocketInput{MemberIDs: []string{b.MemberID}}, "empty_text"},
		{"no recipients", RocketInput{Text: "x"}, "no_members"},
		{"self", RocketInput{MemberIDs: []string{a.MemberID}, Text: "x"}, "self_not_allowed"},
		{"duplicate", RocketInput{MemberIDs: []string{b.MemberID, b.MemberID}, Text: "x"}, "duplicate_member"},
		{"other tenant", RocketInput{MemberIDs: []string{b.MemberID, foreign.MemberID}, Text: "x"}, "unknown_member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.SendRocket(bg, a, tc.in)
			wantErr(t, err, errs.Invalid, tc.code)
		})
	}
	if n := f.itemCount(t); n != before {
		t.Fatalf("refused rockets wrote %d items", n-before)
	}

	r, err := f.svc.SendRocket(bg, a, RocketInput{MemberIDs: []string{b.MemberID, c.MemberID}, Text: long, ClientMessageID: "rocket-1"})
	if err != nil || len(r.Messages) != 2 || !r.Messages[0].Urgent || !r.RemindAt.Equal(f.now.Add(5*time.Minute)) {
		t.Fatalf("rocket: %+v %v", r, err)
	}
	if r.Messages[0].ConversationID != DirectID("t1", a.MemberID, b.MemberID) {
		t.Fatal("the rocket did not land in the 1:1 conversation")
	}
	// A retry sends nothing new.
	again := must[Rocket](t)(f.svc.SendRocket(bg, a, RocketInput{MemberIDs: []string{b.MemberID, c.MemberID}, Text: long, ClientMessageID: "rocket-1"}))
	if again.Messages[0].ID != r.Messages[0].ID || again.Messages[1].ID != r.Messages[1].ID {
		t.Fatal("a retried rocket made new messages")
	}

	// c reads in time; b does not.
	f.advance(2 * time.Minute)
	must[Conversation](t)(f.svc.MarkRead(bg, c, r.Messages[1].ConversationID, r.Messages[1].ID))

	// Before the window: nothing.
	res, err := f.rem.Sweep(bg, f.now.Add(4*time.Minute))
	if err != nil || res.Due != 0 || len(f.sms.sent) != 0 {
		t.Fatalf("early sweep: %+v %v %v", res, err, f.sms.sent)
	}
	// c's read closed c's reminder in the same write: it left the due index.
	cRem := f.reminderItem(t, "t1", r.Messages[1].ConversationID, r.Messages[1].Seq)
	if cRem["gsi2pk"] != nil || cRem["doneAt"] == nil || cRem["people"] != nil {
		t.Fatalf("c's reminder after c read: %v", cRem)
	}
	f.counter.Reset()
	res, err = f.rem.Sweep(bg, f.now.Add(6*time.Minute))
	if err != nil || res.Due != 1 || res.Sent != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	// A 1:1 reminder's due row carries what its SMS needs, and the
	// cancelled one is not in the index: the sweep read b's due row and
	// nothing else.
	if n := f.counter.Items(); n != 1 {
		t.Fatalf("the sweep read %d items for 1 due reminder", n)
	}
	got := f.sms.to(bMobile)
	if len(got) != 1 || !strings.Contains(got[0], "张三") || strings.Contains(got[0], long) || !strings.Contains(got[0], long[:30]) {
		t.Fatalf("b's SMS: %q", got)
	}
	if got := f.sms.to(cMobile); len(got) != 0 {
		t.Fatalf("c read in time but got %q", got)
	}
	// Run again, and later: still one SMS.
	for _, at := range []time.Duration{6 * time.Minute, 7 * time.Minute, 30 * time.Minute} {
		res, err := f.rem.Sweep(bg, f.now.Add(at))
		if err != nil || res.Sent != 0 || res.Due != 0 {
			t.Fatalf("sweep again at +%v: %+v %v", at, res, err)
		}
	}
	if got := f.sms.to(bMobile); len(got) != 1 {
		t.Fatalf("b got %d SMS", len(got))
	}
}

func TestReminderConcurrentSweepsAndRetry(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, bMobile := f.member(t, "t1", "李四")
	c, cMobile := f.member(t, "t1", "王五")
	must[Settings](t)(f.svc.PutSettings(bg, "t1", Settings{RocketReminderMinutes: 1}))
	name := "urgent group"
	g := must[Conversation](t)(func() (Conversation, error) {
		g, _, err := f.svc.Create(bg, a, CreateInput{MemberIDs: []string{b.MemberID, c.MemberID}, Name: &name})
		return g, err
	}())
	m := must[Message](t)(f.svc.Send(bg, a, g.ID, SendInput{Text: "line 3 is down", Urgent: true}))
	if !m.Urgent {
		t.Fatal("not urgent")
	}
	// c's carrier fails the first time.
	f.sms.fail[cMobile] = true
	at := f.now.Add(2 * time.Minute)
	done := make(chan SweepResult, 2)
	for i := 0; i < 2; i++ {
		go func() {
			res, err := f.rem.Sweep(bg, at)
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
	}
	r1, r2 := <-done, <-done
	if r1.Claimed+r2.Claimed != 1 {
		t.Fatalf("both sweeps claimed the reminder: %+v %+v", r1, r2)
	}
	if len(f.sms.to(bMobile)) != 1 || len(f.sms.to(cMobile)) != 0 {
		t.Fatalf("first round: b %d, c %d", len(f.sms.to(bMobile)), len(f.sms.to(cMobile)))
	}
	// The failure left it pending: the next run reminds c only.
	f.sms.fail[cMobile] = false
	res, err := f.rem.Sweep(bg, at.Add(time.Minute))
	if err != nil || res.Sent != 1 {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if len(f.sms.to(bMobile)) != 1 || len(f.sms.to(cMobile)) != 1 {
		t.Fatalf("after retry: b %d, c %d", len(f.sms.to(bMobile)), len(f.sms.to(cMobile)))
	}
	res, _ = f.rem.Sweep(bg, at.Add(2*time.Minute))
	if res.Due != 0 || res.Sent != 0 {
		t.Fatalf("done reminder came back: %+v", res)
	}
}

// TestDirectReminderConcurrentRetryAndLegacy: a 1:1 reminder is claimed by
// one of two concurrent sweeps, stays pending while its SMS fails, is sent
// once on the retry; and a reminder written before sharding and before it
// carried its people (under the bare "DUE", no recipient) is still sent.
func TestDirectReminderConcurrentRetryAndLegacy(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, bMobile := f.member(t, "t1", "李四")
	must[Settings](t)(f.svc.PutSettings(bg, "t1", Settings{RocketReminderMinutes: 1}))
	r := must[Rocket](t)(f.svc.SendRocket(bg, a, RocketInput{MemberIDs: []string{b.MemberID}, Text: "line 3 is down"}))
	f.sms.fail[bMobile] = true
	at := f.now.Add(2 * time.Minute)
	done := make(chan SweepResult, 2)
	for i := 0; i < 2; i++ {
		go func() {
			res, err := f.rem.Sweep(bg, at)
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
	}
	r1, r2 := <-done, <-done
	// One sweep holds the claim at a time; the other claims it too only
	// after the first gave it back on its failed SMS, so each claim is a
	// failed attempt and no SMS went out twice.
	claimed := r1.Claimed + r2.Claimed
	if claimed < 1 || r1.Failed+r2.Failed != claimed || len(f.sms.sent) != 0 {
		t.Fatalf("concurrent sweeps: %+v %+v, sent %v", r1, r2, f.sms.sent)
	}
	f.sms.fail[bMobile] = false
	if res, err := f.rem.Sweep(bg, at.Add(time.Minute)); err != nil || res.Sent != 1 {
		t.Fatalf("retry: %+v %v", res, err)
	}
	if res, _ := f.rem.Sweep(bg, at.Add(2*time.Minute)); res.Due != 0 || len(f.sms.to(bMobile)) != 1 {
		t.Fatalf("after the retry: %+v, b got %d SMS", res, len(f.sms.to(bMobile)))
	}
	// Done: the copies of the directory items are gone with the due keys.
	out, err := f.db.GetItem(bg, &dynamodb.GetItemInput{TableName: aws.String(f.chatTable), Key: key(convPK("t1", r.Messages[0].ConversationID), reminderSK(r.Messages[0].Seq))})
	if err != nil || out.Item["doneAt"] == nil || out.Item["people"] != nil || out.Item["gsi2pk"] != nil {
		t.Fatalf("closed reminder %v %v", out.Item, err)
	}

	// The old shape: the same kind of reminder, moved back to "DUE" without
	// its recipient and people.
	f.advance(10 * time.Minute)
	m := must[Rocket](t)(f.svc.SendRocket(bg, a, RocketInput{MemberIDs: []string{b.MemberID}, Text: "line 4 too"})).Messages[0]
	if _, err := f.db.UpdateItem(bg, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(f.chatTable),
		Key:                       key(convPK("t1", m.ConversationID), reminderSK(m.Seq)),
		UpdateExpression:          aws.String("SET gsi2pk = :due REMOVE recipient, people"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":due": str(duePK)},
	}); err != nil {
		t.Fatal(err)
	}
	if res, err := f.rem.Sweep(bg, f.clock.Add(2*time.Minute)); err != nil || res.Due != 1 || res.Sent != 1 {
		t.Fatalf("legacy reminder: %+v %v", res, err)
	}
	if got := f.sms.to(bMobile); len(got) != 2 || !strings.Contains(got[1], "张三") {
		t.Fatalf("b's SMS: %q", got)
	}
}

func (f *fixture) reminderItem(tb testing.TB, tenantID, convID string, seq int64) map[string]types.AttributeValue {
	tb.Helper()
	out, err := f.db.GetItem(bg, &dynamodb.GetItemInput{
		TableName: aws.String(f.chatTable), Key: key(convPK(tenantID, convID), reminderSK(seq)), ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		tb.Fatalf("reminder %s %d: %v", convID, seq, err)
	}
	return out.Item
}

func TestReadingClosesReminders(t *testing.T) {
	f := newFixture(t)
	a, _ := f.member(t, "t1", "张三")
	b, bMobile := f.member(t, "t1", "李四")
	conv := f.direct(t, a, b).ID
	m1 := must[Message](t)(f.svc.Send(bg, a, conv, SendInput{Text: "first", Urgent: true}))
	m2 := must[Message](t)(f.svc.Send(bg, a, conv, SendInput{Text: "second", Urgent: true}))
	pending := func(seq int64) bool { return f.reminderItem(t, "t1", conv, seq)["gsi2pk"] != nil }
	if !pending(m1.Seq) || !pending(m2.Seq) {
		t.Fatal("urgent messages without pending reminders")
	}
	// Reading the first closes its reminder, in the read's own write.
	f.counter.Reset()
	must[Conversation](t)(f.svc.MarkRead(bg, b, conv, m1.ID))
	if calls := f.counter.Calls(); calls != 2 {
		t.Fatalf("mark read took %d round trips", calls)
	}
	if pending(m1.Seq) || !pending(m2.Seq) {
		t.Fatal("reading the first message must close its reminder only")
	}
	// Writing back moves b's read cursor past the second: closed too.
	f.send(t, b, conv, "on my way")
	if pending(m2.Seq) {
		t.Fatal("b's reply did not close the reminder")
	}
	_, entry, err := f.svc.load(bg, b, conv)
	if err != nil || len(entry.Reminders) != 0 {
		t.Fatalf("b's entry still lists reminders %v (%v)", entry.Reminders, err)
	}
	f.counter.Reset()
	res, err := f.rem.Sweep(bg, f.now.Add(10*time.Minute))
	if err != nil || res.Due != 0 || f.counter.Items() != 0 || len(f.sms.to(bMobile)) != 0 {
		t.Fatalf("sweep: %+v %v, %d items read", res, err, f.counter.Items())
	}
}

func TestDueReminders(t *testing.T) {
	many := make([]int64, maxCloseReminders+5)
	for i := range many {
		many[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		pending []int64
		seq     int64
		want    int
	}{
		{nil, 5, 0},
		{[]int64{3, 5, 8}, 5, 2},
		{[]int64{3, 5, 8}, 2, 0},
		{[]int64{3, 5, 8}, 9, 3},
		{many, 1000, maxCloseReminders},
	} {
		got := dueReminders(tc.pending, tc.seq)
		if len(got) != tc.want {
			t.Errorf("dueReminders(%v, %d) = %v, want %d of them", tc.pending, tc.seq, got, tc.want)
		}
		for _, n := range got {
			if n > tc.seq {
				t.Errorf("closes %d, after the read %d", n, tc.seq)
			}
		}
	}
}

func TestOwedSMS(t *testing.T) {
	rem := reminderRecord{SenderID: "s", Seq: 10, Sent: []string{"done"}}
	for _, tc := range []struct {
		name string
		e    entryRecord
		owed bool
	}{
		{"unread", entryRecord{MemberID: "m", ReadSeq: 9}, true},
		{"read it", entryRecord{MemberID: "m", ReadSeq: 10}, false},
		{"read past it", entryRecord{MemberID: "m", ReadSeq: 12}, false},
		{"the sender", entryRecord{MemberID: "s"}, false},
		{"joined after it", entryRecord{MemberID: "m", JoinedSeq: 10, ReadSeq: 10}, false},
		{"joined just before", entryRecord{MemberID: "m", JoinedSeq: 9, ReadSeq: 9}, true},
		{"reminded already", entryRecord{MemberID: "done"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := owedSMS(rem, []entryRecord{tc.e}); (len(got) == 1) != tc.owed {
				t.Fatalf("owed %v, want owed %v", got, tc.owed)
			}
		})
	}
}

func TestReminderAfter(t *testing.T) {
	for _, tc := range []struct {
		failed, attempts, want int
	}{
		{0, 1, reminderDone},
		{0, MaxReminderAttempts, reminderDone},
		{1, 1, reminderRetry},
		{3, MaxReminderAttempts - 1, reminderRetry},
		{1, MaxReminderAttempts, reminderGivenUp},
	} {
		if got := reminderAfter(tc.failed, tc.attempts); got != tc.want {
			t.Errorf("reminderAfter(%d, %d) = %d, want %d", tc.failed, tc.attempts, got, tc.want)
		}
	}
	if senderName(nil, "x") != "A colleague" || senderName(map[string]directory.Member{"x": {Name: "张三"}}, "x") != "张三" {
		t.Error("senderName")
	}
}
