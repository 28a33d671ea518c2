package identity

import (
	"testing"
	"time"
)

func TestNextLock(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	tests := []struct {
		name                string
		lock                *lockRecord
		failures, version   int
		windowStart, locked int64
	}{
		{"first failure", nil, 1, 1, ms(0), 0},
		{"within the window", &lockRecord{Failures: 2, WindowStart: ms(-time.Minute), Version: 2}, 3, 3, ms(-time.Minute), 0},
		{"the one that locks", &lockRecord{Failures: MaxFailures - 1, WindowStart: ms(-time.Minute), Version: 4}, MaxFailures, 5, ms(-time.Minute), ms(LockDuration)},
		{"past the window starts anew", &lockRecord{Failures: MaxFailures - 1, WindowStart: ms(-FailureWindow), Version: 4}, 1, 5, ms(0), 0},
		{"after a lockout ended", &lockRecord{Failures: MaxFailures, WindowStart: ms(-FailureWindow - LockDuration), LockedUntil: ms(-time.Second), Version: 6}, 1, 7, ms(0), 0},
	}
	for _, tt := range tests {
		got := nextLock(tt.lock, "a1", now)
		if got.Failures != tt.failures || got.Version != tt.version || got.WindowStart != tt.windowStart || got.LockedUntil != tt.locked || got.Attempt != "a1" {
			t.Errorf("%s: %+v", tt.name, got)
		}
	}
}
