package calendar

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"workbench/shared/dynamo"
	"workbench/shared/errs"
	"workbench/shared/ids"
	"workbench/shared/notice"
	"workbench/shared/sms"
)

// Directory tells which member ids are enabled members of a tenant, and
// their mobiles for SMS reminders.
type Directory interface {
	Enabled(ctx context.Context, tenantID string, memberIDs []string) (map[string]bool, error)
	Mobiles(ctx context.Context, tenantID string, memberIDs []string) (map[string]string, error)
}

// SMS sends a text to a mobile.
type SMS interface {
	Send(ctx context.Context, mobile, text string) error
}

// Service is the schedules app.
type Service struct {
	Store     Store
	Directory Directory
	Notices   notice.Sender
	SMS       SMS
	Now       func() time.Time
	// ConflictCheckLimit bounds how many participants' calendars a new
	// event is checked against (default 50): the warning is advice, and
	// each participant costs a Query.
	ConflictCheckLimit int
}

// Conflict warns that a participant is busy during an occurrence of a new
// event. It is a warning: the event is created anyway.
type Conflict struct {
	MemberID string    `json:"memberId"`
	EventID  string    `json:"eventId"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
}

// Created is a new event with its conflict warnings.
type Created struct {
	Event     *Event     `json:"event"`
	Conflicts []Conflict `json:"conflicts"`
}

func (s *Service) checkMembers(ctx context.Context, tenantID, field string, memberIDs []string) error {
	ok, err := s.Directory.Enabled(ctx, tenantID, memberIDs)
	if err != nil {
		return err
	}
	for i, m := range memberIDs {
		if !ok[m] {
			return errs.Invalidf(fmt.Sprintf("%s[%d]", field, i), "unknown_member", "%s[%d] is not an enabled member of this tenant", field, i)
		}
	}
	return nil
}

// Create adds an event organized by the member.
func (s *Service) Create(ctx context.Context, tenantID, organizerID string, in Input) (*Created, error) {
	e, err := in.Build()
	if err != nil {
		return nil, err
	}
	if len(in.Attendees) > 0 {
		if err := s.checkMembers(ctx, tenantID, "attendees", in.Attendees); err != nil {
			return nil, err
		}
	}
	now := s.Now().UTC()
	e.ID, e.TenantID, e.OrganizerID = ids.New(now), tenantID, organizerID
	e.CreatedAt, e.UpdatedAt, e.Version = now, now, 1
	// The organizer is not their own attendee.
	kept := e.Attendees[:0]
	for _, a := range e.Attendees {
		if a.MemberID != organizerID {
			kept = append(kept, a)
		}
	}
	e.Attendees = kept
	conflicts, err := s.conflicts(ctx, e)
	if err != nil {
		return nil, err
	}
	if err := s.Store.Save(ctx, nil, e, s.firstDue(e, now)); err != nil {
		return nil, err
	}
	return &Created{Event: e, Conflicts: conflicts}, nil
}

// firstDue is the reminder of the first occurrence that has not started:
// an event created 5 minutes before it starts is still reminded at once.
func (s *Service) firstDue(e *Event, now time.Time) Due {
	o, ok := e.NextOccurrence(now)
	if !ok {
		return Due{}
	}
	return due(e, o)
}

// laterDue is the reminder of the first occurrence whose reminder time is
// still ahead: after a change, reminders already sent are not sent again.
func laterDue(e *Event, now time.Time) Due {
	t := now.Add(time.Duration(e.ReminderMinutes) * time.Minute)
	o, ok := e.NextOccurrence(t)
	if !ok {
		return Due{}
	}
	return due(e, o)
}

func due(e *Event, o Occurrence) Due {
	return Due{TenantID: e.TenantID, EventID: e.ID, Occurrence: o.Occurrence, Start: o.Start, At: o.Start.Add(-time.Duration(e.ReminderMinutes) * time.Minute)}
}

// conflicts checks the occurrences of e in its first 31 days against the
// participants' calendars.
func (s *Service) conflicts(ctx context.Context, e *Event) ([]Conflict, error) {
	out := []Conflict{}
	if !e.Busy(e.OrganizerID) {
		return out, nil
	}
	from, to := e.SeriesStart, e.SeriesStart.Add(MaxDuration)
	mine := e.Occurrences(from, to)
	limit := s.ConflictCheckLimit
	if limit <= 0 {
		limit = 50
	}
	members := e.Participants()
	if len(members) > limit {
		members = members[:limit]
	}
	for _, m := range members {
		entries, err := s.Store.Range(ctx, e.TenantID, m, from, to)
		if err != nil {
			return nil, err
		}
		for _, en := range entries {
			if !en.Busy(m) || en.Response == Declined {
				continue
			}
			for _, o := range en.Occurrences(from, to) {
				for _, n := range mine {
					if o.Start.Before(n.End) && o.End.After(n.Start) {
						out = append(out, Conflict{MemberID: m, EventID: en.ID, Start: o.Start, End: o.End})
					}
				}
			}
		}
	}
	return out, nil
}

// Get returns an event to its participants; to anyone else it does not
// exist.
func (s *Service) Get(ctx context.Context, tenantID, memberID, id string) (*Event, error) {
	e, err := s.Store.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if e.OrganizerID != memberID && e.Attendee(memberID) == nil {
		return nil, errs.NotFoundf("event_not_found", "no such event")
	}
	return e, nil
}

// Respond records an attendee's answer to a meeting.
func (s *Service) Respond(ctx context.Context, tenantID, memberID, id, response string) (*Event, error) {
	switch response {
	case Accepted, Declined, Tentative:
	default:
		return nil, errs.Invalidf("response", "invalid_response", "response must be accepted, declined or tentative")
	}
	return s.answer(ctx, tenantID, memberID, id, Meeting, response)
}

// Confirm records that a notice's recipient has seen it.
func (s *Service) Confirm(ctx context.Context, tenantID, memberID, id string) (*Event, error) {
	return s.answer(ctx, tenantID, memberID, id, Notice, Confirmed)
}

func (s *Service) answer(ctx context.Context, tenantID, memberID, id, kind, response string) (*Event, error) {
	e, err := s.Get(ctx, tenantID, memberID, id)
	if err != nil {
		return nil, err
	}
	if e.Kind != kind {
		if kind == Meeting {
			return nil, errs.E(errs.Conflict, "not_a_meeting", "only meeting invitations take a response")
		}
		return nil, errs.E(errs.Conflict, "not_a_notice", "only notices are confirmed")
	}
	a := e.Attendee(memberID)
	if a == nil {
		return nil, errs.E(errs.Forbidden, "not_attendee", "the organizer does not respond to their own event")
	}
	now := s.Now().UTC()
	if err := s.Store.Respond(ctx, e, memberID, response, now); err != nil {
		return nil, err
	}
	a.Response, a.RespondedAt = response, &now
	e.Version++
	return e, nil
}

// SetException moves or cancels one occurrence (organizer only).
func (s *Service) SetException(ctx context.Context, tenantID, memberID, id string, x ExceptionInput) (*Event, error) {
	prev, err := s.Get(ctx, tenantID, memberID, id)
	if err != nil {
		return nil, err
	}
	if prev.OrganizerID != memberID {
		return nil, errs.E(errs.Forbidden, "not_organizer", "only the organizer changes an event")
	}
	next := *prev
	next.Exceptions = append([]Exception(nil), prev.Exceptions...)
	if err := x.Apply(&next); err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	next.UpdatedAt, next.Version = now, prev.Version+1
	if err := s.Store.Save(ctx, prev, &next, laterDue(&next, now)); err != nil {
		return nil, err
	}
	return &next, nil
}

// Delete removes an event from every calendar (organizer only).
func (s *Service) Delete(ctx context.Context, tenantID, memberID, id string) error {
	e, err := s.Get(ctx, tenantID, memberID, id)
	if err != nil {
		return err
	}
	if e.OrganizerID != memberID {
		return errs.E(errs.Forbidden, "not_organizer", "only the organizer deletes an event")
	}
	return s.Store.Save(ctx, e, nil, Due{})
}

// Item is one occurrence in a member's calendar.
type Item struct {
	Occurrence
	Kind        string `json:"kind"`
	Title       string `json:"title"`
	Location    string `json:"location,omitempty"`
	TimeZone    string `json:"timezone"`
	AllDay      bool   `json:"allDay"`
	OrganizerID string `json:"organizerId"`
	Recurring   bool   `json:"recurring"`
	Response    string `json:"response"`
}

// ParseRange reads ?from=&to= (RFC 3339, to after from, at most 366 days).
func ParseRange(from, to string) (time.Time, time.Time, error) {
	f, err := time.Parse(time.RFC3339, from)
	if err != nil {
		return f, f, errs.Invalidf("from", "invalid_time", "from must be an RFC 3339 time")
	}
	t, err := time.Parse(time.RFC3339, to)
	if err != nil {
		return f, t, errs.Invalidf("to", "invalid_time", "to must be an RFC 3339 time")
	}
	if !t.After(f) {
		return f, t, errs.Invalidf("to", "end_before_start", "to must be after from")
	}
	if t.Sub(f) > MaxRange {
		return f, t, errs.Invalidf("to", "range_too_long", "a range is at most 366 days")
	}
	return f.UTC(), t.UTC(), nil
}

// List returns the member's occurrences in [from, to), by start, a page at
// a time. The cursor names the last occurrence returned.
func (s *Service) List(ctx context.Context, tenantID, memberID string, from, to time.Time, cursor string, limit int) ([]Item, string, error) {
	cursors := dynamo.ListCursors("calendar", tenantID, memberID, from.Format(time.RFC3339), to.Format(time.RFC3339))
	var after string
	if ok, err := cursors.Decode(cursor, &after); err != nil || ok && after == "" {
		return nil, "", dynamo.InvalidCursor()
	}
	entries, err := s.Store.Range(ctx, tenantID, memberID, from, to)
	if err != nil {
		return nil, "", err
	}
	type keyed struct {
		key  string
		item Item
	}
	var all []keyed
	for _, en := range entries {
		for _, o := range en.Occurrences(from, to) {
			it := Item{Occurrence: o, Kind: en.Kind, Title: en.Title, Location: en.Location, TimeZone: en.TimeZone,
				AllDay: en.AllDay, OrganizerID: en.OrganizerID, Recurring: en.RRule != "", Response: en.Response}
			all = append(all, keyed{itemKey(it), it})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].key < all[j].key })
	start := 0
	if after != "" {
		start = sort.Search(len(all), func(i int) bool { return all[i].key > after })
	}
	all = all[start:]
	next := ""
	if len(all) > limit {
		all = all[:limit]
		next = cursors.Encode(all[limit-1].key)
	}
	items := make([]Item, len(all))
	for i, k := range all {
		items[i] = k.item
	}
	return items, next, nil
}

func itemKey(i Item) string {
	return i.Start.UTC().Format(stamp) + "|" + i.EventID + "|" + i.Occurrence.Occurrence.UTC().Format(stamp)
}

// Busy is one member's busy times.
type Busy struct {
	MemberID string     `json:"memberId"`
	Busy     []Interval `json:"busy"`
}

// Interval is a busy time.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// MaxFreeBusyMembers bounds one free/busy request.
const MaxFreeBusyMembers = 20

// FreeBusy returns when each member is busy in [from, to): meetings and
// schedules they have not declined, without titles.
func (s *Service) FreeBusy(ctx context.Context, tenantID string, members []string, from, to time.Time) ([]Busy, error) {
	if len(members) == 0 {
		return nil, errs.Invalidf("members", "required", "members is a comma-separated list of member ids")
	}
	if len(members) > MaxFreeBusyMembers {
		return nil, errs.Invalidf("members", "too_many_members", "at most %d members", MaxFreeBusyMembers)
	}
	if err := s.checkMembers(ctx, tenantID, "members", members); err != nil {
		return nil, err
	}
	out := make([]Busy, 0, len(members))
	for _, m := range members {
		entries, err := s.Store.Range(ctx, tenantID, m, from, to)
		if err != nil {
			return nil, err
		}
		b := Busy{MemberID: m, Busy: []Interval{}}
		for _, en := range entries {
			if !en.Busy(m) || en.Response == Declined {
				continue
			}
			for _, o := range en.Occurrences(from, to) {
				b.Busy = append(b.Busy, Interval{Start: o.Start, End: o.End})
			}
		}
		sort.Slice(b.Busy, func(i, j int) bool { return b.Busy[i].Start.Before(b.Busy[j].Start) })
		out = append(out, b)
	}
	return out, nil
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	Due      int `json:"due"`
	Notices  int `json:"notices"`
	SMS      int `json:"sms"`
	Advanced int `json:"advanced"`
}

// Sweep sends every reminder due at now: a system notice to each
// participant who has not declined (ids derived from event, occurrence and
// member, so a second run delivers nothing new), then moves the reminder to
// the next occurrence with a conditional write; only the sweep that wins it
// sends the meeting's SMS. Its cost follows what is due, not the number of
// events.
func (s *Service) Sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	var res SweepResult
	list, err := s.Store.Due(ctx, now)
	if err != nil {
		return res, err
	}
	res.Due = len(list)
	for _, d := range list {
		e := d.Event
		if e == nil {
			// A reminder written before it carried its event.
			if e, err = s.Store.Get(ctx, d.TenantID, d.EventID); errs.KindOf(err) == errs.NotFound {
				continue
			}
			if err != nil {
				return res, err
			}
		}
		recipients := remindees(e)
		local := d.Start.In(mustZone(e.TimeZone)).Format("2006-01-02 15:04 MST")
		for _, m := range recipients {
			n := notice.Notice{
				ID:       fmt.Sprintf("calendar-%s-%d", e.ID, d.Occurrence.Unix()),
				TenantID: e.TenantID, MemberID: m, Kind: "calendar_reminder",
				Title:     fmt.Sprintf("%s at %s", e.Title, local),
				Body:      fmt.Sprintf("Your %s \"%s\" starts at %s.", e.Kind, e.Title, local),
				Data:      map[string]string{"eventId": e.ID, "occurrence": d.Occurrence.UTC().Format(time.RFC3339), "start": d.Start.UTC().Format(time.RFC3339)},
				CreatedAt: now.UTC(),
			}
			if err := s.Notices.Deliver(ctx, n); err != nil {
				return res, err
			}
			res.Notices++
		}
		// The mobiles are read before the reminder moves on: once it has,
		// no later run sends this occurrence's SMS.
		var mobiles map[string]string
		if e.Kind == Meeting && e.SMSReminder {
			if mobiles, err = s.Directory.Mobiles(ctx, e.TenantID, recipients); err != nil {
				return res, err
			}
		}
		won, err := s.Store.Advance(ctx, d, laterDueAfter(e, d.Start))
		if err != nil {
			return res, err
		}
		if !won {
			continue
		}
		res.Advanced++
		if mobiles != nil {
			for _, m := range recipients {
				if mobiles[m] == "" {
					continue
				}
				text := fmt.Sprintf("%s会议“%s”将于 %s 开始。", sms.Brand, truncate(e.Title, 30), local)
				if err := s.SMS.Send(ctx, mobiles[m], text); err != nil {
					slog.ErrorContext(ctx, "meeting reminder SMS failed", "event", e.ID, "error", err)
					continue
				}
				res.SMS++
			}
		}
	}
	slog.InfoContext(ctx, "calendar sweep", "due", res.Due, "notices", res.Notices, "sms", res.SMS)
	return res, nil
}

// laterDueAfter is the reminder of the first occurrence starting after the
// one just reminded.
func laterDueAfter(e *Event, start time.Time) Due {
	o, ok := e.NextOccurrence(start)
	if !ok {
		return Due{}
	}
	return due(e, o)
}

// remindees are the organizer and the attendees who have not declined.
func remindees(e *Event) []string {
	out := []string{e.OrganizerID}
	for _, a := range e.Attendees {
		if a.Response != Declined {
			out = append(out, a.MemberID)
		}
	}
	return out
}

func mustZone(name string) *time.Location {
	if loc, err := time.LoadLocation(name); err == nil {
		return loc
	}
	return time.UTC
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// SplitMembers reads a comma-separated list of ids.
func SplitMembers(v string) []string {
	var out []string
	for _, m := range strings.Split(v, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}
