package stacktest_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"workbench/infra/moto"
	"workbench/infra/stacktest"
)

// Member creates are transactions of a dozen items; stock moto kept a copy
// of the whole table per item for as long as it ran, so its memory and the
// time of each create grew with every member (see infra/moto). Not
// parallel: the shared moto's memory must be this test's alone.
func TestMemberCreatesHoldMotoMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("200 creates")
	}
	st := stacktest.New(t)
	tn := st.NewTenant(t)
	ctx := context.Background()

	var afterTen moto.Stats
	took := make([]time.Duration, 0, 200)
	for i := range 200 {
		start := time.Now()
		r := st.Call(t, http.MethodPost, "/v1/admin/members", tn.Admin.Token, map[string]any{
			"name": fmt.Sprintf("工人%d", i), "mobile": st.Mobile(), "account": fmt.Sprintf("worker%d", i),
		})
		took = append(took, time.Since(start))
		stacktest.Want(t, r, http.StatusCreated)
		if i == 9 {
			afterTen = stats(ctx, t, st)
		}
	}
	last := stats(ctx, t, st)
	t.Logf("moto RSS %d MiB after 10 creates, %d MiB after 200; a create took %v around the tenth, %v at the end (times are not asserted)",
		afterTen.RSSBytes>>20, last.RSSBytes>>20, median(took[5:15]), median(took[190:]))
	if last.RSSBytes > 2*afterTen.RSSBytes {
		t.Errorf("moto RSS grew from %d to %d bytes over 190 creates: more than 2×", afterTen.RSSBytes, last.RSSBytes)
	}
	if last.TablesAlive != afterTen.TablesAlive {
		t.Errorf("moto holds %d table objects after 200 creates, %d after 10: transactions leave copies", last.TablesAlive, afterTen.TablesAlive)
	}
}

func stats(ctx context.Context, t *testing.T, st *stacktest.Stack) moto.Stats {
	t.Helper()
	s, err := moto.ReadStats(ctx, st.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// A create at a plant's size costs what it costs in an empty directory: the
// ratio is reported, not asserted (times depend on the machine). Seeded
// with every item a create writes (member, uniqueness, search tokens), in
// another tenant and in the same one.
func BenchmarkMemberCreateAtScale(b *testing.B) {
	st := stacktest.New(b)
	create := func(b *testing.B, tn stacktest.Tenant) time.Duration {
		start := time.Now()
		for i := range b.N {
			r := st.Call(b, http.MethodPost, "/v1/admin/members", tn.Admin.Token, map[string]any{
				"name": fmt.Sprintf("新员工%d", i), "mobile": st.Mobile(),
			})
			stacktest.Want(b, r, http.StatusCreated)
		}
		return time.Since(start) / time.Duration(b.N)
	}
	var empty time.Duration
	b.Run("members=0", func(b *testing.B) {
		empty = create(b, st.NewTenant(b))
	})
	tn := st.NewTenant(b)
	st.SeedDirectory(b, tn, 10_000)
	b.Run("members=10000", func(b *testing.B) {
		at := create(b, tn)
		b.ReportMetric(float64(at)/float64(empty), "x-empty")
	})
}
