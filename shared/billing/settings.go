package billing

import (
	"slices"
	"strings"
	"time"

	"workbench/shared/errs"
)

// Channels of expiry notices.
const (
	ChannelSMS    = "sms"
	ChannelSystem = "system"
)

// Limits and defaults of the expiry notice settings.
const (
	MaxRecipients   = 5
	DefaultTime     = "10:00"
	DefaultTimezone = "Asia/Shanghai"
)

// WarningDays are the thresholds a warning may be sent at, in days before
// expiry.
var WarningDays = []int{30, 15, 7}

// Settings say how, when and to whom a tenant's expiry warnings go.
type Settings struct {
	Channels   []string `json:"channels" dynamodbav:"channels"`
	DaysBefore []int    `json:"daysBefore" dynamodbav:"daysBefore"`
	Time       string   `json:"time" dynamodbav:"time"`         // HH:MM, local to Timezone
	Timezone   string   `json:"timezone" dynamodbav:"timezone"` // IANA name
	// Recipients are member ids; empty means every enabled admin at the
	// time a notice is sent.
	Recipients []string `json:"recipients" dynamodbav:"recipients"`
}

// DefaultSettings apply until an admin saves settings: both channels, all
// three thresholds, 10:00 Beijing time, to the admins.
func DefaultSettings() Settings {
	return Settings{
		Channels:   []string{ChannelSMS, ChannelSystem},
		DaysBefore: slices.Clone(WarningDays),
		Time:       DefaultTime,
		Timezone:   DefaultTimezone,
		Recipients: []string{},
	}
}

// NormalizeSettings checks settings and returns them in canonical form:
// channels and days deduplicated in a fixed order, time and timezone
// defaulted when empty. Recipients are only checked for shape here; whether
// they are enabled members of the tenant is the store's business.
func NormalizeSettings(in Settings) (Settings, error) {
	out := Settings{Time: strings.TrimSpace(in.Time), Timezone: strings.TrimSpace(in.Timezone)}
	for _, c := range []string{ChannelSMS, ChannelSystem} {
		if slices.Contains(in.Channels, c) {
			out.Channels = append(out.Channels, c)
		}
	}
	for _, c := range in.Channels {
		if c != ChannelSMS && c != ChannelSystem {
			return Settings{}, errs.Invalidf("channels", "invalid_channels", "channels may only hold %q and %q, not %q", ChannelSMS, ChannelSystem, c)
		}
	}
	if len(out.Channels) == 0 {
		return Settings{}, errs.Invalidf("channels", "invalid_channels", "channels must name at least one of %q and %q", ChannelSMS, ChannelSystem)
	}
	for _, d := range in.DaysBefore {
		if !slices.Contains(WarningDays, d) {
			return Settings{}, errs.Invalidf("daysBefore", "invalid_days_before", "daysBefore may only hold 30, 15 and 7, not %d", d)
		}
	}
	for _, d := range WarningDays {
		if slices.Contains(in.DaysBefore, d) {
			out.DaysBefore = append(out.DaysBefore, d)
		}
	}
	if len(out.DaysBefore) == 0 {
		return Settings{}, errs.Invalidf("daysBefore", "invalid_days_before", "daysBefore must hold at least one of 30, 15 and 7")
	}
	if out.Time == "" {
		out.Time = DefaultTime
	}
	if _, _, err := clock(out.Time); err != nil {
		return Settings{}, errs.Invalidf("time", "invalid_time", "time must be HH:MM on a 24-hour clock, such as 10:00")
	}
	if out.Timezone == "" {
		out.Timezone = DefaultTimezone
	}
	if _, err := location(out.Timezone); err != nil {
		return Settings{}, errs.Invalidf("timezone", "invalid_timezone", "timezone must be an IANA time zone name such as Asia/Shanghai")
	}
	if len(in.Recipients) > MaxRecipients {
		return Settings{}, errs.Invalidf("recipients", "too_many_recipients", "recipients may name at most %d members", MaxRecipients)
	}
	out.Recipients = []string{}
	for _, id := range in.Recipients {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > 64 {
			return Settings{}, errs.Invalidf("recipients", "invalid_recipients", "recipients must be member ids")
		}
		if slices.Contains(out.Recipients, id) {
			return Settings{}, errs.Invalidf("recipients", "invalid_recipients", "recipients names member %s twice", id)
		}
		out.Recipients = append(out.Recipients, id)
	}
	return out, nil
}

// clock parses "HH:MM" strictly: two digits each, 00:00 to 23:59.
func clock(s string) (hour, minute int, err error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, 0, errs.Invalidf("time", "invalid_time", "bad time")
	}
	return t.Hour(), t.Minute(), nil
}

// location loads an IANA zone. "Local" and "" are refused: they mean the
// server's zone, which is no tenant's.
func location(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errs.Invalidf("timezone", "invalid_timezone", "bad timezone")
	}
	return time.LoadLocation(name)
}
