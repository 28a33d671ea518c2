// Package calendar is the schedules app: meetings (with attendees'
// responses), reminders, notices (each recipient confirms) and personal
// schedules; UTC times with their IANA zone, all-day events, recurrence
// (RRULE, expanded with github.com/teambition/rrule-go) with moved or
// cancelled occurrences, a member's calendar over a range, free/busy, and
// reminders found by a sweep through an index keyed by due time.
package calendar

import (
	"fmt"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // the Lambda runtime has no zoneinfo; IANA zones are part of the contract
	"unicode/utf8"

	"github.com/teambition/rrule-go"

	"workbench/shared/errs"
	texts "workbench/shared/text"
)

// Kinds.
const (
	Meeting  = "meeting"
	Reminder = "reminder"
	Notice   = "notice"
	Schedule = "schedule"
)

// Attendee responses. Notice recipients confirm instead.
const (
	Pending   = "pending"
	Accepted  = "accepted"
	Declined  = "declined"
	Tentative = "tentative"
	Confirmed = "confirmed"
)

// Limits.
const (
	MaxAttendees           = 500
	MaxDuration            = 31 * 24 * time.Hour
	MaxAllDayDays          = 366
	MaxSeries              = 5 // years
	DefaultReminderMinutes = 15
	MaxReminderMinutes     = 7 * 24 * 60
	DefaultTimeZone        = "Asia/Shanghai"
	MaxRange               = 366 * 24 * time.Hour
)

// Attendee is a participant other than the organizer.
type Attendee struct {
	MemberID    string     `json:"memberId" dynamodbav:"memberId"`
	Response    string     `json:"response" dynamodbav:"response"`
	RespondedAt *time.Time `json:"respondedAt,omitempty" dynamodbav:"respondedAt,omitempty"`
}

// Exception changes one occurrence of a recurring event, named by its
// original start: cancelled, or moved to Start–End.
type Exception struct {
	Occurrence time.Time  `json:"occurrence" dynamodbav:"occurrence"`
	Cancelled  bool       `json:"cancelled,omitempty" dynamodbav:"cancelled,omitempty"`
	Start      *time.Time `json:"start,omitempty" dynamodbav:"start,omitempty"`
	End        *time.Time `json:"end,omitempty" dynamodbav:"end,omitempty"`
}

// Event is one calendar event or recurring series. Times are UTC; TimeZone
// is the zone it was planned in, which recurrence and all-day dates follow.
type Event struct {
	ID              string      `json:"id" dynamodbav:"id"`
	TenantID        string      `json:"-" dynamodbav:"tenantId"`
	Kind            string      `json:"kind" dynamodbav:"kind"`
	Title           string      `json:"title" dynamodbav:"title"`
	Description     string      `json:"description,omitempty" dynamodbav:"description,omitempty"`
	Location        string      `json:"location,omitempty" dynamodbav:"location,omitempty"`
	OrganizerID     string      `json:"organizerId" dynamodbav:"organizerId"`
	Start           time.Time   `json:"start" dynamodbav:"start"`
	End             time.Time   `json:"end" dynamodbav:"end"`
	TimeZone        string      `json:"timezone" dynamodbav:"timezone"`
	AllDay          bool        `json:"allDay" dynamodbav:"allDay"`
	RRule           string      `json:"rrule,omitempty" dynamodbav:"rrule,omitempty"`
	Exceptions      []Exception `json:"exceptions" dynamodbav:"exceptions"`
	Attendees       []Attendee  `json:"attendees,omitempty" dynamodbav:"attendees,omitempty"`
	ReminderMinutes int         `json:"reminderMinutes" dynamodbav:"reminderMinutes"`
	SMSReminder     bool        `json:"smsReminder" dynamodbav:"smsReminder"`
	SeriesStart     time.Time   `json:"-" dynamodbav:"seriesStart"`
	SeriesEnd       time.Time   `json:"-" dynamodbav:"seriesEnd"`
	CreatedAt       time.Time   `json:"createdAt" dynamodbav:"createdAt"`
	UpdatedAt       time.Time   `json:"updatedAt" dynamodbav:"updatedAt"`
	Version         int         `json:"version" dynamodbav:"version"`
}

// Participants returns the organizer and the attendees.
func (e *Event) Participants() []string {
	ps := []string{e.OrganizerID}
	for _, a := range e.Attendees {
		ps = append(ps, a.MemberID)
	}
	return ps
}

// Attendee returns the member's attendee entry, or nil.
func (e *Event) Attendee(memberID string) *Attendee {
	for i := range e.Attendees {
		if e.Attendees[i].MemberID == memberID {
			return &e.Attendees[i]
		}
	}
	return nil
}

// Input is the body of a new event. Start and End are RFC 3339 times, or
// dates (YYYY-MM-DD, End inclusive) for all-day events.
type Input struct {
	Kind            string   `json:"kind"`
	Title           string   `json:"title"`
	Description     string   `json:"description"`
	Location        string   `json:"location"`
	Start           string   `json:"start"`
	End             string   `json:"end"`
	TimeZone        string   `json:"timezone"`
	AllDay          bool     `json:"allDay"`
	RRule           string   `json:"rrule"`
	Attendees       []string `json:"attendees"`
	ReminderMinutes *int     `json:"reminderMinutes"`
	SMSReminder     bool     `json:"smsReminder"`
}

// text trims a field a person reads and checks its length and its
// characters: multi-line fields may hold tabs and line breaks.
func text(field, s string, min, max int, multiline bool) (string, error) {
	s = strings.TrimSpace(s)
	check := texts.Line
	if multiline {
		check = texts.Lines
	}
	if err := check(field, s); err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(s); n < min || n > max {
		if n == 0 {
			return "", errs.Invalidf(field, "required", "%s is required", field)
		}
		return "", errs.Invalidf(field, "invalid_length", "%s must be %d to %d characters", field, min, max)
	}
	return s, nil
}

// LoadZone returns the IANA zone named name ("" is DefaultTimeZone).
func LoadZone(field, name string) (*time.Location, string, error) {
	if name == "" {
		name = DefaultTimeZone
	}
	if name == "Local" || !strings.Contains(name, "/") && name != "UTC" {
		return nil, "", errs.Invalidf(field, "unknown_timezone", "%s must be an IANA time zone such as Asia/Shanghai", field)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, "", errs.Invalidf(field, "unknown_timezone", "%s must be an IANA time zone such as Asia/Shanghai", field)
	}
	return loc, name, nil
}

// Build validates in and returns the event it describes (without id,
// organizer or clock fields). Attendees' membership is checked by the
// service.
func (in *Input) Build() (*Event, error) {
	e := &Event{Kind: in.Kind, AllDay: in.AllDay, SMSReminder: in.SMSReminder, Exceptions: []Exception{}}
	switch in.Kind {
	case Meeting, Reminder, Notice, Schedule:
	default:
		return nil, errs.Invalidf("kind", "invalid_kind", "kind must be meeting, reminder, notice or schedule")
	}
	var err error
	if e.Title, err = text("title", in.Title, 1, 100, false); err != nil {
		return nil, err
	}
	if e.Description, err = text("description", in.Description, 0, 2000, true); err != nil {
		return nil, err
	}
	if e.Location, err = text("location", in.Location, 0, 200, false); err != nil {
		return nil, err
	}
	loc, zone, err := LoadZone("timezone", in.TimeZone)
	if err != nil {
		return nil, err
	}
	e.TimeZone = zone
	endOptional := in.Kind == Reminder || in.Kind == Notice
	if in.AllDay {
		start, err := time.ParseInLocation(time.DateOnly, in.Start, loc)
		if err != nil {
			return nil, errs.Invalidf("start", "invalid_date", "start of an all-day event must be a date YYYY-MM-DD")
		}
		end := start
		if in.End != "" || !endOptional {
			if end, err = time.ParseInLocation(time.DateOnly, in.End, loc); err != nil {
				return nil, errs.Invalidf("end", "invalid_date", "end of an all-day event must be a date YYYY-MM-DD (inclusive)")
			}
		}
		if end.Before(start) {
			return nil, errs.Invalidf("end", "end_before_start", "end is before start")
		}
		end = end.AddDate(0, 0, 1) // the next local midnight
		if end.Sub(start) > MaxAllDayDays*24*time.Hour+time.Hour {
			return nil, errs.Invalidf("end", "too_long", "an all-day event lasts at most %d days", MaxAllDayDays)
		}
		e.Start, e.End = start.UTC(), end.UTC()
	} else {
		start, err := time.Parse(time.RFC3339, in.Start)
		if err != nil {
			return nil, errs.Invalidf("start", "invalid_time", "start must be an RFC 3339 time, e.g. 2026-12-07T09:00:00+08:00")
		}
		end := start
		if in.End != "" || !endOptional {
			if end, err = time.Parse(time.RFC3339, in.End); err != nil {
				return nil, errs.Invalidf("end", "invalid_time", "end must be an RFC 3339 time")
			}
			if !end.After(start) && !(endOptional && end.Equal(start)) {
				return nil, errs.Invalidf("end", "end_before_start", "end must be after start")
			}
		}
		if end.Sub(start) > MaxDuration {
			return nil, errs.Invalidf("end", "too_long", "an event lasts at most 31 days (all-day events may span more)")
		}
		e.Start, e.End = start.UTC().Truncate(time.Second), end.UTC().Truncate(time.Second)
	}
	switch {
	case in.ReminderMinutes == nil && in.Kind == Reminder:
		e.ReminderMinutes = 0
	case in.ReminderMinutes == nil:
		e.ReminderMinutes = DefaultReminderMinutes
	case *in.ReminderMinutes < 0 || *in.ReminderMinutes > MaxReminderMinutes:
		return nil, errs.Invalidf("reminderMinutes", "invalid_reminder", "reminderMinutes must be 0 to %d", MaxReminderMinutes)
	default:
		e.ReminderMinutes = *in.ReminderMinutes
	}
	if in.SMSReminder && in.Kind != Meeting {
		return nil, errs.Invalidf("smsReminder", "sms_for_meetings_only", "smsReminder is for meetings only")
	}
	switch {
	case (in.Kind == Reminder || in.Kind == Schedule) && len(in.Attendees) > 0:
		return nil, errs.Invalidf("attendees", "personal_event", "a %s is personal: it has no attendees", in.Kind)
	case in.Kind == Notice && len(in.Attendees) == 0:
		return nil, errs.Invalidf("attendees", "required", "a notice needs at least one recipient")
	case len(in.Attendees) > MaxAttendees:
		return nil, errs.Invalidf("attendees", "too_many_attendees", "at most %d attendees", MaxAttendees)
	}
	seen := map[string]bool{}
	for i, m := range in.Attendees {
		if strings.TrimSpace(m) == "" {
			return nil, errs.Invalidf(fmt.Sprintf("attendees[%d]", i), "unknown_member", "attendees are member ids")
		}
		if seen[m] {
			continue
		}
		seen[m] = true
		e.Attendees = append(e.Attendees, Attendee{MemberID: m, Response: Pending})
	}
	if in.RRule != "" {
		if e.RRule, err = normalizeRRule(in.RRule, e); err != nil {
			return nil, err
		}
	}
	return e, e.bound()
}

// normalizeRRule accepts the RRULE part only (no DTSTART: the event's
// start is the series' start), daily, weekly or monthly, ending by COUNT
// or UNTIL within MaxSeries years.
func normalizeRRule(s string, e *Event) (string, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "RRULE:")
	if strings.ContainsAny(s, "\n\r") || strings.Contains(strings.ToUpper(s), "DTSTART") {
		return "", errs.Invalidf("rrule", "invalid_rrule", "rrule is an RRULE without DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10")
	}
	opt, err := rrule.StrToROption(strings.ToUpper(s))
	if err != nil {
		return "", invalidRRule(s)
	}
	switch opt.Freq {
	case rrule.DAILY, rrule.WEEKLY, rrule.MONTHLY:
	default:
		return "", errs.Invalidf("rrule", "invalid_rrule", "rrule FREQ must be DAILY, WEEKLY or MONTHLY")
	}
	if opt.Count < 0 || opt.Interval < 0 {
		return "", errs.Invalidf("rrule", "invalid_rrule", "rrule COUNT and INTERVAL must be positive")
	}
	if opt.Count == 0 && opt.Until.IsZero() {
		return "", errs.Invalidf("rrule", "rrule_never_ends", "rrule must end: give COUNT or UNTIL (a series lasts at most %d years)", MaxSeries)
	}
	norm := opt.RRuleString()
	r, err := e.rule(norm)
	if err != nil {
		return "", invalidRRule(s)
	}
	limit := e.Start.AddDate(MaxSeries, 0, 0)
	next := r.Iterator()
	n := 0
	for {
		t, ok := next()
		if !ok {
			break
		}
		if t.After(limit) {
			return "", errs.Invalidf("rrule", "rrule_too_long", "a series lasts at most %d years: lower COUNT or UNTIL", MaxSeries)
		}
		n++
	}
	if n == 0 {
		return "", errs.Invalidf("rrule", "rrule_empty", "rrule has no occurrence")
	}
	return norm, nil
}

// invalidRRule names the first part of s that does not parse, in the
// caller's words: the parser's own errors ("strconv.Atoi: parsing …") are
// Go internals, not an answer.
func invalidRRule(s string) error {
	for part := range strings.SplitSeq(strings.ToUpper(s), ";") {
		if _, err := rrule.StrToROption("FREQ=DAILY;" + part); err != nil {
			if r := []rune(part); len(r) > 40 {
				part = string(r[:40]) + "…"
			}
			return errs.Invalidf("rrule", "invalid_rrule", "rrule part %q is not valid; an RRULE reads like FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10", part)
		}
	}
	return errs.Invalidf("rrule", "invalid_rrule", "rrule is not a valid RRULE; it reads like FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10")
}

func (e *Event) rule(s string) (*rrule.RRule, error) {
	loc, err := time.LoadLocation(e.TimeZone)
	if err != nil {
		return nil, err
	}
	opt, err := rrule.StrToROptionInLocation(s, loc)
	if err != nil {
		return nil, err
	}
	opt.Dtstart = e.Start.In(loc)
	return rrule.NewRRule(*opt)
}

// Occurrence is one instance of an event.
type Occurrence struct {
	EventID    string    `json:"eventId"`
	Occurrence time.Time `json:"occurrence"` // the original start: names it in exceptions
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Moved      bool      `json:"moved,omitempty"`
}

// Occurrences returns e's occurrences overlapping [from, to), by start.
// Instants (reminders, notices with no end) overlap when they fall in it.
func (e *Event) Occurrences(from, to time.Time) []Occurrence {
	d := e.End.Sub(e.Start)
	overlaps := func(s, en time.Time) bool {
		if s.Equal(en) {
			return !s.Before(from) && s.Before(to)
		}
		return s.Before(to) && en.After(from)
	}
	exc := map[int64]Exception{}
	for _, x := range e.Exceptions {
		exc[x.Occurrence.Unix()] = x
	}
	var out []Occurrence
	var starts []time.Time
	if e.RRule == "" {
		starts = []time.Time{e.Start}
	} else if r, err := e.rule(e.RRule); err == nil {
		starts = r.Between(from.Add(-d-time.Second), to, true)
	}
	for _, s := range starts {
		s = s.UTC()
		if _, changed := exc[s.Unix()]; changed {
			continue
		}
		if overlaps(s, s.Add(d)) {
			out = append(out, Occurrence{EventID: e.ID, Occurrence: s, Start: s, End: s.Add(d)})
		}
	}
	for _, x := range e.Exceptions {
		if !x.Cancelled && x.Start != nil && overlaps(*x.Start, *x.End) {
			out = append(out, Occurrence{EventID: e.ID, Occurrence: x.Occurrence, Start: *x.Start, End: *x.End, Moved: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// HasOccurrence reports whether t is the original start of an occurrence.
func (e *Event) HasOccurrence(t time.Time) bool {
	if e.RRule == "" {
		return t.Equal(e.Start)
	}
	r, err := e.rule(e.RRule)
	if err != nil {
		return false
	}
	for _, s := range r.Between(t.Add(-time.Second), t.Add(time.Second), true) {
		if s.Equal(t) {
			return true
		}
	}
	return false
}

// bound computes the span of the whole series, moved occurrences included:
// what the per-member index sorts and filters on.
func (e *Event) bound() error {
	e.SeriesStart, e.SeriesEnd = e.Start, e.End
	if e.RRule != "" {
		r, err := e.rule(e.RRule)
		if err != nil {
			return errs.Invalidf("rrule", "invalid_rrule", "rrule is not valid")
		}
		all := r.All()
		if len(all) > 0 {
			e.SeriesEnd = all[len(all)-1].UTC().Add(e.End.Sub(e.Start))
		}
	}
	for _, x := range e.Exceptions {
		if x.Start != nil {
			if x.Start.Before(e.SeriesStart) {
				e.SeriesStart = *x.Start
			}
			if x.End.After(e.SeriesEnd) {
				e.SeriesEnd = *x.End
			}
		}
	}
	return nil
}

// ExceptionInput moves or cancels one occurrence.
type ExceptionInput struct {
	Occurrence string `json:"occurrence"`
	Cancelled  bool   `json:"cancelled"`
	Start      string `json:"start"`
	End        string `json:"end"`
}

// Apply validates x against e and records it (replacing an earlier
// exception of the same occurrence).
func (x *ExceptionInput) Apply(e *Event) error {
	if e.RRule == "" {
		return errs.Invalidf("occurrence", "not_recurring", "only occurrences of a recurring event have exceptions; change the event instead")
	}
	occ, err := time.Parse(time.RFC3339, x.Occurrence)
	if err != nil {
		return errs.Invalidf("occurrence", "invalid_time", "occurrence is the original start (RFC 3339) of the occurrence")
	}
	occ = occ.UTC()
	if !e.HasOccurrence(occ) {
		return errs.Invalidf("occurrence", "no_such_occurrence", "the event has no occurrence starting at %s", occ.Format(time.RFC3339))
	}
	ex := Exception{Occurrence: occ, Cancelled: x.Cancelled}
	if !x.Cancelled {
		start, err := time.Parse(time.RFC3339, x.Start)
		if err != nil {
			return errs.Invalidf("start", "invalid_time", "start must be an RFC 3339 time (or set cancelled)")
		}
		end, err := time.Parse(time.RFC3339, x.End)
		if err != nil {
			return errs.Invalidf("end", "invalid_time", "end must be an RFC 3339 time")
		}
		if end.Before(start) || (end.Equal(start) && e.End.After(e.Start)) {
			return errs.Invalidf("end", "end_before_start", "end must be after start")
		}
		if end.Sub(start) > MaxDuration && !e.AllDay {
			return errs.Invalidf("end", "too_long", "an event lasts at most 31 days")
		}
		s, en := start.UTC().Truncate(time.Second), end.UTC().Truncate(time.Second)
		ex.Start, ex.End = &s, &en
	} else if x.Start != "" || x.End != "" {
		return errs.Invalidf("cancelled", "invalid_exception", "a cancelled occurrence has no start or end")
	}
	kept := e.Exceptions[:0]
	for _, old := range e.Exceptions {
		if !old.Occurrence.Equal(occ) {
			kept = append(kept, old)
		}
	}
	e.Exceptions = append(kept, ex)
	return e.bound()
}

// NextOccurrence returns the first occurrence starting after t.
func (e *Event) NextOccurrence(t time.Time) (Occurrence, bool) {
	to := e.SeriesEnd.Add(time.Second)
	if !to.After(t) {
		return Occurrence{}, false
	}
	for _, o := range e.Occurrences(t, to) {
		if o.Start.After(t) {
			return o, true
		}
	}
	return Occurrence{}, false
}

// Busy reports whether the event makes member busy: meetings and schedules
// they have not declined.
func (e *Event) Busy(memberID string) bool {
	if e.Kind != Meeting && e.Kind != Schedule {
		return false
	}
	if a := e.Attendee(memberID); a != nil && a.Response == Declined {
		return false
	}
	return true
}
