package calendar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
)

type eventOut struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Start     string `json:"start"`
	End       string `json:"end"`
	Version   int    `json:"version"`
	Attendees []struct {
		MemberID, Response string
	}
}

type created struct {
	Event     eventOut
	Conflicts []struct{ MemberID, EventID, Start, End string }
}

type calItem struct {
	EventID, Occurrence, Start, End, Kind, Title, Response string
	Moved, Recurring                                       bool
}

type calPage struct {
	Items      []calItem
	NextCursor string
}

func (s *stackT) createEvent(t *testing.T, token string, body map[string]any) created {
	t.Helper()
	r := s.Call(t, "POST", "/v1/calendar", token, body)
	stacktest.Want(t, r, 201)
	var c created
	r.Decode(t, &c)
	return c
}

func (s *stackT) calendar(t *testing.T, token, from, to, extra string) calPage {
	t.Helper()
	r := s.Call(t, "GET", "/v1/calendar?from="+from+"&to="+to+extra, token, nil)
	stacktest.Want(t, r, 200)
	var p calPage
	r.Decode(t, &p)
	return p
}

type sweepOut struct{ Due, Notices, SMS, Advanced int }

func (s *stackT) sweep(t *testing.T, at string) sweepOut {
	t.Helper()
	out := s.Invoke(t, "CalendarReminderFunction", map[string]any{
		"version": "0", "id": "test", "detail-type": "Scheduled Event", "source": "aws.events", "time": at, "detail": map[string]any{}})
	var res sweepOut
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("sweep result %s: %v", out, err)
	}
	return res
}

func TestCalendarMeetingResponsesFreeBusyAndReminder(t *testing.T) {
	s := newStack(t, now2026)
	tn := s.NewTenant(t)
	org, li, han := tn.Admin, s.Member(t, tn, "member"), s.Member(t, tn, "member")
	c := s.createEvent(t, org.Token, map[string]any{"kind": "meeting", "title": "Quarterly review", "location": "Room 3",
		"start": "2026-12-07T10:00:00+08:00", "end": "2026-12-07T11:00:00+08:00", "timezone": "Asia/Shanghai",
		"attendees": []string{li.ID, han.ID}, "smsReminder": true})
	e := c.Event
	if e.Start != "2026-12-07T02:00:00Z" || len(e.Attendees) != 2 || e.Attendees[0].Response != "pending" || len(c.Conflicts) != 0 {
		t.Fatalf("created %+v", c)
	}
	stacktest.Want(t, s.Call(t, "POST", "/v1/calendar/"+e.ID+"/response", li.Token, map[string]string{"response": "accepted"}), 200)
	r := s.Call(t, "POST", "/v1/calendar/"+e.ID+"/response", han.Token, map[string]string{"response": "declined"})
	stacktest.Want(t, r, 200)
	var got eventOut
	r.Decode(t, &got)
	if got.Attendees[0].Response != "accepted" || got.Attendees[1].Response != "declined" || got.Version != 3 {
		t.Fatalf("responses %+v", got)
	}
	stacktest.Want(t, s.Call(t, "POST", "/v1/calendar/"+e.ID+"/response", han.Token, map[string]string{"response": "maybe"}), 400, "invalid_response", "response")
	stacktest.Want(t, s.Call(t, "POST", "/v1/calendar/"+e.ID+"/response", org.Token, map[string]string{"response": "accepted"}), 403, "not_attendee")
	stacktest.Want(t, s.Call(t, "POST", "/v1/calendar/"+e.ID+"/confirm", li.Token, nil), 409, "not_a_notice")

	day := "&members=" + li.ID + "," + han.ID
	r = s.Call(t, "GET", "/v1/calendar/freebusy?from=2026-12-07T00:00:00Z&to=2026-12-08T00:00:00Z"+day, org.Token, nil)
	stacktest.Want(t, r, 200)
	var fb struct {
		Items []struct {
			MemberID string
			Busy     []struct{ Start, End string }
		}
	}
	r.Decode(t, &fb)
	if len(fb.Items) != 2 || len(fb.Items[0].Busy) != 1 || fb.Items[0].Busy[0].Start != "2026-12-07T02:00:00Z" || len(fb.Items[1].Busy) != 0 {
		t.Fatalf("free/busy %+v", fb)
	}
	// Each participant's calendar shows the meeting with their response.
	p := s.calendar(t, han.Token, "2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z", "")
	if len(p.Items) != 1 || p.Items[0].Response != "declined" || p.Items[0].Title != "Quarterly review" {
		t.Fatalf("韩梅梅's calendar %+v", p)
	}
	p = s.calendar(t, org.Token, "2026-12-07T00:00:00Z", "2026-12-08T00:00:00Z", "")
	if len(p.Items) != 1 || p.Items[0].Response != "organizer" {
		t.Fatalf("organizer's calendar %+v", p)
	}

	// A later meeting with 李雷 overlapping: created, with a conflict warning.
	c2 := s.createEvent(t, han.Token, map[string]any{"kind": "meeting", "title": "Overlap", "start": "2026-12-07T02:30:00Z", "end": "2026-12-07T03:30:00Z", "attendees": []string{li.ID}})
	if len(c2.Conflicts) != 1 || c2.Conflicts[0].MemberID != li.ID || c2.Conflicts[0].EventID != e.ID {
		t.Fatalf("conflicts %+v", c2.Conflicts)
	}
	// 韩梅梅 declined the first one, so she is not in conflict with it.

	// Before the reminder time nothing is due; at it, the organizer and 李雷
	// get a notice and an SMS, 韩梅梅 (declined) nothing. Twice is once.
	if res := s.sweep(t, "2026-12-07T01:40:00Z"); res.Due != 0 {
		t.Fatalf("early sweep %+v", res)
	}
	// The overlap meeting (02:30, due 02:15) is not due yet.
	if res := s.sweep(t, "2026-12-07T01:50:00Z"); res.Due != 1 || res.Notices != 2 || res.SMS != 2 || res.Advanced != 1 {
		t.Fatalf("sweep %+v", res)
	}
	for _, m := range []stacktest.Member{org, li} {
		n := s.Notices(t, tn.ID, m.ID)
		found := 0
		for _, x := range n {
			if x.Kind == "calendar_reminder" && x.Data["eventId"] == e.ID {
				found++
			}
		}
		if found != 1 {
			t.Fatalf("member %s reminder notices %+v", m.ID, n)
		}
	}
	for _, x := range s.Notices(t, tn.ID, han.ID) {
		if x.Data["eventId"] == e.ID {
			t.Fatalf("declined attendee reminded: %+v", x)
		}
	}
	if res := s.sweep(t, "2026-12-07T01:50:00Z"); res.Due != 0 || res.SMS != 0 {
		t.Fatalf("second sweep %+v", res)
	}
	if res := s.sweep(t, "2026-12-07T02:20:00Z"); res.Due != 1 || res.SMS != 0 || res.Notices != 2 {
		t.Fatalf("overlap meeting sweep (no SMS asked) %+v", res)
	}
}

func TestCalendarWeeklyRecurrenceOverAMonth(t *testing.T) {
	s := newStack(t, now2026)
	tn := s.NewTenant(t)
	m := s.Member(t, tn, "member")
	c := s.createEvent(t, m.Token, map[string]any{"kind": "schedule", "title": "Gym", "start": "2026-12-07T18:30:00+08:00",
		"end": "2026-12-07T19:30:00+08:00", "timezone": "Asia/Shanghai", "rrule": "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20270301T000000Z"})
	s.createEvent(t, m.Token, map[string]any{"kind": "reminder", "title": "Pay rent", "start": "2026-12-15T01:00:00Z"})
	s.createEvent(t, m.Token, map[string]any{"kind": "schedule", "title": "Trip", "allDay": true, "start": "2026-12-24", "end": "2026-12-26"})
	// December: Mondays and Wednesdays from the 7th (8), the reminder, the trip.
	var all []calItem
	extra := "&limit=4"
	for pages := 0; ; pages++ {
		p := s.calendar(t, m.Token, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", extra)
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			break
		}
		if len(p.Items) != 4 || pages > 5 {
			t.Fatalf("page %d: %+v", pages, p)
		}
		extra = "&limit=4&cursor=" + p.NextCursor
	}
	var days []string
	for _, it := range all {
		days = append(days, it.Start[5:10]+":"+it.Title)
	}
	wantDays := "12-07:Gym 12-09:Gym 12-14:Gym 12-15:Pay rent 12-16:Gym 12-21:Gym 12-23:Gym 12-23:Trip 12-28:Gym 12-30:Gym"
	if strings.Join(days, " ") != wantDays {
		t.Fatalf("December\n got %s\nwant %s", strings.Join(days, " "), wantDays)
	}
	if all[0].Start != "2026-12-07T10:30:00Z" || all[0].End != "2026-12-07T11:30:00Z" || !all[0].Recurring {
		t.Fatalf("first occurrence %+v", all[0])
	}
	// Move the 9th to the 10th, cancel the 14th.
	stacktest.Want(t, s.Call(t, "PUT", "/v1/calendar/"+c.Event.ID+"/exceptions", m.Token, map[string]string{
		"occurrence": "2026-12-09T10:30:00Z", "start": "2026-12-10T11:00:00Z", "end": "2026-12-10T12:00:00Z"}), 200)
	stacktest.Want(t, s.Call(t, "PUT", "/v1/calendar/"+c.Event.ID+"/exceptions", m.Token, map[string]any{"occurrence": "2026-12-14T10:30:00Z", "cancelled": true}), 200)
	p := s.calendar(t, m.Token, "2026-12-07T00:00:00Z", "2026-12-15T00:00:00Z", "")
	var got []string
	for _, it := range p.Items {
		got = append(got, fmt.Sprintf("%s/%v", it.Start, it.Moved))
	}
	if strings.Join(got, " ") != "2026-12-07T10:30:00Z/false 2026-12-10T11:00:00Z/true" {
		t.Fatalf("after exceptions: %v", got)
	}
	stacktest.Want(t, s.Call(t, "PUT", "/v1/calendar/"+c.Event.ID+"/exceptions", m.Token, map[string]any{"occurrence": "2026-12-08T10:30:00Z", "cancelled": true}), 400, "no_such_occurrence", "occurrence")
	// A range far before or after shows nothing.
	if p := s.calendar(t, m.Token, "2027-06-01T00:00:00Z", "2027-07-01T00:00:00Z", ""); len(p.Items) != 0 {
		t.Fatalf("after the series: %+v", p)
	}
	// Recurring reminders advance: the sweep at the first occurrence's
	// reminder time schedules the next one.
	if res := s.sweep(t, "2026-12-07T10:15:00Z"); res.Due != 1 || res.Notices != 1 {
		t.Fatalf("first Gym reminder %+v", res)
	}
	if res := s.sweep(t, "2026-12-10T10:45:00Z"); res.Due != 1 || res.Notices != 1 {
		t.Fatalf("moved Gym reminder %+v", res)
	}
}

func TestCalendarRulesAndBadInput(t *testing.T) {
	s := newStack(t, now2026)
	tn := s.NewTenant(t)
	m := s.Member(t, tn, "member")
	off := s.Member(t, tn, "member")
	s.Disable(t, tn, off.ID)
	other := s.NewTenant(t)
	stranger := s.Member(t, other, "member")
	base := func(edit func(map[string]any)) map[string]any {
		b := map[string]any{"kind": "meeting", "title": "x", "start": "2026-12-07T09:00:00+08:00", "end": "2026-12-07T10:00:00+08:00", "timezone": "Asia/Shanghai"}
		edit(b)
		return b
	}
	many := make([]string, 501)
	for i := range many {
		many[i] = fmt.Sprintf("member-%d", i)
	}
	cases := []struct {
		name        string
		body        map[string]any
		code, field string
	}{
		{"end before start", base(func(b map[string]any) { b["end"] = "2026-12-07T08:00:00+08:00" }), "end_before_start", "end"},
		{"longer than 31 days", base(func(b map[string]any) { b["end"] = "2027-01-08T09:00:00+08:00" }), "too_long", "end"},
		{"over 500 attendees", base(func(b map[string]any) { b["attendees"] = many }), "too_many_attendees", "attendees"},
		{"attendee of another tenant", base(func(b map[string]any) { b["attendees"] = []string{m.ID, stranger.ID} }), "unknown_member", "attendees[1]"},
		{"disabled attendee", base(func(b map[string]any) { b["attendees"] = []string{off.ID} }), "unknown_member", "attendees[0]"},
		{"unknown time zone", base(func(b map[string]any) { b["timezone"] = "Asia/Atlantis" }), "unknown_timezone", "timezone"},
		{"rrule without end", base(func(b map[string]any) { b["rrule"] = "FREQ=DAILY" }), "rrule_never_ends", "rrule"},
		{"rrule over 5 years", base(func(b map[string]any) { b["rrule"] = "FREQ=WEEKLY;COUNT=300" }), "rrule_too_long", "rrule"},
		{"bad kind", base(func(b map[string]any) { b["kind"] = "party" }), "invalid_kind", "kind"},
		{"reminder with attendees", base(func(b map[string]any) { b["kind"] = "reminder"; b["attendees"] = []string{m.ID} }), "personal_event", "attendees"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stacktest.Want(t, s.Call(t, "POST", "/v1/calendar", tn.Admin.Token, c.body), 400, c.code, c.field)
		})
	}
	// All-day multi-day beyond 31 days is allowed.
	s.createEvent(t, m.Token, map[string]any{"kind": "schedule", "title": "Leave", "allDay": true, "start": "2027-01-01", "end": "2027-02-15"})
	// Nothing half-written by the refusals.
	if p := s.calendar(t, tn.Admin.Token, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", ""); len(p.Items) != 0 {
		t.Fatalf("refused events were written: %+v", p)
	}
	for _, q := range []struct{ query, code, field string }{
		{"from=x&to=2027-01-01T00:00:00Z", "invalid_time", "from"},
		{"from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "end_before_start", "to"},
		{"from=2026-01-01T00:00:00Z&to=2028-01-01T00:00:00Z", "range_too_long", "to"},
		{"from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&cursor=zz", "invalid_cursor", "cursor"},
	} {
		stacktest.Want(t, s.Call(t, "GET", "/v1/calendar?"+q.query, m.Token, nil), 400, q.code, q.field)
	}
	stacktest.Want(t, s.Call(t, "GET", "/v1/calendar/freebusy?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&members="+stranger.ID, m.Token, nil), 400, "unknown_member", "members[0]")
}

func TestCalendarNoticeConfirmDeleteAndIsolation(t *testing.T) {
	s := newStack(t, now2026)
	tn := s.NewTenant(t)
	a, b, x := s.Member(t, tn, "member"), s.Member(t, tn, "member"), s.Member(t, tn, "member")
	c := s.createEvent(t, tn.Admin.Token, map[string]any{"kind": "notice", "title": "Fire drill", "start": "2026-12-09T02:00:00Z", "attendees": []string{a.ID, b.ID}})
	id := c.Event.ID
	r := s.Call(t, "POST", "/v1/calendar/"+id+"/confirm", a.Token, nil)
	stacktest.Want(t, r, 200)
	var e eventOut
	r.Decode(t, &e)
	if e.Attendees[0].Response != "confirmed" || e.Attendees[1].Response != "pending" {
		t.Fatalf("confirm %+v", e)
	}
	// Not a participant: 404; not the organizer: 403.
	stacktest.Want(t, s.Call(t, "GET", "/v1/calendar/"+id, x.Token, nil), 404, "event_not_found")
	stacktest.Want(t, s.Call(t, "DELETE", "/v1/calendar/"+id, a.Token, nil), 403, "not_organizer")
	other := s.NewTenant(t)
	for _, req := range []struct{ method, path string }{{"GET", ""}, {"DELETE", ""}, {"POST", "/confirm"}, {"POST", "/response"}} {
		var body any
		if req.path == "/response" {
			body = map[string]string{"response": "accepted"}
		}
		stacktest.Want(t, s.Call(t, req.method, "/v1/calendar/"+id+req.path, other.Admin.Token, body), 404)
	}
	if p := s.calendar(t, other.Admin.Token, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", ""); len(p.Items) != 0 {
		t.Fatalf("other tenant's calendar %+v", p)
	}
	// The organizer deletes it: gone from everyone's calendar.
	stacktest.Want(t, s.Call(t, "DELETE", "/v1/calendar/"+id, tn.Admin.Token, nil), 204)
	if p := s.calendar(t, b.Token, "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", ""); len(p.Items) != 0 {
		t.Fatalf("deleted notice still listed %+v", p)
	}
	if res := s.sweep(t, "2026-12-09T01:50:00Z"); res.Due != 0 {
		t.Fatalf("deleted event reminded %+v", res)
	}
}

func TestCalendarLargeMeeting(t *testing.T) {
	s := newStack(t, now2026)
	tn := s.NewTenant(t)
	ids := s.SeedMembers(t, tn, 119)
	last := s.Member(t, tn, "member")
	ids = append(ids, last.ID)
	c := s.createEvent(t, tn.Admin.Token, map[string]any{"kind": "meeting", "title": "All hands", "start": "2026-12-10T02:00:00Z", "end": "2026-12-10T03:00:00Z", "attendees": ids})
	if len(c.Event.Attendees) != 120 {
		t.Fatalf("attendees %d", len(c.Event.Attendees))
	}
	if p := s.calendar(t, last.Token, "2026-12-10T00:00:00Z", "2026-12-11T00:00:00Z", ""); len(p.Items) != 1 {
		t.Fatalf("the 120th attendee's calendar %+v", p)
	}
	if res := s.sweep(t, "2026-12-10T01:45:00Z"); res.Due != 1 || res.Notices != 121 {
		t.Fatalf("sweep %+v", res)
	}
	stacktest.Want(t, s.Call(t, "DELETE", "/v1/calendar/"+c.Event.ID, tn.Admin.Token, nil), 204)
	if p := s.calendar(t, last.Token, "2026-12-10T00:00:00Z", "2026-12-11T00:00:00Z", ""); len(p.Items) != 0 {
		t.Fatalf("after delete %+v", p)
	}
}

func TestCalendarConcurrentSweepsSendOnce(t *testing.T) {
	s := newStack(t, now2026)
	tn := s.NewTenant(t)
	a := s.Member(t, tn, "member")
	s.createEvent(t, tn.Admin.Token, map[string]any{"kind": "meeting", "title": "Standup", "start": "2026-12-08T01:00:00Z", "end": "2026-12-08T01:15:00Z",
		"attendees": []string{a.ID}, "smsReminder": true, "reminderMinutes": 5, "rrule": "FREQ=DAILY;COUNT=3"})
	results := make(chan sweepOut, 3)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- s.sweep(t, "2026-12-08T00:56:00Z")
		}()
	}
	wg.Wait()
	close(results)
	sms, advanced := 0, 0
	for r := range results {
		sms += r.SMS
		advanced += r.Advanced
	}
	if sms != 2 || advanced != 1 {
		t.Fatalf("three concurrent sweeps sent %d SMS and advanced %d times; want 2 and 1", sms, advanced)
	}
	if n := s.Notices(t, tn.ID, a.ID); len(n) != 1 {
		t.Fatalf("attendee notices %+v", n)
	}
	// The next day's occurrence is due the next day, once.
	if r := s.sweep(t, "2026-12-09T00:56:00Z"); r.Due != 1 || r.SMS != 2 {
		t.Fatalf("second day %+v", r)
	}
	if n := s.Notices(t, tn.ID, a.ID); len(n) != 2 {
		t.Fatalf("attendee notices after two days %+v", n)
	}
}

// TestCalendarReminderOldShape: a reminder written before sharding and
// before it carried its event (under the bare "DUE#<day>", no copy) is
// still found, and the sweep reads the event for it.
func TestCalendarReminderOldShape(t *testing.T) {
	s := newStack(t, now2026)
	tn := s.NewTenant(t)
	org := tn.Admin
	e := s.createEvent(t, org.Token, map[string]any{"kind": "schedule", "title": "Line check",
		"start": "2026-12-07T02:00:00Z", "end": "2026-12-07T02:30:00Z"}).Event
	db := s.DynamoDB()
	_, err := db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Tables["CalendarTable"]),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#" + tn.ID}, "sk": &types.AttributeValueMemberS{Value: "REMIND#" + e.ID},
		},
		UpdateExpression:          aws.String("SET gsi1pk = :b REMOVE #e"),
		ExpressionAttributeNames:  map[string]string{"#e": "event"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": &types.AttributeValueMemberS{Value: "DUE#2026-12-07"}},
		ConditionExpression:       aws.String("attribute_exists(#e)"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.sweep(t, "2026-12-07T01:50:00Z"); res.Due != 1 || res.Notices != 1 || res.Advanced != 1 {
		t.Fatalf("sweep %+v", res)
	}
	if res := s.sweep(t, "2026-12-07T01:51:00Z"); res.Due != 0 {
		t.Fatalf("sweep again %+v", res)
	}
}
