package identity_test

import (
	"testing"
	"time"

	"workbench/infra/stacktest"
	"workbench/shared/dynamo"
)

// BenchmarkSMSLogin measures a successful SMS login through the handler
// (API Gateway event in, response out) against moto. Asking for the code
// is not timed or counted.
func BenchmarkSMSLogin(b *testing.B) {
	counter := &dynamo.Counter{}
	s := newStack(b, stacktest.WithEnv(map[string]string{"SMS_DAILY_LIMIT_PER_MOBILE": "100000"}), stacktest.WithCounter(counter))
	ten := newTenant(b, s)
	calls, items := 0, 0
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
		counter.Reset()
		b.StartTimer()
		if r := s.Do(b, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)); r.Status != 200 {
			b.Fatal(r.Raw)
		}
		b.StopTimer()
		calls, items = calls+counter.Calls(), items+counter.Items()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(calls)/float64(b.N), "ddbcalls/op")
	b.ReportMetric(float64(items)/float64(b.N), "ddbitems/op")
	if calls := float64(calls) / float64(b.N); calls > 4 {
		b.Errorf("SMS login takes %.1f DynamoDB round trips, want at most 4", calls)
	}
}

// BenchmarkPasswordLogin measures a successful password login through the
// handler against moto, argon2id included.
func BenchmarkPasswordLogin(b *testing.B) {
	counter := &dynamo.Counter{}
	s := newStack(b, stacktest.WithCounter(counter))
	ten := newTenant(b, s)
	s.Clock.Add(61 * time.Second)
	before := len(s.SMS(b, ten.AdminMobile))
	s.Do(b, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "login"))
	r := s.Do(b, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, lastCode(b, s, ten.AdminMobile, before)))
	if r := s.Do(b, "PUT", "/v1/me/password", r.Str("accessToken"), map[string]any{"password": "Bench-Pass-2026"}); r.Status != 204 {
		b.Fatal(r.Raw)
	}
	counter.Reset()
	body := map[string]any{"tenant": ten.Code, "method": "password", "account": ten.AdminAccount, "password": "Bench-Pass-2026"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := s.Do(b, "POST", "/v1/auth/login", "", body); r.Status != 200 {
			b.Fatal(r.Raw)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(counter.Calls())/float64(b.N), "ddbcalls/op")
	b.ReportMetric(float64(counter.Items())/float64(b.N), "ddbitems/op")
	if calls := float64(counter.Calls()) / float64(b.N); calls > 4 {
		b.Errorf("password login takes %.1f DynamoDB round trips, want at most 4", calls)
	}
}
