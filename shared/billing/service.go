package billing

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"workbench/shared/audit"
	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/ids"
	"workbench/shared/text"
)

// Service sets subscriptions and keeps the notice settings.
type Service struct {
	Store     Store
	Directory Directory // checks the recipients admins name
	Now       func() time.Time
}

// SetInput is the operator's request to set or renew a subscription.
type SetInput struct {
	Plan      string `json:"plan"`
	ExpiresAt string `json:"expiresAt"` // RFC 3339; may be in the past
	// ExtendDays, instead of expiresAt, renews by that many days counted
	// from the current expiry, also during grace and retention.
	ExtendDays          *int `json:"extendDays,omitempty"`
	GracePeriodDays     *int `json:"gracePeriodDays"`
	RetentionPeriodDays *int `json:"retentionPeriodDays"`
}

// View is a subscription as the API shows it. Plan and ExpiresAt are null
// for a tenant that has none: such a tenant is valid with no expiry.
type View struct {
	Tenant              string     `json:"tenant"`
	Plan                *string    `json:"plan"`
	ExpiresAt           *time.Time `json:"expiresAt"`
	State               State      `json:"state"`
	GracePeriodDays     int        `json:"gracePeriodDays"`
	RetentionPeriodDays int        `json:"retentionPeriodDays"`
	GraceEndsAt         *time.Time `json:"graceEndsAt,omitempty"`
	RetentionEndsAt     *time.Time `json:"retentionEndsAt,omitempty"`
}

func (s *Service) view(r Record, now time.Time) View {
	v := View{Tenant: r.TenantCode, State: Valid, GracePeriodDays: DefaultGraceDays, RetentionPeriodDays: DefaultRetentionDays}
	sub, ok := r.Subscription()
	if !ok {
		return v
	}
	exp, grace, ret := sub.ExpiresAt.UTC(), sub.GraceEnds().UTC(), sub.RetentionEnds().UTC()
	plan := sub.Plan
	v.Plan, v.ExpiresAt, v.GraceEndsAt, v.RetentionEndsAt = &plan, &exp, &grace, &ret
	v.State, v.GracePeriodDays, v.RetentionPeriodDays = sub.StateAt(now), sub.GraceDays, sub.RetentionDays
	return v
}

// maxAttempts bounds optimistic retries of a read-modify-write.
const maxAttempts = 4

// update reads the tenant's item (or a new one), applies change and writes
// it back if nobody wrote in between, retrying a few times when someone did.
func (s *Service) update(ctx context.Context, tenantID, code string, audited *audit.Change, change func(r *Record) error) (Record, error) {
	for range maxAttempts {
		r, found, err := s.Store.Get(ctx, code)
		if err != nil {
			return Record{}, err
		}
		if !found {
			r = NewRecord(tenantID, code)
		}
		if r.TenantID != tenantID {
			return Record{}, errs.Wrap(errors.New("subscription item of another tenant id"), "update subscription")
		}
		prev := r.Version
		if err := change(&r); err != nil {
			return Record{}, err
		}
		if err := r.Reindex(); err != nil {
			return Record{}, errs.Wrap(err, "schedule notices")
		}
		err = s.Store.Put(ctx, &r, prev, audited)
		if errors.Is(err, ErrStale) {
			continue
		}
		return r, err
	}
	return Record{}, errs.E(errs.Conflict, "concurrent_update", "the subscription is being changed by someone else; try again")
}

// Set sets or renews the subscription of the tenant with code. A new expiry
// starts a new notice cycle: its warnings are sent again, except those
// already past (see Plan.Steps). Setting the same expiry again changes
// nothing but plan and periods, so an operator's retry sends nothing twice.
func (s *Service) Set(ctx context.Context, code string, in SetInput) (View, error) {
	plan := strings.TrimSpace(in.Plan)
	if plan == "" || utf8.RuneCountInString(plan) > 64 || text.Line("plan", plan) != nil {
		return View{}, errs.Invalidf("plan", "invalid_plan", "plan must be 1 to 64 characters")
	}
	if (in.ExpiresAt == "") == (in.ExtendDays == nil) {
		return View{}, errs.Invalidf("expiresAt", "invalid_expires_at", "give expiresAt (RFC 3339), or extendDays to renew from the current expiry")
	}
	var expiresAt time.Time
	if in.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, in.ExpiresAt)
		if err != nil || t.Year() < 2000 || t.Year() > 2200 {
			return View{}, errs.Invalidf("expiresAt", "invalid_expires_at", "expiresAt must be an RFC 3339 time such as 2027-01-01T00:00:00Z")
		}
		expiresAt = t.UTC().Truncate(time.Second)
	}
	if in.ExtendDays != nil && (*in.ExtendDays < 1 || *in.ExtendDays > 3660) {
		return View{}, errs.Invalidf("extendDays", "invalid_extend_days", "extendDays must be 1 to 3660")
	}
	period := func(field string, v *int, def int) (int, error) {
		if v == nil {
			return def, nil
		}
		if *v < 0 || *v > MaxPeriodDays {
			return 0, errs.Invalidf(field, "invalid_period", "%s must be 0 to %d days", field, MaxPeriodDays)
		}
		return *v, nil
	}
	grace, err := period("gracePeriodDays", in.GracePeriodDays, DefaultGraceDays)
	if err != nil {
		return View{}, err
	}
	retention, err := period("retentionPeriodDays", in.RetentionPeriodDays, DefaultRetentionDays)
	if err != nil {
		return View{}, err
	}
	tenantID, err := s.Store.TenantID(ctx, code)
	if err != nil {
		return View{}, err
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	r, err := s.update(ctx, tenantID, code, nil, func(r *Record) error {
		var exp time.Time
		if in.ExtendDays != nil {
			if r.ExpiresAt == nil {
				return errs.Invalidf("extendDays", "no_subscription", "there is no expiry to extend; give expiresAt")
			}
			// Renewal counts from the original expiry, not from today, even
			// when the tenant is in grace or retention.
			exp = r.ExpiresAt.Add(time.Duration(*in.ExtendDays) * 24 * time.Hour)
		} else {
			exp = expiresAt
		}
		if r.ExpiresAt == nil || !r.ExpiresAt.Equal(exp) {
			r.ExpiresAt, r.Since, r.Cycle, r.Done = &exp, &now, ids.New(now), []string{}
		}
		r.Plan, r.GraceDays, r.RetentionDays = plan, grace, retention
		r.UpdatedAt = now
		return nil
	})
	if err != nil {
		return View{}, err
	}
	return s.view(r, now), nil
}

// Get returns the tenant's subscription.
func (s *Service) Get(ctx context.Context, tenantID, code string) (View, error) {
	r, found, err := s.Store.Get(ctx, code)
	if err != nil {
		return View{}, err
	}
	if !found || r.TenantID != tenantID {
		r = NewRecord(tenantID, code)
	}
	return s.view(r, s.Now()), nil
}

// Settings returns the tenant's expiry notice settings (the defaults until
// an admin saves some).
func (s *Service) Settings(ctx context.Context, tenantID, code string) (Settings, error) {
	r, found, err := s.Store.Get(ctx, code)
	if err != nil {
		return Settings{}, err
	}
	if !found || r.TenantID != tenantID {
		return DefaultSettings(), nil
	}
	return r.EffectiveSettings(), nil
}

// SaveSettings checks and saves the tenant's expiry notice settings.
// Recipients must be enabled members of the tenant; a member of another
// tenant is simply not found in this one.
func (s *Service) SaveSettings(ctx context.Context, tenantID, code string, in Settings) (Settings, error) {
	st, err := NormalizeSettings(in)
	if err != nil {
		return Settings{}, err
	}
	if len(st.Recipients) > 0 {
		members, err := s.Directory.Members(ctx, tenantID, st.Recipients)
		if err != nil {
			return Settings{}, err
		}
		for _, id := range st.Recipients {
			i := slices.IndexFunc(members, func(m directory.Member) bool { return m.ID == id })
			if i < 0 {
				return Settings{}, errs.Invalidf("recipients", "unknown_recipient", "recipients: no member %s in this enterprise", id)
			}
			if !members[i].Enabled {
				return Settings{}, errs.Invalidf("recipients", "recipient_disabled", "recipients: member %s is disabled", id)
			}
		}
	}
	now := s.Now().UTC().Truncate(time.Millisecond)
	change := &audit.Change{Action: audit.NoticeSettingsUpdate, Target: "expiry-notice-settings", Fields: []string{"channels", "daysBefore", "recipients", "time", "timezone"}}
	if _, err := s.update(ctx, tenantID, code, change, func(r *Record) error {
		r.Settings, r.SettingsSince, r.UpdatedAt = &st, &now, now
		return nil
	}); err != nil {
		return Settings{}, err
	}
	return st, nil
}
