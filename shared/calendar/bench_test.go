package calendar_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/calendar"
	"workbench/shared/ids"
)

// BenchmarkCalendarMonth: a member with 2,000 events in a month (1,800
// single events, 200 recurring series: 150 weekly, 50 daily), read as the
// month's first page of 100 occurrences.
func BenchmarkCalendarMonth(b *testing.B) {
	s := newStack(b, now2026)
	tn := s.NewTenant(b)
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
	s.BatchWrite(b, s.Tables["CalendarTable"], items)
	path := "/v1/calendar?from=2026-12-01T00:00:00Z&to=2027-01-01T00:00:00Z&limit=100"
	r := s.Call(b, "GET", path, m.Token, nil)
	stacktest.Want(b, r, 200)
	var p calPage
	r.Decode(b, &p)
	if len(p.Items) != 100 || p.NextCursor == "" {
		b.Fatalf("page of %d, cursor %q", len(p.Items), p.NextCursor)
	}
	s.Counter.Reset()
	b.ResetTimer()
	for range b.N {
		stacktest.Want(b, s.Call(b, "GET", path, m.Token, nil), 200)
	}
	b.StopTimer()
	stacktest.ReportCounts(b, s.Counter, b.N)
}

// BenchmarkCalendarSweep: 5,000 events stored, 20 of them with their
// reminder due. The due rows carry the events, so the sweep reads what is
// due and nothing else; it reports items read per due reminder.
func BenchmarkCalendarSweep(b *testing.B) {
	const events, due = 5000, 20
	s := newStack(b, now2026)
	tn := s.NewTenant(b)
	m := tn.Admin
	store := &calendar.DynamoStore{Table: s.Tables["CalendarTable"]}
	var items, dueRows []map[string]types.AttributeValue
	for i := range events {
		start := now2026.Add(10 * time.Minute) // reminded 15 minutes before: due 5 minutes ago
		if i >= due {
			start = now2026.Add(time.Duration(1+i%30)*24*time.Hour + time.Duration(i%10)*time.Hour)
		}
		in := calendar.Input{Kind: calendar.Schedule, Title: fmt.Sprintf("Event %d", i), TimeZone: "Asia/Shanghai",
			Start: start.Format(time.RFC3339), End: start.Add(30 * time.Minute).Format(time.RFC3339)}
		e, err := in.Build()
		if err != nil {
			b.Fatal(err)
		}
		e.ID, e.TenantID, e.OrganizerID, e.Version = ids.New(now2026), tn.ID, m.ID, 1
		e.CreatedAt, e.UpdatedAt = now2026, now2026
		at := e.SeriesStart.Add(-time.Duration(e.ReminderMinutes) * time.Minute)
		its, err := store.EventItems(e, calendar.Due{TenantID: tn.ID, EventID: e.ID, Occurrence: e.SeriesStart, Start: e.SeriesStart, At: at})
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, its...)
		if i < due {
			dueRows = append(dueRows, its[1])
		}
	}
	s.BatchWrite(b, s.Tables["CalendarTable"], items)
	var calls, read int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s.BatchWrite(b, s.Tables["CalendarTable"], dueRows) // due again
		s.Counter.Reset()
		b.StartTimer()
		out := s.Invoke(b, "CalendarReminderFunction", map[string]any{
			"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
			"time": now2026.Format(time.RFC3339), "detail": map[string]any{}})
		b.StopTimer()
		var res calendar.SweepResult
		if err := json.Unmarshal(out, &res); err != nil {
			b.Fatalf("sweep result %s: %v", out, err)
		}
		if res.Due != due || res.Notices != due || res.Advanced != due {
			b.Fatalf("sweep: %+v", res)
		}
		calls += s.Counter.Calls()
		read += s.Counter.Items()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(calls)/float64(b.N), "ddbcalls/op")
	b.ReportMetric(float64(read)/float64(b.N), "items/op")
	b.ReportMetric(float64(read)/float64(b.N)/due, "items/due")
	if float64(read)/float64(b.N) > 1.5*due {
		b.Fatalf("the sweep read %d items for %d due reminders: more than 1.5 a reminder", read/b.N, due)
	}
}
