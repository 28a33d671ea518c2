package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/dynamo"
	"workbench/shared/stack"
)

// countedLogin builds LoginFunction on a DynamoDB client that counts round
// trips, sharing the stack's settings and clock.
func countedLogin(b *testing.B, s *Stack) (*Stack, *dynamo.Counter) {
	ctx := context.Background()
	env, err := cloud.Load(ctx, config.Map(s.Settings))
	if err != nil {
		b.Fatal(err)
	}
	c := &dynamo.Counter{}
	env.DynamoDB = dynamodb.NewFromConfig(env.AWS, dynamo.WithCounter(c))
	env.Now = s.Clock.Now
	h, err := stack.Functions["LoginFunction"](ctx, env)
	if err != nil {
		b.Fatal(err)
	}
	return &Stack{Env: env, Settings: s.Settings, Tables: s.Tables, Clock: s.Clock, IP: s.IP,
		handlers: map[string]lambda.Handler{"LoginFunction": h, "VerifyCodeFunction": s.handlers["VerifyCodeFunction"], "PlatformFunction": s.handlers["PlatformFunction"]}}, c
}

// BenchmarkSMSLogin measures a successful SMS login through the handler
// (API Gateway event in, response out) against moto. Asking for the code
// is not timed or counted.
func BenchmarkSMSLogin(b *testing.B) {
	s := newStack(b, map[string]string{"SMS_DAILY_LIMIT_PER_MOBILE": "100000"})
	ten := newTenant(b, s)
	login, counter := countedLogin(b, s)
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
		b.StartTimer()
		if r := login.Do(b, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, code)); r.Status != 200 {
			b.Fatal(r.Raw)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(counter.Calls())/float64(b.N), "ddbcalls/op")
	b.ReportMetric(float64(counter.Items())/float64(b.N), "ddbitems/op")
	if calls := float64(counter.Calls()) / float64(b.N); calls > 4 {
		b.Errorf("SMS login takes %.1f DynamoDB round trips, want at most 4", calls)
	}
}

// BenchmarkPasswordLogin measures a successful password login through the
// handler against moto, argon2id included.
func BenchmarkPasswordLogin(b *testing.B) {
	s := newStack(b)
	ten := newTenant(b, s)
	s.Clock.Add(61 * time.Second)
	before := len(s.SMS(b, ten.AdminMobile))
	s.Do(b, "POST", "/v1/auth/sms-codes", "", codeBody(ten.Code, ten.AdminMobile, "login"))
	r := s.Do(b, "POST", "/v1/auth/login", "", smsBody(ten.Code, ten.AdminMobile, lastCode(b, s, ten.AdminMobile, before)))
	if r := s.Do(b, "PUT", "/v1/me/password", r.Str("accessToken"), map[string]any{"password": "Bench-Pass-2026"}); r.Status != 204 {
		b.Fatal(r.Raw)
	}
	login, counter := countedLogin(b, s)
	body := map[string]any{"tenant": ten.Code, "method": "password", "account": ten.AdminAccount, "password": "Bench-Pass-2026"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := login.Do(b, "POST", "/v1/auth/login", "", body); r.Status != 200 {
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
