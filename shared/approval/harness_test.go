package approval_test

import (
	"testing"
	"time"

	"workbench/infra/stacktest"
	"workbench/shared/dynamo"
)

// The integration tests drive the app through stacktest: every function of
// the template built by stack.Functions, with the template's environment,
// on the test's own tables and secrets, over HTTP through the local gateway.
// Members, departments, notices and seeds come from stacktest too.
type stackT struct {
	*stacktest.Stack
	Counter *dynamo.Counter // every function's round trips, for the benchmarks
	clock   *stacktest.Clock
}

// now2026 is a fixed "now" for tests that plan December 2026.
var now2026 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// newStack stands up a stack whose clock starts at now (setNow moves it).
func newStack(tb testing.TB, now time.Time) *stackT {
	tb.Helper()
	s := &stackT{Counter: &dynamo.Counter{}, clock: stacktest.NewClock(now)}
	s.Stack = stacktest.New(tb, stacktest.WithClock(s.clock.Now), stacktest.WithCounter(s.Counter))
	return s
}

func (s *stackT) setNow(t time.Time) { s.clock.Set(t) }
