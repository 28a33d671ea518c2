package billing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/infra/stacktest"
	"workbench/shared/billing"
	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
)

// BenchmarkExpiryScan: 5,000 tenants with subscriptions expiring over a
// year, 20 of them with their 7-day warning due. One scan must read O(20)
// items, not O(5,000): it finds them through the due index. Each due row
// carries the snapshot of its recipients taken when the previous step (the
// 15-day warning) was sent, so a due notice costs the read of its row and
// nothing else while the snapshot is current (items/due ≤ 1.5); the same
// run also measures rows without a snapshot (items/due-cold: row, admin
// set, admins).
func BenchmarkExpiryScan(b *testing.B) {
	const tenants, due = 5000, 20
	now := utc("2027-06-01T04:00:00Z") // 12:00 in Beijing
	var counter dynamo.Counter
	h := newHarness(b, now, stacktest.WithCounter(&counter))
	table := h.Tables["TenantsTable"]
	ctx := context.Background()

	// Each due tenant has one admin to warn, created through the directory
	// (which keeps the tenant's admin set), and its snapshot.
	dir := &directory.Service{Store: &directory.DynamoStore{DB: h.DynamoDB(), Codec: h.codec}, Now: h.clock.Now}
	roster := &directory.Roster{DB: h.DynamoDB(), Table: h.codec.Table, Codec: h.codec}
	snapshots := make([]directory.Recipients, due)
	for i := range due {
		tenantID := fmt.Sprintf("t%04d", i)
		if _, err := dir.AddMember(ctx, tenantID, directory.MemberInput{Name: "王五", Mobile: h.Mobile(), Role: directory.RoleAdmin}); err != nil {
			b.Fatal(err)
		}
		to, err := roster.Recipients(ctx, tenantID, nil)
		if err != nil || len(to.Members) != 1 {
			b.Fatalf("snapshot of %s: %+v %v", tenantID, to, err)
		}
		snapshots[i] = to
	}

	record := func(i int, snapshot bool) billing.Record {
		r := billing.NewRecord(fmt.Sprintf("t%04d", i), fmt.Sprintf("bench-%04d", i))
		since := now.Add(-60 * 24 * time.Hour)
		exp := now.Add(time.Duration(40+i*360/tenants) * 24 * time.Hour)
		if i < due {
			// Expires 2027-06-08 00:00 Beijing: the 7-day warning was due
			// at 2027-06-01 10:00 Beijing, two hours ago.
			exp = now.Add(6*24*time.Hour + 20*time.Hour)
			r.Done = []string{"d30", "d15"}
			if snapshot {
				r.To = &snapshots[i]
			}
		}
		r.Plan, r.ExpiresAt, r.Since, r.GraceDays, r.RetentionDays = "std", &exp, &since, 7, 15
		r.Cycle, r.UpdatedAt, r.Version = ids.New(now), now, 1
		if err := r.Reindex(); err != nil {
			b.Fatal(err)
		}
		return r
	}
	var writes []map[string]types.AttributeValue
	flush := func(table string) {
		h.BatchWrite(b, table, writes)
		writes = nil
	}
	put := func(r billing.Record) {
		item, err := r.Item()
		if err != nil {
			b.Fatal(err)
		}
		writes = append(writes, item)
	}
	for i := range tenants {
		put(record(i, true))
	}
	flush(table)

	// scan runs one scan over fresh cycles of the due tenants (as if just
	// renewed: their warning is due again) and returns what it cost.
	scan := func(snapshot bool) (calls, items, queries int) {
		b.StopTimer()
		for i := range due {
			put(record(i, snapshot))
		}
		flush(table)
		counter.Reset()
		b.StartTimer()

		out := h.Invoke(b, "ExpiryScanFunction", map[string]any{"time": now.Format(time.RFC3339)})

		b.StopTimer()
		var rep billing.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			b.Fatal(err)
		}
		if rep.Due != due || len(rep.Notices) != due || rep.Pending != 0 {
			b.Fatalf("scan: due %d, sent %d, pending %d", rep.Due, len(rep.Notices), rep.Pending)
		}
		if counter.Calls("Scan") != 0 {
			b.Fatal("the scan used a table Scan")
		}
		b.StartTimer()
		return counter.Calls(), counter.Items(), counter.Calls("Query")
	}
	var calls, items, queries, cold int
	b.ResetTimer()
	for range b.N {
		calls, items, queries = scan(true)
		if 2*items > 3*due {
			b.Fatalf("one scan read %d items for %d due warnings, more than 1.5 a notice", items, due)
		}
		_, cold, _ = scan(false)
	}
	b.StopTimer()
	b.ReportMetric(float64(calls), "ddbcalls/op")
	b.ReportMetric(float64(items), "ddbitems/op")
	b.ReportMetric(float64(queries), "queries/op")
	b.ReportMetric(float64(items)/due, "items/due")
	b.ReportMetric(float64(cold)/due, "items/due-cold")
}
