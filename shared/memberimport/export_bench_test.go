package memberimport_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"workbench/infra/moto"
	"workbench/infra/stacktest"
)

// BenchmarkExport10000 exports a directory of EXPORT_BENCH_MEMBERS (10,000)
// members through the export route on the local stack, as CSV and as XLSX.
// The members are seeded with every item a create writes (uniqueness
// reservations, search tokens), so the tenant's partition holds what a
// plant's would, ~14 items a member: every page of the export is a Query
// into that partition. It reports members/s and the Queries moto served.
func BenchmarkExport10000(b *testing.B) {
	members := 10000
	if v, err := strconv.Atoi(os.Getenv("EXPORT_BENCH_MEMBERS")); err == nil && v > 0 {
		members = v
	}
	st := stacktest.New(b)
	tn := st.NewTenant(b)
	items := st.SeedDirectory(b, tn, members)
	fmt.Fprintf(os.Stderr, "export bench: %d members seeded as %d directory items\n", members, items)
	for _, format := range []string{"csv", "xlsx"} {
		b.Run("format="+format, func(b *testing.B) {
			before := queries(b, st)
			b.ResetTimer()
			var took time.Duration
			for range b.N {
				start := time.Now()
				r := st.Call(b, "GET", "/v1/admin/members/export?format="+format, tn.Admin.Token, nil)
				took += time.Since(start)
				stacktest.Want(b, r, 200)
				if format == "csv" {
					// The seeded members and the tenant's admin, under a header.
					if rows := csvRows(b, r.Body); rows != members+2 {
						b.Fatalf("export has %d rows, want %d", rows, members+2)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(members*b.N)/took.Seconds(), "members/s")
			b.ReportMetric(float64(queries(b, st)-before)/float64(b.N), "queries/op")
		})
	}
}

func csvRows(b *testing.B, body []byte) int {
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		b.Fatalf("export is not CSV: %v", err)
	}
	return len(rows)
}

// queries is how many Queries the stack's moto has served.
func queries(b *testing.B, st *stacktest.Stack) int {
	s, err := moto.ReadStats(context.Background(), st.Endpoint)
	if err != nil {
		b.Fatal(err)
	}
	return s.QueriesNarrowed + s.QueriesWhole
}
