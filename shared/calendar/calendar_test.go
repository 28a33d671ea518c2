package calendar

import (
	"strings"
	"testing"
	"time"

	"workbench/shared/errs"
)

func intp(n int) *int { return &n }

func TestBuildRejectsBadInput(t *testing.T) {
	many := make([]string, MaxAttendees+1)
	for i := range many {
		many[i] = "m" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
	}
	base := func() Input {
		return Input{Kind: Meeting, Title: "Weekly", Start: "2026-12-07T09:00:00+08:00", End: "2026-12-07T10:00:00+08:00", TimeZone: "Asia/Shanghai"}
	}
	cases := []struct {
		name  string
		edit  func(*Input)
		field string
		code  string
	}{
		{"bad kind", func(in *Input) { in.Kind = "party" }, "kind", "invalid_kind"},
		{"no title", func(in *Input) { in.Title = " " }, "title", "required"},
		{"end before start", func(in *Input) { in.End = "2026-12-07T08:00:00+08:00" }, "end", "end_before_start"},
		{"end equals start", func(in *Input) { in.End = in.Start }, "end", "end_before_start"},
		{"longer than 31 days", func(in *Input) { in.End = "2027-01-08T10:00:00+08:00" }, "end", "too_long"},
		{"bad start", func(in *Input) { in.Start = "tomorrow" }, "start", "invalid_time"},
		{"unknown zone", func(in *Input) { in.TimeZone = "Mars/Olympus" }, "timezone", "unknown_timezone"},
		{"zone abbreviation", func(in *Input) { in.TimeZone = "CST" }, "timezone", "unknown_timezone"},
		{"too many attendees", func(in *Input) { in.Attendees = many }, "attendees", "too_many_attendees"},
		{"never-ending rrule", func(in *Input) { in.RRule = "FREQ=WEEKLY;BYDAY=MO" }, "rrule", "rrule_never_ends"},
		{"rrule over 5 years", func(in *Input) { in.RRule = "FREQ=DAILY;COUNT=2000" }, "rrule", "rrule_too_long"},
		{"rrule until over 5 years", func(in *Input) { in.RRule = "FREQ=MONTHLY;UNTIL=20350101T000000Z" }, "rrule", "rrule_too_long"},
		{"yearly rrule", func(in *Input) { in.RRule = "FREQ=YEARLY;COUNT=3" }, "rrule", "invalid_rrule"},
		{"rrule with dtstart", func(in *Input) { in.RRule = "DTSTART:20261207T010000Z\nRRULE:FREQ=DAILY;COUNT=3" }, "rrule", "invalid_rrule"},
		{"garbage rrule", func(in *Input) { in.RRule = "FREQ=WEEKLY;BYDAY=XX;COUNT=3" }, "rrule", "invalid_rrule"},
		{"rrule count not a number", func(in *Input) { in.RRule = "FREQ=WEEKLY;COUNT=x" }, "rrule", "invalid_rrule"},
		{"rrule interval not a number", func(in *Input) { in.RRule = "FREQ=DAILY;INTERVAL=1.5;COUNT=3" }, "rrule", "invalid_rrule"},
		{"rrule unknown part", func(in *Input) { in.RRule = "FREQ=DAILY;BOGUS=1;COUNT=3" }, "rrule", "invalid_rrule"},
		{"title on two lines", func(in *Input) { in.Title = "周会\n改期" }, "title", "invalid_text"},
		{"title with a tab", func(in *Input) { in.Title = "周会\t改期" }, "title", "invalid_text"},
		{"location on two lines", func(in *Input) { in.Location = "A\nB" }, "location", "invalid_text"},
		{"title with bidi override", func(in *Input) { in.Title = "会议\u202e反转" }, "title", "invalid_text"},
		{"negative reminder", func(in *Input) { in.ReminderMinutes = intp(-5) }, "reminderMinutes", "invalid_reminder"},
		{"sms on schedule", func(in *Input) { in.Kind = Schedule; in.SMSReminder = true }, "smsReminder", "sms_for_meetings_only"},
		{"attendees on reminder", func(in *Input) { in.Kind = Reminder; in.Attendees = []string{"a"} }, "attendees", "personal_event"},
		{"notice without recipients", func(in *Input) { in.Kind = Notice }, "attendees", "required"},
		{"all-day with times", func(in *Input) { in.AllDay = true }, "start", "invalid_date"},
		{"all-day end before start", func(in *Input) { in.AllDay = true; in.Start = "2026-12-07"; in.End = "2026-12-06" }, "end", "end_before_start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base()
			c.edit(&in)
			_, err := in.Build()
			e := errs.As(err)
			if err == nil || e.Kind != errs.Invalid || e.Field != c.field || e.Code != c.code {
				t.Fatalf("Build = %v; want 400 %s on %s", err, c.code, c.field)
			}
			// Messages are for people: no Go internals.
			for _, leak := range []string{"strconv", "Atoi", "parsing", "invalid syntax", "runtime", "%!"} {
				if strings.Contains(e.Message, leak) {
					t.Errorf("message %q leaks %q", e.Message, leak)
				}
			}
		})
	}
}

func TestAllDayMultiDayMayExceed31Days(t *testing.T) {
	in := Input{Kind: Schedule, Title: "Sabbatical", AllDay: true, Start: "2026-12-01", End: "2027-01-31", TimeZone: "Asia/Shanghai"}
	e, err := in.Build()
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Start.Format(time.RFC3339); got != "2026-11-30T16:00:00Z" {
		t.Errorf("start = %s; want local midnight in UTC", got)
	}
	if got := e.End.Format(time.RFC3339); got != "2027-01-31T16:00:00Z" {
		t.Errorf("end = %s; want the local midnight after the last day", got)
	}
}

func TestWeeklyRecurrenceFollowsTheZone(t *testing.T) {
	// 09:00 in New York on Mondays, across the end of daylight saving time.
	in := Input{Kind: Schedule, Title: "Standup", Start: "2026-10-26T09:00:00-04:00", End: "2026-10-26T09:15:00-04:00",
		TimeZone: "America/New_York", RRule: "FREQ=WEEKLY;BYDAY=MO;COUNT=3"}
	e, err := in.Build()
	if err != nil {
		t.Fatal(err)
	}
	occ := e.Occurrences(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	want := []string{"2026-10-26T13:00:00Z", "2026-11-02T14:00:00Z", "2026-11-09T14:00:00Z"}
	if len(occ) != len(want) {
		t.Fatalf("got %d occurrences: %+v", len(occ), occ)
	}
	for i, o := range occ {
		if o.Start.Format(time.RFC3339) != want[i] || o.End.Sub(o.Start) != 15*time.Minute {
			t.Errorf("occurrence %d = %s–%s; want %s", i, o.Start, o.End, want[i])
		}
	}
	if got := e.SeriesEnd.Format(time.RFC3339); got != "2026-11-09T14:15:00Z" {
		t.Errorf("series end = %s", got)
	}
}

func TestExceptionsMoveAndCancel(t *testing.T) {
	in := Input{Kind: Meeting, Title: "Sync", Start: "2026-12-07T09:00:00+08:00", End: "2026-12-07T10:00:00+08:00",
		TimeZone: "Asia/Shanghai", RRule: "FREQ=DAILY;COUNT=5"}
	e, err := in.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := (&ExceptionInput{Occurrence: "2026-12-08T01:00:00Z", Cancelled: true}).Apply(e); err != nil {
		t.Fatal(err)
	}
	if err := (&ExceptionInput{Occurrence: "2026-12-09T01:00:00Z", Start: "2026-12-20T01:00:00Z", End: "2026-12-20T02:00:00Z"}).Apply(e); err != nil {
		t.Fatal(err)
	}
	err = (&ExceptionInput{Occurrence: "2026-12-09T02:00:00Z", Cancelled: true}).Apply(e)
	if errs.As(err).Field != "occurrence" {
		t.Fatalf("an instant that is no occurrence: %v", err)
	}
	occ := e.Occurrences(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	var got []string
	for _, o := range occ {
		got = append(got, o.Start.Format("01-02"))
	}
	if strings.Join(got, ",") != "12-07,12-10,12-11,12-20" {
		t.Fatalf("occurrences = %v", got)
	}
	if e.SeriesEnd.Format(time.RFC3339) != "2026-12-20T02:00:00Z" {
		t.Fatalf("series end must include the moved occurrence: %s", e.SeriesEnd)
	}
	if n, ok := e.NextOccurrence(time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)); !ok || n.Start.Format("01-02") != "12-10" {
		t.Fatalf("next after the first = %+v", n)
	}
}
