package calendar

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// memStore serves Range from memory, to measure the expansion and paging
// of a range without a database.
type memStore struct {
	Store
	entries []Entry
}

func (m *memStore) Range(context.Context, string, string, time.Time, time.Time) ([]Entry, error) {
	return m.entries, nil
}

func monthOfEvents(tb testing.TB, n int) []Entry {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var out []Entry
	for i := range n {
		in := Input{Kind: Schedule, Title: fmt.Sprintf("Event %d", i), TimeZone: "Asia/Shanghai"}
		at := start.Add(time.Duration(i%30)*24*time.Hour + time.Duration(i%10)*time.Hour)
		in.Start, in.End = at.Format(time.RFC3339), at.Add(30*time.Minute).Format(time.RFC3339)
		switch {
		case i%40 == 0:
			in.RRule = "FREQ=DAILY;COUNT=60"
		case i%10 == 0:
			in.RRule = "FREQ=WEEKLY;COUNT=8"
		}
		e, err := in.Build()
		if err != nil {
			tb.Fatal(err)
		}
		e.ID = fmt.Sprintf("e%04d", i)
		out = append(out, Entry{Event: *e, Response: "organizer"})
	}
	return out
}

func TestListPagesThroughEveryOccurrenceOnce(t *testing.T) {
	entries := monthOfEvents(t, 200)
	s := &Service{Store: &memStore{entries: entries}}
	from, to := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	total := 0
	for _, e := range entries {
		total += len(e.Occurrences(from, to))
	}
	seen := map[string]bool{}
	cursor, last := "", time.Time{}
	for pages := 0; ; pages++ {
		items, next, err := s.List(context.Background(), "t", "m", from, to, cursor, 37)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			k := it.EventID + it.Occurrence.Occurrence.String()
			if seen[k] || it.Start.Before(last) {
				t.Fatalf("occurrence %s repeated or out of order", k)
			}
			seen[k], last = true, it.Start
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != total || total <= 200 {
		t.Fatalf("paged %d occurrences of %d", len(seen), total)
	}
}

// BenchmarkListMonthExpand is the in-process cost of a member's month with
// 2,000 events (200 recurring): expansion, sorting and paging.
func BenchmarkListMonthExpand(b *testing.B) {
	s := &Service{Store: &memStore{entries: monthOfEvents(b, 2000)}}
	from, to := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for range b.N {
		if _, _, err := s.List(context.Background(), "t", "m", from, to, "", 100); err != nil {
			b.Fatal(err)
		}
	}
}
