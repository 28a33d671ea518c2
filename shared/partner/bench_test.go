package partner_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"workbench/shared/directory"
	"workbench/shared/partner"
)

// BenchmarkScopeChange5000 measures a visibility change that adds 5,000
// users (5,001 with the one seeded in the department): ⌈5001/500⌉ = 11
// authSync calls plus an allOrgSync, written with the binding in one
// transaction. On the emulator an op takes ~30 s (moto returns ~150 items
// a second); the DynamoDB round trips are the figure that carries over.
func BenchmarkScopeChange5000(b *testing.B) {
	f := newFixture(b)
	w := f.w
	const users = 5000
	ms := make([]directory.Member, users)
	for i := range ms {
		ms[i] = member(f.tenant, fmt.Sprintf("b%05d", i), "员工", fmt.Sprintf("bench%05d", i), "d4")
	}
	w.seedMembersOnly(ms)
	f.bind()
	ctx := context.Background()
	var calls, ddb int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// Back to an empty scope without the calls (the emulator needs
		// ~30 s to return 5,000 members; only the measured change reads them).
		bd, err := w.svc.Store.GetBinding(ctx, f.tenant, f.app)
		if err != nil {
			b.Fatal(err)
		}
		prev := bd.Seq
		bd.DepartmentIDs, bd.MemberIDs, bd.Users, bd.Orgs = []string{}, []string{}, []string{}, []string{}
		if err := w.svc.Store.Commit(ctx, partner.Change{Binding: bd, PrevSeq: prev}); err != nil {
			b.Fatal(err)
		}
		w.counter.Reset()
		b.StartTimer()
		out, err := w.svc.SetVisibility(ctx, f.tenant, f.app, partner.Scope{DepartmentIDs: []string{"d4"}})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if out.Entered != users+1 { // and zhaoliu, seeded in d4
			b.Fatalf("entered %d", out.Entered)
		}
		calls += out.Calls
		ddb += w.counter.Calls()
		b.StartTimer()
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
	b.ReportMetric(float64(ddb)/float64(b.N), "ddbcalls/op")
}

// BenchmarkDeliveryThroughput measures the worker against the local TLS
// partner: signing, TLS, one outbox write per call. An op delivers 50
// calls of one binding.
func BenchmarkDeliveryThroughput(b *testing.B) {
	f := newFixture(b)
	w := f.w
	f.bind()
	w.sweep()
	ctx := context.Background()
	const perOp = 50
	var elapsed time.Duration
	var ddb int
	for range b.N {
		b.StopTimer()
		for i := range perOp {
			scope := partner.Scope{}
			if i%2 == 0 {
				scope.MemberIDs = []string{"m1"}
			}
			if _, err := w.svc.SetVisibility(ctx, f.tenant, f.app, scope); err != nil {
				b.Fatal(err)
			}
		}
		w.counter.Reset()
		b.StartTimer()
		start := time.Now()
		st, err := w.worker.Deliver(ctx, []partner.BindingKey{{TenantID: f.tenant, AppID: f.app}})
		elapsed += time.Since(start)
		if err != nil || st.Sent != perOp {
			b.Fatalf("delivered %+v, %v", st, err)
		}
		ddb += w.counter.Calls()
	}
	b.ReportMetric(float64(perOp*b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(ddb)/float64(perOp*b.N), "ddbcalls/call")
}
