package identity_test

// A thin layer over infra/stacktest that the tests of this package read
// better with: decoded responses, SMS texts, a clock to move and the
// stack's own AWS environment (for seeding members the way Directory does).

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"workbench/infra/stacktest"
	"workbench/shared/cloud"
	"workbench/shared/config"
)

// TestMain keeps benchmark output readable: the functions' request logs
// would otherwise split each result line.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		slog.SetDefault(slog.New(slog.DiscardHandler))
	}
	os.Exit(m.Run())
}

// Stack is one test's stack.
type Stack struct {
	*stacktest.Stack
	Clock *clock
	// Env is an environment like LoginFunction's: its settings, a DynamoDB
	// client of the stack's tables and its secrets.
	Env *cloud.Env
}

// clock is the stack's clock.
type clock struct{ *stacktest.Clock }

// Add moves the clock on by d.
func (c clock) Add(d time.Duration) { c.Advance(d) }

func newStack(t testing.TB, opts ...stacktest.Option) *Stack {
	t.Helper()
	c := stacktest.NewClock(time.Now().UTC().Truncate(time.Second))
	st := stacktest.New(t, append(opts, stacktest.WithClock(c.Now))...)
	env, err := cloud.Load(context.Background(), config.Map(st.Env("LoginFunction")))
	if err != nil {
		t.Fatal(err)
	}
	env.Now = c.Now
	return &Stack{Stack: st, Clock: &clock{c}, Env: env}
}

// Resp is a decoded response.
type Resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Code is the error code of an error response.
func (r Resp) Code() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// Field is the field an error response names.
func (r Resp) Field() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["field"].(string)
	return c
}

// Str is a string field of the body.
func (r Resp) Str(k string) string { v, _ := r.Body[k].(string); return v }

// Do sends a request through the stack's gateway.
func (s *Stack) Do(t testing.TB, method, path, token string, body any) Resp {
	t.Helper()
	status, raw, header := s.Stack.Do(t, method, path, token, body)
	r := Resp{Status: status, Header: header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, status, raw, err)
		}
	}
	return r
}

// SMS returns the texts sent to mobile, oldest first.
func (s *Stack) SMS(t testing.TB, mobile string) []string {
	t.Helper()
	var out []string
	for _, m := range s.Stack.SMS(t, mobile) {
		out = append(out, m.Text)
	}
	return out
}
