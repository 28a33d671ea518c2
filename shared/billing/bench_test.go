package billing_test

import (
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

// BenchmarkExpiryScan: 2,000 tenants with subscriptions expiring over a
// year, 20 of them with their 7-day warning due. One scan must read O(20)
// items, not O(2,000): it finds them through the due index.
func BenchmarkExpiryScan(b *testing.B) {
	const tenants, due = 2000, 20
	now := utc("2027-06-01T04:00:00Z") // 12:00 in Beijing
	var counter dynamo.Counter
	h := newHarness(b, now, stacktest.WithCounter(&counter))
	table := h.Tables["TenantsTable"]

	record := func(i int) billing.Record {
		r := billing.NewRecord(fmt.Sprintf("t%04d", i), fmt.Sprintf("bench-%04d", i))
		since := now.Add(-60 * 24 * time.Hour)
		exp := now.Add(time.Duration(40+i*360/tenants) * 24 * time.Hour)
		if i < due {
			// Expires 2027-06-08 00:00 Beijing: the 7-day warning was due
			// at 2027-06-01 10:00 Beijing, two hours ago.
			exp = now.Add(6*24*time.Hour + 20*time.Hour)
			r.Done = []string{"d30", "d15"}
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
		put(record(i))
	}
	flush(table)
	// Each due tenant has one admin to warn.
	for i := range due {
		item, err := h.codec.Item(directory.Member{ID: ids.New(now), TenantID: fmt.Sprintf("t%04d", i), Name: "王五", Mobile: h.Mobile(),
			Account: "wangwu", Role: directory.RoleAdmin, Enabled: true, CreatedAt: now, UpdatedAt: now, Version: 1})
		if err != nil {
			b.Fatal(err)
		}
		writes = append(writes, item)
	}
	flush(h.Tables["DirectoryTable"])

	var calls, items, queries int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// A fresh cycle for the due tenants, as if just renewed: their
		// warning is due again.
		for i := range due {
			put(record(i))
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
		calls, items, queries = counter.Calls(), counter.Items(), counter.Calls("Query")
		if items > 3*due {
			b.Fatalf("one scan read %d items for %d due warnings", items, due)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(calls), "ddbcalls/op")
	b.ReportMetric(float64(items), "ddbitems/op")
	b.ReportMetric(float64(queries), "queries/op")
}
