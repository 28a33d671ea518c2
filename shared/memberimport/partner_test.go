package memberimport_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"workbench/infra/stacktest"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
	"workbench/shared/memberimport"
	"workbench/shared/partner"
)

// partners is a partner app bound to a department of a tenant, with the
// partner sync's directory step (the worker's delivery is not needed to
// see which calls an import produces).
type partners struct {
	svc *partner.Service
	key partner.BindingKey
}

func bindPartner(t testing.TB, st *stacktest.Stack, r *memberimport.Runner, tenantID, deptID string) *partners {
	t.Helper()
	now := time.Now().UTC()
	store := &partner.DynamoStore{DB: st.DynamoDB(), Table: st.Tables["PartnersTable"]}
	codec := r.Directory.Store.(*directory.DynamoStore).Codec
	dir := &partner.RosterDirectory{Roster: &directory.Roster{DB: st.DynamoDB(), Table: codec.Table, Codec: codec}}
	b := partner.Binding{
		TenantID: tenantID, AppID: "bench-app", InstanceID: "i-1", Source: partner.SourceRegistry, State: partner.StateActive,
		BoundAt: now, UpdatedAt: now, DepartmentIDs: []string{deptID}, MemberIDs: []string{}, Users: []string{}, Orgs: []string{deptID},
		EventCursor: ids.New(now),
	}
	if err := store.Commit(context.Background(), partner.Change{Binding: b, Create: true}); err != nil {
		t.Fatal(err)
	}
	return &partners{
		svc: &partner.Service{Store: store, Directory: dir, Events: dir, Keys: r.Store.Keys, Now: time.Now, EventSettle: time.Millisecond},
		key: partner.BindingKey{TenantID: tenantID, AppID: "bench-app"},
	}
}

// sync runs the partner sync's directory step, as its schedule does.
func (p *partners) sync(t testing.TB) {
	t.Helper()
	if _, err := p.svc.SyncDirectory(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// authSyncs returns the users of each authSync call of the binding, by flag.
func (p *partners) authSyncs(t testing.TB) map[int][]int {
	t.Helper()
	out := map[int][]int{}
	seen := map[string]bool{}
	// A page of the outbox ends at 1 MB (a few calls of 500 users); the
	// next page starts at the last call read.
	for from := ""; ; {
		calls, next, err := p.svc.Store.Calls(context.Background(), p.key, from, 1000, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			if c.Kind == partner.KindAuthSync && !seen[c.ID] {
				out[c.Flag] = append(out[c.Flag], c.Users)
			}
			seen[c.ID] = true
		}
		if next == "" || next == from {
			break
		}
		from = next
	}
	return out
}

func department(t testing.TB, st *stacktest.Stack, token, name string) string {
	t.Helper()
	var d struct{ ID string }
	r := st.Call(t, "POST", "/v1/admin/departments", token, map[string]string{"name": name})
	stacktest.Want(t, r, 201)
	r.Decode(t, &d)
	return d.ID
}

// TestImportReachesPartnersInBatches imports 600 members into a department
// a partner app sees: the partner sync turns them into authSync adds of at
// most 500 users, and the members' create events, applied later, send
// nothing more.
func TestImportReachesPartnersInBatches(t *testing.T) {
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	dept := department(t, st, tn.Admin.Token, "总装车间")
	r := runner(t, st, &jobDB{}, &sentSMS{})
	p := bindPartner(t, st, r, tn.ID, dept)
	svc := &memberimport.Service{Store: r.Store, Directory: r.Directory, Trigger: noTrigger{}, Now: r.Now}
	ctx := context.Background()
	j, err := svc.Start(ctx, tn.ID, tn.Code, tn.Admin.ID, []byte(csvOf("姓名,手机号,部门", 600, 13400000000, "总装车间")), memberimport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.MaxRows = 250
	if err := r.Run(ctx, tn.ID, j.ID); err != nil { // 250 rows, then hands over
		t.Fatal(err)
	}
	half := time.Now()
	r.Trigger.(*memberimport.LocalTrigger).Wait()
	// A run while the last 350 create events are still settling: the
	// snapshot has all 600 members, the cursor stops after the first 250
	// events.
	p.svc.EventSettle = 5 * time.Second
	p.svc.Now = func() time.Time { return half.Add(5 * time.Second) }
	p.sync(t)
	// The next run applies the other 350 events: their members were sent
	// whole already.
	p.svc.EventSettle, p.svc.Now = time.Millisecond, time.Now
	p.sync(t)
	p.sync(t)
	got := p.authSyncs(t)
	total := 0
	for _, n := range got[partner.FlagAdd] {
		if n > partner.MaxUsersPerCall {
			t.Errorf("a call of %d users", n)
		}
		total += n
	}
	if total != 600 || len(got[partner.FlagAdd]) != 2 || len(got[partner.FlagModify]) != 0 {
		t.Errorf("authSync users per call by flag: %v, want 600 adds in 2 calls and no modifications", got)
	}
}

// BenchmarkImport10000 imports IMPORT_BENCH_ROWS (10,000) members into a
// department a partner app sees, on the local stack. The job runs in
// invocations of 2,500 rows that hand over to each other, and the partner
// sync's directory step runs between them, as its schedule would during an
// import (moto serves one request at a time, so a sync running beside the
// job would only stall it; the sync is not timed). It reports rows/s,
// DynamoDB round trips per row (the job's own: lookups, member
// transactions, cursor) and the authSync calls the partner gets.
func BenchmarkImport10000(b *testing.B) {
	rows := 10000
	if v, err := strconv.Atoi(os.Getenv("IMPORT_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	st := stacktest.New(b)
	ctx := context.Background()
	for i := range b.N {
		b.StopTimer()
		tn := st.NewTenant(b)
		dept := department(b, st, tn.Admin.Token, "总装车间")
		counter := &dynamo.Counter{}
		db := &jobDB{}
		r := runner(b, st, db, &sentSMS{})
		db.Client = st.DynamoDB(dynamo.WithCounter(counter))
		r.Trigger, r.MaxRows = noTrigger{}, 2500
		p := bindPartner(b, st, r, tn.ID, dept)
		svc := &memberimport.Service{Store: r.Store, Directory: r.Directory, Trigger: noTrigger{}, Now: r.Now}
		file := csvOf("姓名,手机号,部门", rows, 13000000000+int64(i)*100000, "总装车间/一班")
		j, err := svc.Start(ctx, tn.ID, tn.Code, tn.Admin.ID, []byte(file), memberimport.Options{CreateDepartments: true})
		if err != nil {
			b.Fatal(err)
		}
		counter.Reset()
		var elapsed time.Duration
		syncs, resumed := 0, 0
		for {
			b.StartTimer()
			start := time.Now()
			if err := r.Run(ctx, tn.ID, j.ID); err != nil {
				// A run that stops on an error is resumed, as Lambda's
				// retry would: the job's cursor is where the error left it.
				if resumed++; resumed > 5 {
					b.Fatal(err)
				}
				b.Logf("run stopped (%v); resuming", err)
			}
			elapsed += time.Since(start)
			b.StopTimer()
			p.sync(b)
			syncs++
			if out, _ := r.Store.Get(ctx, tn.ID, j.ID); out.State == memberimport.StateDone {
				break
			}
		}
		ddb := counter.Calls()
		p.sync(b)
		got := p.authSyncs(b)
		out, _ := r.Store.Get(ctx, tn.ID, j.ID)
		if out.State != memberimport.StateDone || out.Created != rows {
			b.Fatalf("import: %+v", out)
		}
		users, biggest := 0, 0
		for _, n := range got[partner.FlagAdd] {
			users += n
			biggest = max(biggest, n)
		}
		if users != rows || len(got[partner.FlagModify]) != 0 {
			b.Fatalf("authSync calls: %v", got)
		}
		b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(ddb)/float64(rows), "ddbcalls/row")
		b.ReportMetric(float64(len(got[partner.FlagAdd])), "authSyncCalls")
		b.ReportMetric(float64(biggest), "maxUsers/call")
		fmt.Fprintf(os.Stderr, "import of %d rows: %s in %d runs, %d DynamoDB calls (%d TransactWriteItems, %d BatchGetItem, %d GetItem, %d UpdateItem, %d Query, %d BatchWriteItem), authSync adds %v over %d sync runs\n",
			rows, elapsed.Round(time.Second), out.Runs, ddb, counter.Calls("TransactWriteItems"), counter.Calls("BatchGetItem"), counter.Calls("GetItem"),
			counter.Calls("UpdateItem"), counter.Calls("Query"), counter.Calls("BatchWriteItem"), got[partner.FlagAdd], syncs+1)
	}
}
