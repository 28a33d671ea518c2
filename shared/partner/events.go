package partner

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"workbench/shared/directory"
	"workbench/shared/errs"
	"workbench/shared/ids"
)

// maxEvents bounds the directory events applied to a tenant in one run.
// Events are small (an id, a type, a member and its departments), and a
// bulk import writes one per row: a run takes thousands, so that 10,000
// imported members are behind the cursor in a few runs, not fifty.
const maxEvents = 5000

// SyncDirectory applies the directory's new events to every active
// binding: members entering the scope (created in or moved into a visible
// department) get authSync flag 1, members changed inside it flag 2,
// members moved out flag 3, deleted members flag 0; departments added,
// changed or removed inside the scope get singleOrgSync 1/2/0. Each
// binding's calls and its event cursor are written in one transaction, so
// an event is turned into calls exactly once. It returns the bindings that
// got calls.
func (s *Service) SyncDirectory(ctx context.Context) ([]BindingKey, error) {
	if s.Events == nil {
		return nil, nil
	}
	bound, err := s.Store.Bound(ctx)
	if err != nil {
		return nil, err
	}
	byTenant := map[string][]Binding{}
	for _, b := range bound {
		if b.active(s.Now()) {
			byTenant[b.TenantID] = append(byTenant[b.TenantID], b)
		}
	}
	tenants := make([]string, 0, len(byTenant))
	for t := range byTenant {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	var kicked []BindingKey
	for _, tenantID := range tenants {
		bs := byTenant[tenantID]
		from := bs[0].EventCursor
		for _, b := range bs {
			from = min(from, b.EventCursor)
		}
		evs, err := s.Events.Events(ctx, tenantID, from, maxEvents)
		if err != nil {
			return kicked, err
		}
		// Events younger than the settle time wait for the next run: an
		// event of a slower writer stamped a moment earlier may not be
		// visible yet, and the cursor must never pass over it.
		settled := s.Now().Add(-s.settle())
		for i, e := range evs {
			if e.At.After(settled) {
				evs = evs[:i]
				break
			}
		}
		if len(evs) == 0 {
			continue
		}
		snap, err := s.Directory.Snapshot(ctx, tenantID)
		if err != nil {
			return kicked, err
		}
		for _, b := range bs {
			var mine []directory.Event
			for _, e := range evs {
				if e.ID > b.EventCursor {
					mine = append(mine, e)
				}
			}
			if len(mine) == 0 {
				continue
			}
			n, err := s.applyEvents(ctx, b, mine, snap)
			if errs.KindOf(err) == errs.Conflict {
				continue // an admin changed the binding meanwhile; next run
			}
			if err != nil {
				return kicked, err
			}
			if n > 0 {
				kicked = append(kicked, BindingKey{b.TenantID, b.AppID})
			}
		}
	}
	return kicked, nil
}

func (s *Service) applyEvents(ctx context.Context, b Binding, evs []directory.Event, snap Snapshot) (int, error) {
	ext, err := s.Store.Extensions(ctx, b.TenantID, b.AppID)
	if err != nil {
		return 0, err
	}
	touched, deleted, touchedDepts := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, e := range evs {
		switch e.Type {
		case directory.EventMemberUpdated:
			// A created member is new to the binding (entered) or was sent
			// whole by an earlier run that already saw it in the snapshot:
			// only a change after that is news. So a bulk import's members
			// go out as adds, in batches of 500, and never again as
			// modifications.
			touched[e.MemberID] = true
		case directory.EventMemberDeleted:
			deleted[e.MemberID] = true
		case directory.EventDepartmentUpdated:
			touchedDepts[e.DepartmentID] = true
		}
	}
	all := byID(snap.Members)
	sc := resolve(snap, b.DepartmentIDs, b.MemberIDs)
	users, orgs := sc.userIDs(), sc.orgIDs()
	entered, left := diff(b.Users, users), diff(users, b.Users)
	var changed, revoked, gone []string
	for _, id := range users {
		if touched[id] && !contains(entered, id) {
			changed = append(changed, id)
		}
	}
	for _, id := range left {
		if _, ok := all[id]; ok && !deleted[id] {
			revoked = append(revoked, id)
		} else {
			gone = append(gone, id)
		}
	}
	prev := b.Seq
	var calls []Call
	org := func(d Department, flag int) error {
		o := sc.org(d)
		c, err := s.newCall(&b, KindSingleOrgSync, flag, SingleOrgSync{
			TestFlag: s.TestFlag, TenantID: b.TenantID, OrgCode: o.OrgCode, OrgName: o.OrgName, ParentCode: o.ParentCode, Flag: flag,
		}, 0)
		calls = append(calls, c)
		return err
	}
	was := map[string]bool{}
	for _, id := range b.Orgs {
		was[id] = true
	}
	// Departments first (parents before children), so users never point
	// at an org the partner does not know yet.
	for _, d := range sc.order {
		switch {
		case !was[d.ID]:
			if err := org(d, FlagAdd); err != nil {
				return 0, err
			}
		case touchedDepts[d.ID]:
			if err := org(d, FlagModify); err != nil {
				return 0, err
			}
		}
	}
	for _, step := range []struct {
		flag int
		ids  []string
	}{{FlagAdd, entered}, {FlagModify, changed}, {FlagRevoked, revoked}, {FlagDelete, gone}} {
		more, err := s.authCalls(&b, sc, all, ext, step.flag, step.ids)
		if err != nil {
			return 0, err
		}
		calls = append(calls, more...)
	}
	depts := map[string]Department{}
	for _, d := range snap.Departments {
		depts[d.ID] = d
	}
	for _, id := range diff(orgs, b.Orgs) {
		d, ok := depts[id]
		if !ok {
			d = Department{ID: id}
		}
		d.ParentID = "" // the partner drops it wherever it was
		if err := org(d, FlagDelete); err != nil {
			return 0, err
		}
	}
	b.Users, b.Orgs = users, orgs
	b.EventCursor = evs[len(evs)-1].ID
	b.UpdatedAt = s.Now().UTC()
	if err := s.Store.Commit(ctx, Change{Binding: b, PrevSeq: prev, Calls: calls}); err != nil {
		return 0, err
	}
	slog.InfoContext(ctx, "directory events applied", "tenant", b.TenantID, "app", b.AppID, "events", len(evs), "calls", len(calls))
	return len(calls), nil
}

// DefaultEventSettle is how old a directory event must be to be applied.
const DefaultEventSettle = 5 * time.Second

func (s *Service) settle() time.Duration {
	if s.EventSettle > 0 {
		return s.EventSettle
	}
	return DefaultEventSettle
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// eventCursorAt is the cursor of a new binding: events from a second
// before it are applied (harmlessly, if already reflected) rather than
// risk missing one written in the same millisecond.
func eventCursorAt(t time.Time) string { return ids.New(t.Add(-time.Second)) }
