package partner

import (
	"context"
	"strings"
	"time"

	"workbench/shared/audit"
	"workbench/shared/errs"
)

// Marketplace activities.
const (
	ActivityNew     = "newInstance"
	ActivityRefresh = "refreshInstance"
	ActivityExpire  = "expireInstance"
	ActivityRelease = "releaseInstance"
)

// InstanceInput is a marketplace instance callback. newInstance names the
// order, app and tenant; the others name the instance.
type InstanceInput struct {
	Activity   string `json:"activity"`
	OrderID    string `json:"orderId"`
	InstanceID string `json:"instanceId"`
	AppID      string `json:"appId"`
	TenantCode string `json:"tenantCode"`
	ExpireTime string `json:"expireTime"`
	TestFlag   int    `json:"testFlag"`
	TimeStamp  any    `json:"timeStamp"`
}

// InstanceResult answers a marketplace callback.
type InstanceResult struct {
	ResultCode string `json:"resultCode"`
	ResultMsg  string `json:"resultMsg"`
	InstanceID string `json:"instanceId,omitempty"`
	State      string `json:"state,omitempty"`
}

func parseExpire(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, errs.Invalidf("expireTime", "invalid_expire_time", "expireTime must be an RFC 3339 time")
	}
	t = t.UTC()
	return &t, nil
}

// Instance carries out a marketplace callback (already authenticated).
func (s *Service) Instance(ctx context.Context, in InstanceInput) (InstanceResult, error) {
	expire, err := parseExpire(in.ExpireTime)
	if err != nil {
		return InstanceResult{}, err
	}
	switch in.Activity {
	case ActivityNew:
		return s.newInstance(ctx, in, expire)
	case ActivityRefresh, ActivityExpire, ActivityRelease:
	default:
		return InstanceResult{}, errs.Invalidf("activity", "invalid_activity", "activity must be newInstance, refreshInstance, expireInstance or releaseInstance")
	}
	if strings.TrimSpace(in.InstanceID) == "" {
		return InstanceResult{}, errs.Invalidf("instanceId", "instance_required", "instanceId is required")
	}
	o, err := s.Store.Order(ctx, "INSTANCE#"+in.InstanceID)
	if err != nil {
		return InstanceResult{}, err
	}
	b, err := s.Store.GetBinding(ctx, o.TenantID, o.AppID)
	if err != nil {
		return InstanceResult{}, err
	}
	if b.InstanceID != o.InstanceID || b.State == StateReleased {
		if in.Activity == ActivityRelease {
			return InstanceResult{ResultCode: "000000", ResultMsg: "released already", InstanceID: o.InstanceID, State: StateReleased}, nil
		}
		return InstanceResult{}, errs.NotFoundf("instance_not_found", "the instance was released")
	}
	prev := b.Seq
	var calls []Call
	switch in.Activity {
	case ActivityRefresh:
		if expire == nil {
			return InstanceResult{}, errs.Invalidf("expireTime", "expire_time_required", "refreshInstance needs the new expireTime")
		}
		b.ExpireTime, b.State = expire, StateActive
	case ActivityExpire:
		b.State = StateExpired
	case ActivityRelease:
		c, err := s.releaseCall(ctx, &b)
		if err != nil {
			return InstanceResult{}, err
		}
		calls = append(calls, c)
	}
	b.UpdatedAt = s.Now().UTC()
	if err := s.Store.Commit(ctx, Change{Binding: b, PrevSeq: prev, Calls: calls}); err != nil {
		return InstanceResult{}, err
	}
	if len(calls) > 0 {
		s.kick(ctx, b)
	}
	return InstanceResult{ResultCode: "000000", ResultMsg: "success", InstanceID: b.InstanceID, State: b.view(s.Now()).State}, nil
}

// releaseCall marks b released and returns its last call, tenantSync flag
// 0, which is delivered although the binding is no longer active.
func (s *Service) releaseCall(ctx context.Context, b *Binding) (Call, error) {
	b.State = StateReleased
	t, err := s.Tenants.Get(ctx, b.TenantCode)
	if err != nil {
		return Call{}, err
	}
	c, err := s.newCall(b, KindTenantSync, FlagDelete, s.tenantBody(*b, t, FlagDelete), 0)
	c.Final = true
	return c, err
}

// Unbind ends a registry binding (marketplace bindings end with the
// marketplace's releaseInstance) and sends tenantSync flag 0.
func (s *Service) Unbind(ctx context.Context, tenantID, appID string) error {
	b, err := s.liveBinding(ctx, tenantID, appID)
	if err != nil {
		return err
	}
	if b.Source == SourceMarketplace {
		return errs.E(errs.Conflict, "bound_by_marketplace", "the app was bought on the marketplace; it is released there")
	}
	prev := b.Seq
	c, err := s.releaseCall(ctx, &b)
	if err != nil {
		return err
	}
	b.UpdatedAt = s.Now().UTC()
	if err := s.Store.Commit(ctx, Change{Binding: b, PrevSeq: prev, Calls: []Call{c}, Audit: &audit.Change{Action: audit.AppUnbind, Target: "app/" + appID}}); err != nil {
		return err
	}
	s.kick(ctx, b)
	return nil
}

// newInstance binds the app bought by the order. The same orderId always
// answers the same instanceId, also when two callbacks race.
func (s *Service) newInstance(ctx context.Context, in InstanceInput, expire *time.Time) (InstanceResult, error) {
	for _, f := range []struct{ name, v string }{{"orderId", in.OrderID}, {"appId", in.AppID}, {"tenantCode", in.TenantCode}} {
		if strings.TrimSpace(f.v) == "" {
			return InstanceResult{}, errs.Invalidf(f.name, f.name+"_required", "%s is required", f.name)
		}
	}
	if len(in.OrderID) > 128 {
		return InstanceResult{}, errs.Invalidf("orderId", "invalid_order_id", "orderId must be at most 128 characters")
	}
	same := func() (InstanceResult, bool, error) {
		o, err := s.Store.Order(ctx, "ORDER#"+in.OrderID)
		if errs.KindOf(err) == errs.NotFound {
			return InstanceResult{}, false, nil
		}
		if err != nil {
			return InstanceResult{}, false, err
		}
		if o.AppID != in.AppID {
			return InstanceResult{}, true, errs.E(errs.Conflict, "order_mismatch", "orderId %s belongs to another app", in.OrderID)
		}
		// A repeated order answers as the first did, with the instance's
		// state now.
		r := InstanceResult{ResultCode: "000000", ResultMsg: "success", InstanceID: o.InstanceID, State: StateReleased}
		b, err := s.Store.GetBinding(ctx, o.TenantID, o.AppID)
		if err != nil && errs.KindOf(err) != errs.NotFound {
			return InstanceResult{}, true, err
		}
		if err == nil && b.InstanceID == o.InstanceID {
			r.State = b.view(s.Now()).State
		}
		return r, true, nil
	}
	if r, ok, err := same(); ok || err != nil {
		return r, err
	}
	app, err := s.Store.GetApp(ctx, in.AppID)
	if err != nil {
		return InstanceResult{}, err
	}
	t, err := s.Tenants.Get(ctx, in.TenantCode)
	if err != nil {
		return InstanceResult{}, err
	}
	now := s.Now().UTC()
	b := Binding{
		TenantID: t.ID, TenantCode: t.Code, AppID: app.ID, InstanceID: newID(now), OrderID: in.OrderID, EventCursor: eventCursorAt(now),
		Source: SourceMarketplace, State: StateActive, ExpireTime: expire, BoundAt: now, UpdatedAt: now,
		DepartmentIDs: []string{}, MemberIDs: []string{},
	}
	order := &Order{OrderID: in.OrderID, InstanceID: b.InstanceID, TenantID: t.ID, AppID: app.ID}
	if _, err := s.create(ctx, b, t, app, order); err != nil {
		if errs.Is(err, "order_exists") || errs.Is(err, "already_bound") {
			if r, ok, err2 := same(); ok || err2 != nil {
				return r, err2
			}
		}
		return InstanceResult{}, err
	}
	return InstanceResult{ResultCode: "000000", ResultMsg: "success", InstanceID: b.InstanceID, State: StateActive}, nil
}
