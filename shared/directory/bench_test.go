package directory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/directory"
	"workbench/shared/dynamo"
	"workbench/shared/ids"
)

const seedMembers = 2000

var (
	seedOnce  sync.Once
	seeded    *testStack
	seedInfo  tenantInfo
	seedPhone []string
)

var (
	surnames = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗")
	given    = []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华飞鹏辉玲燕")
)

// seed fills one tenant with 2,000 members, written with BatchWriteItem as
// exactly the items CreateItems builds (moto's transactions slow down with
// the table's size; the items are the same).
func seed(b *testing.B) (*testStack, tenantInfo) {
	seedOnce.Do(func() {
		s := newStack(b)
		tn := s.newTenant(b)
		r := rand.New(rand.NewPCG(1, 2))
		now := time.Now().UTC().Truncate(time.Millisecond)
		var items []map[string]types.AttributeValue
		for i := range seedMembers {
			name := string(surnames[i%len(surnames)]) + string(given[(i/len(surnames))%len(given)])
			if i%3 == 0 {
				name += string(given[r.IntN(len(given))])
			}
			mobile := fmt.Sprintf("1%d%09d", 3+r.IntN(6), r.IntN(1_000_000_000))
			seedPhone = append(seedPhone, mobile)
			m := directory.Member{
				ID: ids.New(now), TenantID: tn.ID, Name: name, Mobile: mobile,
				Account: fmt.Sprintf("%s%d", directory.AccountFromName(name)[:min(len(directory.AccountFromName(name)), 14)], i),
				Role:    directory.RoleMember, Enabled: true, DepartmentIDs: []string{}, Fields: map[string]any{},
				CreatedAt: now, UpdatedAt: now, Version: 1,
			}
			its, err := s.Codec.SeedItems(m)
			if err != nil {
				b.Fatal(err)
			}
			items = append(items, its...)
		}
		ctx := context.Background()
		for len(items) > 0 {
			chunk := items[:min(len(items), dynamo.MaxBatchWrite)]
			items = items[len(chunk):]
			req := make([]types.WriteRequest, len(chunk))
			for i, it := range chunk {
				req[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
			}
			pending := map[string][]types.WriteRequest{s.Tables["DirectoryTable"]: req}
			for len(pending) > 0 {
				out, err := s.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
				if err != nil {
					b.Fatal(err)
				}
				pending = out.UnprocessedItems
			}
		}
		seeded, seedInfo = s, tn
	})
	return seeded, seedInfo
}

func measure(b *testing.B, s *testStack, op func(i int) int) {
	b.Helper()
	s.Counter.Reset()
	results := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		results += op(i)
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Counter.Calls())/float64(b.N), "ddbcalls/op")
	b.ReportMetric(float64(s.Counter.Items())/float64(b.N), "itemsread/op")
	b.ReportMetric(float64(results)/float64(b.N), "results/op")
}

func BenchmarkDirectory(b *testing.B) {
	s, tn := seed(b)
	ctx := context.Background()
	b.Run("create", func(b *testing.B) {
		measure(b, s, func(i int) int {
			_, err := s.Service.CreateMember(ctx, tn.ID, tn.Code, directory.MemberInput{Name: "张伟", Mobile: s.mobile()})
			if err != nil {
				b.Fatal(err)
			}
			return 1
		})
		if calls := float64(s.Counter.Calls()) / float64(b.N); calls > 2 {
			b.Fatalf("create took %.1f round trips, more than 2", calls)
		}
	})
	searchBench := func(name string, q func(i int) string) {
		b.Run(name, func(b *testing.B) {
			measure(b, s, func(i int) int {
				ms, _, err := s.Service.Search(ctx, tn.ID, q(i), "", 50)
				if err != nil {
					b.Fatal(err)
				}
				if len(ms) == 0 {
					b.Fatalf("search %q found nothing", q(i))
				}
				return len(ms)
			})
			if calls := float64(s.Counter.Calls()) / float64(b.N); calls > 3 {
				b.Fatalf("search took %.1f round trips, more than 3", calls)
			}
		})
	}
	searchBench("search-initials", func(int) string { return "zw" })
	searchBench("search-mobile-suffix", func(i int) string { m := seedPhone[(i*97)%seedMembers]; return m[len(m)-4:] })
	searchBench("search-name-fragment", func(int) string { return "李娜" })
	b.Run("list-page-50", func(b *testing.B) {
		measure(b, s, func(i int) int {
			ms, _, err := s.Service.ListMembers(ctx, tn.ID, "", "", 50)
			if err != nil || len(ms) != 50 {
				b.Fatal(len(ms), err)
			}
			return len(ms)
		})
	})
}
