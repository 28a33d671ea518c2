package billing

import (
	"slices"
	"testing"
	"time"

	"workbench/shared/errs"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestStateAt(t *testing.T) {
	sub := Subscription{ExpiresAt: at("2027-01-10T00:00:00Z"), GraceDays: 7, RetentionDays: 15}
	tests := []struct {
		now  string
		want State
	}{
		{"2026-12-01T00:00:00Z", Valid},
		{"2027-01-09T23:59:59Z", Valid},
		{"2027-01-10T00:00:00Z", Grace},
		{"2027-01-16T23:59:59Z", Grace},
		{"2027-01-17T00:00:00Z", Retention},
		{"2027-01-31T23:59:59Z", Retention},
		{"2027-02-01T00:00:00Z", Released},
	}
	for _, tt := range tests {
		if got := sub.StateAt(at(tt.now)); got != tt.want {
			t.Errorf("StateAt(%s) = %s, want %s", tt.now, got, tt.want)
		}
	}
	zero := Subscription{ExpiresAt: at("2027-01-10T00:00:00Z")}
	if got := zero.StateAt(at("2027-01-10T00:00:00Z")); got != Released {
		t.Errorf("no grace, no retention: %s", got)
	}
}

func TestAllow(t *testing.T) {
	for _, tt := range []struct {
		st     State
		method string
		code   string
	}{
		{Valid, "POST", ""}, {Grace, "PUT", ""}, {Retention, "GET", ""},
		{Retention, "PUT", "subscription_retention"}, {Retention, "DELETE", "subscription_retention"},
		{Released, "GET", "subscription_released"}, {Released, "POST", "subscription_released"},
	} {
		err := Allow(tt.st, tt.method)
		if (tt.code == "") != (err == nil) || (err != nil && (!errs.Is(err, tt.code) || errs.KindOf(err) != errs.Forbidden)) {
			t.Errorf("Allow(%s, %s) = %v, want %q", tt.st, tt.method, err, tt.code)
		}
	}
}

func TestNormalizeSettings(t *testing.T) {
	ok := Settings{Channels: []string{"system", "sms"}, DaysBefore: []int{7, 30}, Time: "09:30", Timezone: "America/New_York", Recipients: []string{"m1", "m2"}}
	got, err := NormalizeSettings(ok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Channels, []string{"sms", "system"}) || !slices.Equal(got.DaysBefore, []int{30, 7}) || got.Time != "09:30" {
		t.Errorf("normalized %+v", got)
	}
	def, err := NormalizeSettings(Settings{Channels: []string{"sms"}, DaysBefore: []int{15}})
	if err != nil || def.Time != "10:00" || def.Timezone != "Asia/Shanghai" || def.Recipients == nil {
		t.Errorf("defaults: %+v %v", def, err)
	}
	bad := []struct {
		field string
		mod   func(*Settings)
	}{
		{"channels", func(s *Settings) { s.Channels = nil }},
		{"channels", func(s *Settings) { s.Channels = []string{"email"} }},
		{"daysBefore", func(s *Settings) { s.DaysBefore = nil }},
		{"daysBefore", func(s *Settings) { s.DaysBefore = []int{7, 14} }},
		{"time", func(s *Settings) { s.Time = "24:00" }},
		{"time", func(s *Settings) { s.Time = "9:00" }},
		{"time", func(s *Settings) { s.Time = "10:00:00" }},
		{"time", func(s *Settings) { s.Time = "ten" }},
		{"timezone", func(s *Settings) { s.Timezone = "Mars/Olympus" }},
		{"timezone", func(s *Settings) { s.Timezone = "Local" }},
		{"recipients", func(s *Settings) { s.Recipients = []string{"a", "b", "c", "d", "e", "f"} }},
		{"recipients", func(s *Settings) { s.Recipients = []string{"a", "a"} }},
		{"recipients", func(s *Settings) { s.Recipients = []string{""} }},
	}
	for i, tt := range bad {
		in := ok
		in.Channels, in.DaysBefore, in.Recipients = slices.Clone(ok.Channels), slices.Clone(ok.DaysBefore), slices.Clone(ok.Recipients)
		tt.mod(&in)
		_, err := NormalizeSettings(in)
		if e := errs.As(err); err == nil || e.Kind != errs.Invalid || e.Field != tt.field {
			t.Errorf("case %d: %v, want 400 on %s", i, err, tt.field)
		}
	}
}

func TestWarningAtTimezones(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		expires string
		days    int
		hhmm    string
		loc     *time.Location
		want    string
	}{
		// Expiry 2027-01-10 08:00 Beijing; 7 days before at 10:00 Beijing = 02:00 UTC.
		{"2027-01-10T00:00:00Z", 7, "10:00", shanghai, "2027-01-03T02:00:00Z"},
		// Expiry at 20:00 UTC is already the next day in Beijing.
		{"2027-01-10T20:00:00Z", 7, "10:00", shanghai, "2027-01-04T02:00:00Z"},
		// New York: expiry 2027-03-20 (EDT, UTC-4); 15 days before is
		// 2027-03-05, still EST (UTC-5): 10:00 local is 15:00 UTC.
		{"2027-03-20T16:00:00Z", 15, "10:00", ny, "2027-03-05T15:00:00Z"},
		// 7 days before is 2027-03-13, EST; 30 days before is in February.
		{"2027-03-20T16:00:00Z", 7, "10:00", ny, "2027-03-13T15:00:00Z"},
		// Expiry 2027-03-21 EDT; 7 days before is 2027-03-14, the day clocks
		// change: 10:00 EDT is 14:00 UTC.
		{"2027-03-21T16:00:00Z", 7, "10:00", ny, "2027-03-14T14:00:00Z"},
		// Autumn: expiry 2027-11-14 EST, 7 days before 2027-11-07 (the
		// change day, EST again by 10:00) and 15 days before in EDT.
		{"2027-11-14T16:00:00Z", 7, "10:00", ny, "2027-11-07T15:00:00Z"},
		{"2027-11-14T16:00:00Z", 15, "10:00", ny, "2027-10-30T14:00:00Z"},
	}
	for _, tt := range tests {
		got := WarningAt(at(tt.expires), tt.days, tt.hhmm, tt.loc)
		if !got.Equal(at(tt.want)) {
			t.Errorf("WarningAt(%s, %d, %s, %s) = %s, want %s", tt.expires, tt.days, tt.hhmm, tt.loc, got.Format(time.RFC3339), tt.want)
		}
	}
}

func names(steps []Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name)
	}
	return out
}

func TestStepsLeaveOutThresholdsPastAtRenewal(t *testing.T) {
	exp := at("2027-01-31T00:00:00Z")
	st := DefaultSettings()
	tests := []struct {
		since string
		done  []string
		want  []string
	}{
		{"2026-11-01T00:00:00Z", nil, []string{"d30", "d15", "d7", "grace", "retention"}},
		// Renewed with 10 days left: only the 7-day warning.
		{"2027-01-21T00:00:00Z", nil, []string{"d7", "grace", "retention"}},
		// Renewed with 3 days left: no warning ahead, so the 7-day one is
		// sent late (the latest past one), not the 30- and 15-day ones.
		{"2027-01-28T00:00:00Z", nil, []string{"d7", "grace", "retention"}},
		// Set already expired: no warnings; grace notice, then retention.
		{"2027-02-02T00:00:00Z", nil, []string{"grace", "retention"}},
		// Set deep in retention: the retention notice only.
		{"2027-02-10T00:00:00Z", nil, []string{"retention"}},
		{"2026-11-01T00:00:00Z", []string{"d30", "d15"}, []string{"d7", "grace", "retention"}},
	}
	for _, tt := range tests {
		p := Plan{Sub: Subscription{ExpiresAt: exp, GraceDays: 7, RetentionDays: 15}, Settings: st, Since: at(tt.since), Done: tt.done}
		steps, err := p.Steps()
		if err != nil || !slices.Equal(names(steps), tt.want) {
			t.Errorf("since %s done %v: %v %v, want %v", tt.since, tt.done, names(steps), err, tt.want)
		}
	}
}

func TestDueSendsOnlyTheLatest(t *testing.T) {
	exp := at("2027-01-31T00:00:00Z")
	p := Plan{Sub: Subscription{ExpiresAt: exp, GraceDays: 7, RetentionDays: 15}, Settings: DefaultSettings(), Since: at("2026-11-01T00:00:00Z")}
	if _, _, ok, _ := p.Due(at("2026-12-31T00:00:00Z")); ok {
		t.Error("due before the 30-day warning")
	}
	// 30 days before: 2027-01-01 at 10:00 Beijing = 02:00 UTC.
	if _, _, ok, _ := p.Due(at("2027-01-01T01:59:59Z")); ok {
		t.Error("due a second before 10:00 Beijing")
	}
	send, due, ok, _ := p.Due(at("2027-01-01T02:05:00Z"))
	if !ok || send.Name != "d30" || send.Days != 30 || !slices.Equal(due, []string{"d30"}) {
		t.Errorf("at the 30-day threshold: %v %v %v", send, due, ok)
	}
	// The scan was down for weeks: only the latest due step is sent.
	send, due, ok, _ = p.Due(at("2027-02-01T00:00:00Z"))
	if !ok || send.Name != "grace" || !slices.Equal(due, []string{"d30", "d15", "d7", "grace"}) {
		t.Errorf("after an outage: %v %v %v", send, due, ok)
	}
}

func TestReindex(t *testing.T) {
	r := NewRecord("t1", "acme")
	if err := r.Reindex(); err != nil || r.DuePK != "" {
		t.Fatalf("no subscription indexed: %+v %v", r, err)
	}
	exp, since := at("2027-01-31T00:00:00Z"), at("2027-01-21T00:00:00Z")
	r.ExpiresAt, r.Since, r.GraceDays, r.RetentionDays = &exp, &since, 7, 15
	if err := r.Reindex(); err != nil || r.DuePK != DuePK || r.DueSK != "2027-01-24T02:00:00Z#acme" {
		t.Fatalf("indexed at %q %q %v", r.DuePK, r.DueSK, err)
	}
	r.Done = []string{"d7", "grace", "retention"}
	if err := r.Reindex(); err != nil || r.DuePK != "" || r.DueSK != "" {
		t.Fatalf("finished cycle still indexed: %q %q", r.DuePK, r.DueSK)
	}
	if dueBound(at("2027-01-24T02:00:00Z")) < "2027-01-24T02:00:00Z#acme" {
		t.Error("bound sorts before a key due at the same second")
	}
}

func TestNoticeIDIsStableAndTimeOrdered(t *testing.T) {
	a := NoticeID("t1", "c1", Step{Name: "d7", At: at("2027-01-24T02:00:00Z")}, "m1")
	if a != NoticeID("t1", "c1", Step{Name: "d7", At: at("2027-01-24T02:00:00Z")}, "m1") {
		t.Error("notice id differs between runs")
	}
	if a == NoticeID("t1", "c1", Step{Name: "d7", At: at("2027-01-24T02:00:00Z")}, "m2") {
		t.Error("two members share a notice id")
	}
	if b := NoticeID("t1", "c1", Step{Name: "grace", At: at("2027-01-31T00:00:00Z")}, "m1"); b <= a {
		t.Error("later step sorts first")
	}
}
