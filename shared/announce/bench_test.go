package announce_test

import (
	"fmt"
	"testing"
	"time"

	"workbench/infra/stacktest"
)

// BenchmarkAnnouncementFeed: a 2,000-member tenant with 40 announcements
// to everyone or to departments; publishing writes one item, and a member's
// feed is three round trips of the app.
func BenchmarkAnnouncementFeed(b *testing.B) {
	s := newStack(b, now2026)
	tn := s.NewTenant(b)
	sales := s.Department(b, tn, "Sales", "")
	east := s.Department(b, tn, "East", sales)
	ops := s.Department(b, tn, "Ops", "")
	// The reader first: the directory's member transaction on moto copies
	// the whole table, slow once it holds 2,000 members.
	reader := s.Member(b, tn, "member", east)
	s.SeedMembers(b, tn, 1000, east)
	s.SeedMembers(b, tn, 998, ops)
	s.Counter.Reset()
	for i := range 40 {
		s.Clock.Set(now2026.Add(time.Duration(i) * time.Second))
		aud := map[string]any{"everyone": true}
		if i%2 == 1 {
			aud = map[string]any{"departmentIds": []string{[]string{sales, ops}[i%4/2]}}
		}
		stacktest.Want(b, s.Call(b, "POST", "/v1/announcements", tn.Admin.Token, map[string]any{"title": fmt.Sprintf("News %d", i), "body": "Body", "audience": aud}), 201)
	}
	publishWrites := float64(s.Counter.Calls("PutItem", "BatchWriteItem", "TransactWriteItems", "UpdateItem")) / 40
	r := s.Call(b, "GET", "/v1/announcements?limit=20", reader.Token, nil)
	stacktest.Want(b, r, 200)
	var p feedPage
	r.Decode(b, &p)
	if len(p.Items) != 20 {
		b.Fatalf("feed of %d", len(p.Items))
	}
	s.Counter.Reset()
	b.ResetTimer()
	for range b.N {
		stacktest.Want(b, s.Call(b, "GET", "/v1/announcements?limit=20", reader.Token, nil), 200)
	}
	b.StopTimer()
	stacktest.ReportCounts(b, s.Counter, b.N)
	b.ReportMetric(publishWrites, "publishwrites/op")
}
