package main

import (
	"testing"
	"time"
)

// AWS time is the union of a run's requests; overlapping requests are one
// round trip; requests of another run or after the first /next do not
// count.
func TestProxyCountsRoundTrips(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name         string
		spans        [][2]int
		covered      time.Duration
		calls, trips int
	}{
		{"none", nil, 0, 0, 0},
		{"sequential", [][2]int{{10, 20}, {30, 45}}, 25 * time.Millisecond, 2, 2},
		{"concurrent", [][2]int{{10, 20}, {12, 25}, {11, 14}}, 15 * time.Millisecond, 3, 1},
		{"after first next", [][2]int{{10, 20}, {95, 120}, {100, 130}}, 15 * time.Millisecond, 2, 2},
		{"previous run", [][2]int{{-5, 3}, {10, 20}}, 10 * time.Millisecond, 1, 1},
	}
	for _, tt := range tests {
		p := &proxy{}
		for _, s := range tt.spans {
			p.spans = append(p.spans, span{at(s[0]), at(s[1])})
		}
		covered, calls, trips := p.between(at(0), at(100))
		if covered != tt.covered || calls != tt.calls || trips != tt.trips {
			t.Errorf("%s: covered %v, %d calls, %d trips; want %v, %d, %d", tt.name, covered, calls, trips, tt.covered, tt.calls, tt.trips)
		}
	}
}
