package calendar_test

import (
	"testing"
	"time"

	"workbench/infra/stacktest"
)

// The integration tests drive the app through stacktest: every function of
// the template on the test's own tables, over HTTP through the local
// gateway, on a clock the test moves, counting DynamoDB round trips.
type stackT struct{ *stacktest.Metered }

func newStack(tb testing.TB, now time.Time) *stackT { return &stackT{stacktest.NewMetered(tb, now)} }

// now2026 is a fixed "now" for tests that plan December 2026.
var now2026 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
