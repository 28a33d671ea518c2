package stack_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/calendar"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
)

// The benchmarks count DynamoDB round trips per request with
// dynamo.Counter. Every authenticated request also pays the shared
// middleware's one session check (a BatchGetItem of session and member);
// "ddbcalls/op" counts everything, "appcalls/op" what the app itself does.

func (s *stackT) batchWrite(tb testing.TB, table string, items []map[string]types.AttributeValue) {
	tb.Helper()
	for len(items) > 0 {
		n := min(len(items), dynamo.MaxBatchWrite)
		req := make([]types.WriteRequest, n)
		for i, it := range items[:n] {
			req[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
		}
		items = items[n:]
		pending := map[string][]types.WriteRequest{table: req}
		for len(pending[table]) > 0 {
			out, err := s.DB.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				tb.Fatal(err)
			}
			pending = out.UnprocessedItems
		}
	}
}

func report(b *testing.B, c *dynamo.Counter, requests int) {
	total := float64(c.Calls()) / float64(requests)
	b.ReportMetric(total, "ddbcalls/op")
	b.ReportMetric(total-1, "appcalls/op")
	b.ReportMetric(float64(c.Items())/float64(requests), "ddbitems/op")
}

// BenchmarkCalendarMonth: a member with 2,000 events in a month (1,800
// single events, 200 recurring series: 150 weekly, 50 daily), read as the
// month's first page of 100 occurrences.
func BenchmarkCalendarMonth(b *testing.B) {
	s := newStack(b, now2026)
	tn := s.newTenant(b)
	m := tn.Admin
	store := &calendar.DynamoStore{Table: s.Tables["CalendarTable"]}
	var items []map[string]types.AttributeValue
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2000 {
		in := calendar.Input{Kind: calendar.Schedule, Title: fmt.Sprintf("Event %d", i), TimeZone: "Asia/Shanghai"}
		at := start.Add(time.Duration(i%30)*24*time.Hour + time.Duration(i%10)*time.Hour)
		in.Start, in.End = at.Format(time.RFC3339), at.Add(30*time.Minute).Format(time.RFC3339)
		switch {
		case i%10 == 0 && i%40 != 0:
			in.RRule = "FREQ=WEEKLY;COUNT=8"
		case i%40 == 0:
			in.RRule = "FREQ=DAILY;COUNT=60"
		}
		e, err := in.Build()
		if err != nil {
			b.Fatal(err)
		}
		e.ID, e.TenantID, e.OrganizerID, e.Version = ids.New(now2026), tn.ID, m.ID, 1
		e.CreatedAt, e.UpdatedAt = now2026, now2026
		its, err := store.EventItems(e, calendar.Due{})
		if err != nil {
			b.Fatal(err)
		}
		// Only the member's entries are read by a range; moto's Query walks
		// the whole table, so the event and reminder items are left out.
		items = append(items, its[2:]...)
	}
	s.batchWrite(b, s.Tables["CalendarTable"], items)
	path := "/v1/calendar?from=2026-12-01T00:00:00Z&to=2027-01-01T00:00:00Z&limit=100"
	r := s.do(b, "GET", path, m.Token, nil)
	want(b, r, 200)
	var p calPage
	r.decode(b, &p)
	if len(p.Items) != 100 || p.NextCursor == "" {
		b.Fatalf("page of %d, cursor %q", len(p.Items), p.NextCursor)
	}
	s.Counter.Reset()
	b.ResetTimer()
	for range b.N {
		want(b, s.do(b, "GET", path, m.Token, nil), 200)
	}
	b.StopTimer()
	report(b, s.Counter, b.N)
}

// BenchmarkApprovalsToApprove: an approver with 60 pending approvals reads
// the first page of "to approve".
func BenchmarkApprovalsToApprove(b *testing.B) {
	s := newStack(b, now2026)
	tn := s.newTenant(b)
	applicant, approver := s.member(b, tn, "member"), s.member(b, tn, "member")
	want(b, s.do(b, "PUT", "/v1/approvals/chains/outing", tn.Admin.Token, map[string]any{"approvers": []map[string]string{{"memberId": approver.ID}}}), 200)
	for i := range 60 {
		s.setNow(now2026.Add(time.Duration(i) * time.Second))
		want(b, s.do(b, "POST", "/v1/approvals", applicant.Token, map[string]any{"form": "outing", "outing": map[string]string{
			"destination": "Plant 2", "start": "2026-12-01T01:00:00Z", "end": "2026-12-01T09:00:00Z"}}), 201)
	}
	s.Counter.Reset()
	b.ResetTimer()
	for range b.N {
		want(b, s.do(b, "GET", "/v1/approvals/todo?limit=20", approver.Token, nil), 200)
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Counter.Calls("Query"))/float64(b.N), "queries/op")
	report(b, s.Counter, b.N)
}

// BenchmarkAnnouncementFeed: a 2,000-member tenant with 40 announcements
// to everyone or to departments; publishing writes one item, and a member's
// feed is three round trips of the app.
func BenchmarkAnnouncementFeed(b *testing.B) {
	s := newStack(b, now2026)
	tn := s.newTenant(b)
	sales := s.department(b, tn, "Sales", "")
	east := s.department(b, tn, "East", sales)
	ops := s.department(b, tn, "Ops", "")
	s.seedMembers(b, tn, 1000, east)
	s.seedMembers(b, tn, 998, ops)
	reader := s.member(b, tn, "member", east)
	s.Counter.Reset()
	for i := range 40 {
		s.setNow(now2026.Add(time.Duration(i) * time.Second))
		aud := map[string]any{"everyone": true}
		if i%2 == 1 {
			aud = map[string]any{"departmentIds": []string{[]string{sales, ops}[i%4/2]}}
		}
		want(b, s.do(b, "POST", "/v1/announcements", tn.Admin.Token, map[string]any{"title": fmt.Sprintf("News %d", i), "body": "Body", "audience": aud}), 201)
	}
	b.ReportMetric(float64(s.Counter.Calls("PutItem", "BatchWriteItem", "TransactWriteItems", "UpdateItem"))/40, "publishwrites/op")
	r := s.do(b, "GET", "/v1/announcements?limit=20", reader.Token, nil)
	want(b, r, 200)
	var p feedPage
	r.decode(b, &p)
	if len(p.Items) != 20 {
		b.Fatalf("feed of %d", len(p.Items))
	}
	s.Counter.Reset()
	b.ResetTimer()
	for range b.N {
		want(b, s.do(b, "GET", "/v1/announcements?limit=20", reader.Token, nil), 200)
	}
	b.StopTimer()
	report(b, s.Counter, b.N)
}
