package directory

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestContactScores(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) float64 { return weight(now.Add(-ago)) }
	tests := []struct {
		name  string
		score float64 // scaled to the epoch, as stored
		want  float64 // shown at now
	}{
		{"a contact now", at(0), 1},
		{"a contact a half-life ago", at(ScoreHalfLife), 0.5},
		{"a contact two half-lives ago", at(2 * ScoreHalfLife), 0.25},
		{"a manual add now", ManualWeight * at(0), ManualWeight},
		{"four contacts a half-life ago", 4 * at(ScoreHalfLife), 2},
		{"a contact now and one a half-life ago", at(0) + at(ScoreHalfLife), 1.5},
		{"a contact at the epoch", weight(scoreEpoch), 1 / weight(now)},
	}
	for _, tt := range tests {
		got := shown([]ContactEntry{{ID: "m", Score: tt.score}}, []Member{{ID: "m"}}, now)
		if len(got) != 1 || fmt.Sprintf("%.3f", got[0].Score) != fmt.Sprintf("%.3f", tt.want) {
			t.Errorf("%s: shown %+v, want score %.3f", tt.name, got, tt.want)
		}
	}
}

func TestTouched(t *testing.T) {
	var many []string
	for i := range maxTouch + 5 {
		many = append(many, fmt.Sprint("m", i))
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, nil},
		{"the sender and empty ids are skipped", []string{"me", "a", "", "b"}, []string{"a", "b"}},
		{"a repeated id counts twice", []string{"a", "a"}, []string{"a", "a"}},
		{"the first maxTouch", many, many[:maxTouch]},
		{"skipped ids do not use up maxTouch", append([]string{"me", ""}, many...), many[:maxTouch]},
	}
	for _, tt := range tests {
		if got := touched("me", tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s: touched %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRankedAndShown(t *testing.T) {
	now := time.Now().UTC()
	e := func(id string, score float64) ContactEntry { return ContactEntry{ID: id, Score: score * weight(now)} }
	ids := func(cs []Contact) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Member.ID)
		}
		return out
	}
	var many []ContactEntry
	var members []Member
	var top []string // the first MaxFrequent of many
	for i := range MaxFrequent + 5 {
		id := fmt.Sprintf("m%02d", i)
		many = append(many, e(id, float64(100-i)))
		members = append(members, Member{ID: id})
		if i < MaxFrequent {
			top = append(top, id)
		}
	}
	tests := []struct {
		name    string
		entries []ContactEntry
		n       int
		members []Member
		want    []string
	}{
		{"best first", []ContactEntry{e("a", 1), e("b", 3), e("c", 2)}, 10, []Member{{ID: "a"}, {ID: "b"}, {ID: "c"}}, []string{"b", "c", "a"}},
		{"ties by id", []ContactEntry{e("c", 1), e("a", 1), e("b", 1)}, 10, []Member{{ID: "c"}, {ID: "b"}, {ID: "a"}}, []string{"a", "b", "c"}},
		{"ranked keeps n", []ContactEntry{e("a", 1), e("b", 3), e("c", 2)}, 2, []Member{{ID: "a"}, {ID: "b"}, {ID: "c"}}, []string{"b", "c"}},
		{"members gone are not shown", []ContactEntry{e("a", 1), e("gone", 3)}, 10, []Member{{ID: "a"}}, []string{"a"}},
		{"none", nil, 10, nil, []string(nil)},
		{"at most MaxFrequent", many, len(many), members, top},
		{"a gone member makes room for a spare", append([]ContactEntry{e("gone", 1000)}, many...), MaxFrequent + spareContacts, members, top},
	}
	for _, tt := range tests {
		got := ids(shown(ranked(slices.Clone(tt.entries), tt.n), tt.members, now))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
