package billing

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"workbench/shared/audit"
	"workbench/shared/directory"
	"workbench/shared/notice"
)

// memStore is an in-memory Store with the same conditional semantics as
// DynamoStore, to test the scan's bookkeeping without a database.
type memStore struct {
	mu         sync.Mutex
	tenants    map[string]string // code → id
	recs       map[string]Record
	deliveries map[string]map[string]Delivery
	members    map[string][]directory.Member // tenant id → members
	snapshots  int                           // Recipients calls
}

func newMemStore() *memStore {
	return &memStore{tenants: map[string]string{}, recs: map[string]Record{}, deliveries: map[string]map[string]Delivery{}, members: map[string][]directory.Member{}}
}

func (m *memStore) TenantID(_ context.Context, code string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tenants[code], nil
}

func (m *memStore) Get(_ context.Context, code string) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[code]
	r.Done = append([]string(nil), r.Done...)
	return r, ok, nil
}

func (m *memStore) Put(_ context.Context, r *Record, prev int, _ *audit.Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs[r.TenantCode].Version != prev {
		return ErrStale
	}
	r.Version = prev + 1
	c := *r
	c.Done = append([]string(nil), r.Done...)
	m.recs[r.TenantCode] = c
	return nil
}

func (m *memStore) Due(_ context.Context, now time.Time) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.recs {
		if r.DuePK == DuePK && r.DueSK <= dueBound(now) {
			r.Done = append([]string(nil), r.Done...)
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DueSK < out[j].DueSK })
	return out, nil
}

func (m *memStore) Members(_ context.Context, tenantID string, ids []string) ([]directory.Member, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []directory.Member
	for _, mem := range m.members[tenantID] {
		if contains(ids, mem.ID) {
			out = append(out, mem)
		}
	}
	return out, nil
}

// adminsRev stands for the directory's revision of the admin set: the
// ids of the enabled admins, joined.
func (m *memStore) adminsRev(tenantID string) []string {
	var ids []string
	for _, mem := range m.members[tenantID] {
		if mem.Role == directory.RoleAdmin && mem.Enabled {
			ids = append(ids, mem.ID)
		}
	}
	return ids
}

func (m *memStore) Recipients(_ context.Context, tenantID string, named []string) (directory.Recipients, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snapshots++
	rs := directory.Recipients{Named: named, AdminsRev: len(m.adminsRev(tenantID))}
	ids := named
	if len(named) == 0 {
		ids = m.adminsRev(tenantID)
	}
	for _, id := range ids {
		r := directory.Recipient{ID: id}
		for _, mem := range m.members[tenantID] {
			if mem.ID == id {
				r = directory.Recipient{ID: id, Version: mem.Version, Send: mem.Enabled && (len(named) > 0 || mem.Role == directory.RoleAdmin), Mobile: mem.Mobile}
			}
		}
		rs.Members = append(rs.Members, r)
	}
	return rs, nil
}

func (m *memStore) Mobile(_ string, r directory.Recipient) (string, error) { return r.Mobile, nil }

// current says whether to is still what Recipients would answer, for
// memberID: the check DynamoStore.Claim makes in its transaction.
func (m *memStore) current(tenantID string, to directory.Recipients, memberID string) bool {
	if len(to.Named) == 0 && !slices.Equal(m.adminsRev(tenantID), idsOf(to)) {
		return false
	}
	for _, r := range to.Members {
		if len(to.Named) > 0 || r.ID == memberID {
			v := 0
			for _, mem := range m.members[tenantID] {
				if mem.ID == r.ID {
					v = mem.Version
				}
			}
			if v != r.Version {
				return false
			}
		}
	}
	return true
}

func idsOf(to directory.Recipients) []string {
	var ids []string
	for _, r := range to.Members {
		ids = append(ids, r.ID)
	}
	return ids
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (m *memStore) Deliveries(_ context.Context, code, cycle, step string) (map[string]Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Delivery{}
	for k, d := range m.deliveries[code] {
		if len(k) > len(deliveryPrefix(cycle, step)) && k[:len(deliveryPrefix(cycle, step))] == deliveryPrefix(cycle, step) {
			out[k] = d
		}
	}
	return out, nil
}

func (m *memStore) Claim(_ context.Context, code string, d Delivery, prev *Delivery, tenantID string, to directory.Recipients) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.deliveries[code] == nil {
		m.deliveries[code] = map[string]Delivery{}
	}
	cur, ok := m.deliveries[code][d.Key]
	if prev == nil && ok || prev != nil && (!ok || cur.Status != StatusClaimed || cur.ClaimedBy != prev.ClaimedBy) {
		return ErrStale
	}
	if !m.current(tenantID, to, d.MemberID) {
		return ErrRecipientsChanged
	}
	m.deliveries[code][d.Key] = d
	return nil
}

func (m *memStore) Finish(_ context.Context, code string, d Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.deliveries[code][d.Key]
	if cur.ClaimedBy != d.ClaimedBy {
		return ErrStale
	}
	cur.Status, cur.SentAt = d.Status, d.SentAt
	m.deliveries[code][d.Key] = cur
	return nil
}

type smsLog struct {
	mu   sync.Mutex
	sent map[string]int
	fail int // fail this many sends
}

func (s *smsLog) Send(_ context.Context, mobile, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("sns down")
	}
	if s.sent == nil {
		s.sent = map[string]int{}
	}
	s.sent[mobile]++
	return nil
}

type inbox struct {
	mu  sync.Mutex
	ids map[string]notice.Notice
}

func (b *inbox) Deliver(_ context.Context, n notice.Notice) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ids == nil {
		b.ids = map[string]notice.Notice{}
	}
	if _, ok := b.ids[n.ID]; !ok {
		b.ids[n.ID] = n
	}
	return nil
}

func setup(t *testing.T, expires, since string) (*memStore, *Scanner, *smsLog, *inbox, *time.Time) {
	t.Helper()
	st := newMemStore()
	st.tenants["acme"] = "t1"
	st.members["t1"] = []directory.Member{
		{ID: "a1", TenantID: "t1", Role: "admin", Enabled: true, Mobile: "13800000001", Version: 1},
		{ID: "a2", TenantID: "t1", Role: "admin", Enabled: true, Mobile: "13800000002", Version: 1},
		{ID: "m1", TenantID: "t1", Role: "member", Enabled: true, Mobile: "13800000003", Version: 1},
	}
	wall := at(since)
	svc := &Service{Store: st, Directory: st, Now: func() time.Time { return wall }}
	if _, err := svc.Set(context.Background(), "acme", SetInput{Plan: "std", ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	sms, box := &smsLog{}, &inbox{}
	sc := &Scanner{Store: st, Directory: st, SMS: sms, Notices: box, Clock: func() time.Time { return wall }}
	return st, sc, sms, box, &wall
}

func TestScanSendsEachStepOnceToAdmins(t *testing.T) {
	ctx := context.Background()
	_, sc, sms, box, _ := setup(t, "2027-01-31T00:00:00Z", "2027-01-21T00:00:00Z")
	// 7 days before, 10:00 Beijing = 2027-01-24T02:00Z.
	rep, err := sc.Scan(ctx, at("2027-01-24T01:59:00Z"))
	if err != nil || len(rep.Notices) != 0 {
		t.Fatalf("early run sent %+v %v", rep, err)
	}
	rep, err = sc.Scan(ctx, at("2027-01-24T02:05:00Z"))
	if err != nil || len(rep.Notices) != 1 || rep.Notices[0].Step != "d7" || rep.Notices[0].SMS != 2 || rep.Notices[0].System != 2 {
		t.Fatalf("7-day run: %+v %v", rep, err)
	}
	if sms.sent["13800000001"] != 1 || sms.sent["13800000002"] != 1 || sms.sent["13800000003"] != 0 || len(box.ids) != 2 {
		t.Fatalf("sms %v notices %d", sms.sent, len(box.ids))
	}
	rep, _ = sc.Scan(ctx, at("2027-01-24T02:05:00Z"))
	if rep.Due != 0 || len(rep.Notices) != 0 || sms.sent["13800000001"] != 1 {
		t.Fatalf("second run: %+v %v", rep, sms.sent)
	}
	rep, _ = sc.Scan(ctx, at("2027-02-01T00:00:00Z"))
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "grace" || rep.Notices[0].State != Grace {
		t.Fatalf("grace run: %+v", rep)
	}
	rep, _ = sc.Scan(ctx, at("2027-02-08T00:00:00Z"))
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "retention" || rep.Notices[0].State != Retention {
		t.Fatalf("retention run: %+v", rep)
	}
	rep, _ = sc.Scan(ctx, at("2027-03-08T00:00:00Z"))
	if rep.Due != 0 {
		t.Fatalf("finished cycle still due: %+v", rep)
	}
	if sms.sent["13800000001"] != 3 || len(box.ids) != 6 {
		t.Fatalf("totals: sms %v notices %d", sms.sent, len(box.ids))
	}
}

func TestScanConcurrentRunsSendOnce(t *testing.T) {
	ctx := context.Background()
	_, sc, sms, box, _ := setup(t, "2027-01-31T00:00:00Z", "2027-01-21T00:00:00Z")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := sc.Scan(ctx, at("2027-01-24T02:05:00Z")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if sms.sent["13800000001"] != 1 || sms.sent["13800000002"] != 1 || len(box.ids) != 2 {
		t.Fatalf("concurrent runs: sms %v notices %d", sms.sent, len(box.ids))
	}
}

func TestScanTakesOverAFailedDeliveryAfterTheLease(t *testing.T) {
	ctx := context.Background()
	st, sc, sms, _, wall := setup(t, "2027-01-31T00:00:00Z", "2027-01-21T00:00:00Z")
	sms.fail = 1 // the first SMS fails after its claim, as if the run crashed there
	rep, _ := sc.Scan(ctx, at("2027-01-24T02:05:00Z"))
	if rep.Pending != 1 {
		t.Fatalf("failed run: %+v", rep)
	}
	total := func() int {
		n := 0
		for _, c := range sms.sent {
			n += c
		}
		return n
	}
	if total() != 1 {
		t.Fatalf("sent %v", sms.sent)
	}
	// Within the lease another run leaves the claim alone.
	rep, _ = sc.Scan(ctx, at("2027-01-24T02:20:00Z"))
	if rep.Pending != 1 || total() != 1 {
		t.Fatalf("run within lease: %+v %v", rep, sms.sent)
	}
	*wall = wall.Add(DefaultLease + time.Second)
	rep, _ = sc.Scan(ctx, at("2027-01-24T02:35:00Z"))
	if rep.Pending != 0 || len(rep.Notices) != 1 || rep.Notices[0].SMS != 1 || rep.Notices[0].System != 0 {
		t.Fatalf("takeover: %+v", rep)
	}
	if sms.sent["13800000001"] != 1 || sms.sent["13800000002"] != 1 {
		t.Fatalf("after takeover: %v", sms.sent)
	}
	r := st.recs["acme"]
	if !contains(r.Done, "d7") || r.DueSK[:20] != "2027-01-31T00:00:00Z" {
		t.Fatalf("not advanced: %v %s", r.Done, r.DueSK)
	}
}

func TestRenewalStartsANewCycle(t *testing.T) {
	ctx := context.Background()
	_, sc, sms, _, wall := setup(t, "2027-01-31T00:00:00Z", "2027-01-21T00:00:00Z")
	if _, err := sc.Scan(ctx, at("2027-02-01T00:00:00Z")); err != nil { // grace notice
		t.Fatal(err)
	}
	svc := &Service{Store: sc.Store, Now: func() time.Time { return *wall }}
	*wall = at("2027-02-03T00:00:00Z")
	ext := 30
	v, err := svc.Set(ctx, "acme", SetInput{Plan: "std", ExtendDays: &ext})
	if err != nil || !v.ExpiresAt.Equal(at("2027-03-02T00:00:00Z")) || v.State != Valid {
		t.Fatalf("renewal counted from the original expiry: %+v %v", v, err)
	}
	// 2027-03-02 minus 30 days is past, 15 days ahead (2027-02-15) is not:
	// only 15 and 7.
	rep, _ := sc.Scan(ctx, at("2027-02-15T02:00:00Z"))
	if len(rep.Notices) != 1 || rep.Notices[0].Step != "d15" {
		t.Fatalf("after renewal: %+v", rep)
	}
	if sms.sent["13800000001"] != 2 {
		t.Fatalf("sms %v", sms.sent)
	}
}

// A due row's snapshot of its recipients spares the directory read while it
// is current; a change of the recipients makes the next claim fail its
// check, and the step is sent with a new snapshot, once.
func TestScanReadsRecipientsOnlyWhenTheirSnapshotIsStale(t *testing.T) {
	ctx := context.Background()
	st, sc, sms, _, _ := setup(t, "2027-01-31T00:00:00Z", "2027-01-21T00:00:00Z")
	if rep, err := sc.Scan(ctx, at("2027-01-24T02:05:00Z")); err != nil || len(rep.Notices) != 1 || st.snapshots != 1 {
		t.Fatalf("7-day run: %+v %v, %d snapshots", rep, err, st.snapshots)
	}
	if rep, err := sc.Scan(ctx, at("2027-01-31T00:05:00Z")); err != nil || len(rep.Notices) != 1 || st.snapshots != 1 {
		t.Fatalf("grace run: %+v %v, %d snapshots (the row's was current)", rep, err, st.snapshots)
	}
	st.mu.Lock()
	st.members["t1"][1].Mobile, st.members["t1"][1].Version = "13800000009", 2
	st.mu.Unlock()
	rep, err := sc.Scan(ctx, at("2027-02-07T00:05:00Z"))
	if err != nil || len(rep.Notices) != 1 || rep.Notices[0].SMS != 2 || st.snapshots != 2 {
		t.Fatalf("retention run: %+v %v, %d snapshots", rep, err, st.snapshots)
	}
	if sms.sent["13800000009"] != 1 || sms.sent["13800000002"] != 2 || sms.sent["13800000001"] != 3 {
		t.Fatalf("SMS: %v", sms.sent)
	}
}
