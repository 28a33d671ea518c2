package approval_test

import (
	"testing"
	"time"

	"workbench/infra/stacktest"
)

// BenchmarkApprovalsToApprove: an approver with 60 pending approvals reads
// the first page of "to approve".
func BenchmarkApprovalsToApprove(b *testing.B) {
	s := newStack(b, now2026)
	tn := s.NewTenant(b)
	applicant, approver := s.Member(b, tn, "member"), s.Member(b, tn, "member")
	stacktest.Want(b, s.Call(b, "PUT", "/v1/approvals/chains/outing", tn.Admin.Token, map[string]any{"approvers": []map[string]string{{"memberId": approver.ID}}}), 200)
	for i := range 60 {
		s.Clock.Set(now2026.Add(time.Duration(i) * time.Second))
		stacktest.Want(b, s.Call(b, "POST", "/v1/approvals", applicant.Token, map[string]any{"form": "outing", "outing": map[string]string{
			"destination": "Plant 2", "start": "2026-12-01T01:00:00Z", "end": "2026-12-01T09:00:00Z"}}), 201)
	}
	s.Counter.Reset()
	b.ResetTimer()
	for range b.N {
		stacktest.Want(b, s.Call(b, "GET", "/v1/approvals/todo?limit=20", approver.Token, nil), 200)
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Counter.Calls("Query"))/float64(b.N), "queries/op")
	stacktest.ReportCounts(b, s.Counter, b.N)
}
