package identity_test

import (
	"slices"
	"testing"
	"time"

	"workbench/infra/stacktest"
	"workbench/shared/dynamo"
)

// roundTrips collects the DynamoDB round trips of each login.
type roundTrips struct {
	counter *dynamo.Counter
	calls   []int
	items   int
}

func (rt *roundTrips) start() { rt.counter.Reset() }

func (rt *roundTrips) stop() {
	rt.calls = append(rt.calls, rt.counter.Calls())
	rt.items += rt.counter.Items()
}

// report gives the mean calls and items per login, and holds the typical
// login (the median: the local moto now and then loses an answer, and the
// write that recovers from it costs a read) to the limit.
func (rt *roundTrips) report(b *testing.B, what string, limit int) {
	total := 0
	for _, c := range rt.calls {
		total += c
	}
	b.ReportMetric(float64(total)/float64(len(rt.calls)), "ddbcalls/op")
	b.ReportMetric(float64(rt.items)/float64(len(rt.calls)), "ddbitems/op")
	sorted := slices.Clone(rt.calls)
	slices.Sort(sorted)
	if median := sorted[len(sorted)/2]; median > limit {
		b.Errorf("%s takes %d DynamoDB round trips, want at most %d", what, median, limit)
	}
}

// BenchmarkSMSLogin measures a successful SMS login through the handler
// (API Gateway event in, response out) against moto. Asking for the code
// is not timed or counted.
func BenchmarkSMSLogin(b *testing.B) {
	rt := &roundTrips{counter: &dynamo.Counter{}}
	s := newStack(b, stacktest.WithEnv(map[string]string{"SMS_DAILY_LIMIT_PER_MOBILE": "100000"}), stacktest.WithCounter(rt.counter))
	ten := newTenant(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s.Clock.Add(61 * time.Second)
		before := len(s.SMS(b, ten.AdminMobile))
		if r := s.Do(b, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "login")); r.Status != 202 {
			b.Fatal(r.Raw)
		}
		code := lastCode(b, s, ten.AdminMobile, before)
		rt.start()
		b.StartTimer()
		if r := s.Do(b, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)); r.Status != 200 {
			b.Fatal(r.Raw)
		}
		b.StopTimer()
		rt.stop()
		b.StartTimer()
	}
	b.StopTimer()
	rt.report(b, "an SMS login", 4)
}

// BenchmarkPasswordLogin measures a successful password login through the
// handler against moto, argon2id included.
func BenchmarkPasswordLogin(b *testing.B) {
	rt := &roundTrips{counter: &dynamo.Counter{}}
	s := newStack(b, stacktest.WithCounter(rt.counter))
	ten := newTenant(b, s)
	access := smsLogin(b, s, ten.Code, ten.AdminMobile).Str("accessToken")
	if r := s.Do(b, "PUT", "/v1/me/password", access, map[string]any{"password": "Bench-Pass-2026"}); r.Status != 204 {
		b.Fatal(r.Raw)
	}
	body := map[string]any{"tenant": ten.Code, "method": "password", "account": ten.AdminAccount, "password": "Bench-Pass-2026"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rt.start()
		b.StartTimer()
		if r := s.Do(b, "POST", "/v1/auth/login", "", body); r.Status != 200 {
			b.Fatal(r.Raw)
		}
		b.StopTimer()
		rt.stop()
		b.StartTimer()
	}
	b.StopTimer()
	rt.report(b, "a password login", 4)
}
