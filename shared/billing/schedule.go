package billing

import (
	"fmt"
	"slices"
	"time"

	// The Lambda runtime image need not carry a zoneinfo database; tenants'
	// timezones must load everywhere.
	_ "time/tzdata"
)

// Step is one notice of a subscription's cycle: a warning N days before
// expiry ("d30", "d15", "d7"), or the notice of entering grace or retention.
type Step struct {
	Name string
	Days int       // days before expiry, for warnings
	At   time.Time // when it is due
}

// Lifecycle steps.
const (
	StepGrace     = "grace"
	StepRetention = "retention"
)

// Warning is the step name of the warning daysBefore days ahead.
func Warning(daysBefore int) string { return fmt.Sprintf("d%d", daysBefore) }

// IsWarning reports whether a step is an expiry warning.
func (s Step) IsWarning() bool { return s.Days > 0 }

// WarningAt is when the warning daysBefore days ahead of expiry is due: on
// the local calendar day daysBefore days before the local day of expiry, at
// the configured local time. Calendar arithmetic (not 24-hour days) keeps
// the wall-clock time right across daylight-saving changes.
func WarningAt(expiresAt time.Time, daysBefore int, hhmm string, loc *time.Location) time.Time {
	h, m, _ := clock(hhmm)
	local := expiresAt.In(loc)
	return time.Date(local.Year(), local.Month(), local.Day()-daysBefore, h, m, 0, 0, loc).UTC()
}

// Plan is a subscription's notice schedule for its current cycle: what is
// still to be sent, and when.
type Plan struct {
	Sub      Subscription
	Settings Settings
	// Since is when the current expiry was set (creation or renewal):
	// thresholds already past then are not sent late while a later warning
	// is still ahead.
	Since time.Time
	// SettingsSince is when the settings were last saved; it moves the same
	// baseline for warnings, so enabling the 30-day warning with 20 days
	// left does not send it late.
	SettingsSince time.Time
	// Done are the steps of this cycle already sent or passed over.
	Done []string
}

// Steps returns the steps of the cycle not yet done, in the order they fall
// due. Warnings already past at the baseline are left out while a later
// warning is still ahead; when none is, only the latest past warning is kept
// (sent late, but before expiry). Of the lifecycle notices past when the
// expiry was set only the latest is kept: a subscription set in grace gets
// the grace notice, one set deep in retention only the retention notice.
func (p Plan) Steps() ([]Step, error) {
	loc, err := location(p.Settings.Timezone)
	if err != nil {
		return nil, err
	}
	var warnings []Step
	for _, d := range WarningDays { // 30, 15, 7: earliest first
		if slices.Contains(p.Settings.DaysBefore, d) {
			warnings = append(warnings, Step{Name: Warning(d), Days: d, At: WarningAt(p.Sub.ExpiresAt, d, p.Settings.Time, loc)})
		}
	}
	base := p.Since
	if p.SettingsSince.After(base) {
		base = p.SettingsSince
	}
	var keep []Step
	if base.Before(p.Sub.ExpiresAt) {
		keep = latestPastAndFuture(warnings, base, false)
	}
	lifecycle := []Step{{Name: StepGrace, At: p.Sub.ExpiresAt}, {Name: StepRetention, At: p.Sub.GraceEnds()}}
	keep = append(keep, latestPastAndFuture(lifecycle, p.Since, true)...)
	out := keep[:0]
	for _, s := range keep {
		if !slices.Contains(p.Done, s.Name) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Step) int { return a.At.Compare(b.At) })
	return out, nil
}

// latestPastAndFuture keeps, of steps in time order, those after base and
// the last one at or before it: always, or (for warnings) only when no step
// is after base.
func latestPastAndFuture(steps []Step, base time.Time, always bool) []Step {
	var out []Step
	var lastPast *Step
	for i, s := range steps {
		if s.At.After(base) {
			out = append(out, s)
		} else {
			lastPast = &steps[i]
		}
	}
	if lastPast != nil && (always || len(out) == 0) {
		out = append([]Step{*lastPast}, out...)
	}
	return out
}

// Due returns, at now, the step to send and every step due with it. Only
// the latest due step is sent: after an outage of the scan, a tenant gets
// the one notice that is still true (say, "entered grace"), not a burst of
// stale warnings. ok is false when nothing is due.
func (p Plan) Due(now time.Time) (send Step, due []string, ok bool, err error) {
	steps, err := p.Steps()
	if err != nil {
		return Step{}, nil, false, err
	}
	for _, s := range steps {
		if s.At.After(now) {
			break
		}
		send, ok = s, true
		due = append(due, s.Name)
	}
	return send, due, ok, nil
}

// Next returns when the next step falls due, or ok false when the cycle has
// nothing left to send.
func (p Plan) Next() (at time.Time, ok bool, err error) {
	steps, err := p.Steps()
	if err != nil || len(steps) == 0 {
		return time.Time{}, false, err
	}
	return steps[0].At, true, nil
}
