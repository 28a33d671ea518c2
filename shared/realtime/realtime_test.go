package realtime

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTokenOf(t *testing.T) {
	for _, tc := range []struct{ query, protocols, want string }{
		{"q", "", "q"},
		{"q", "workbench, p", "q"},
		{"", "workbench, p", "p"},
		{"", "p,workbench", "p"},
		{"", "workbench", ""},
		{"", "", ""},
	} {
		if got := TokenOf(tc.query, tc.protocols); got != tc.want {
			t.Errorf("TokenOf(%q, %q) = %q, want %q", tc.query, tc.protocols, got, tc.want)
		}
	}
}

func TestFrame(t *testing.T) {
	s := &Sockets{Now: func() time.Time { return time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC) }}
	for body, want := range map[string]string{
		`{"action":"ping"}`:  `{"at":"2026-12-01T08:00:00Z","type":"pong"}`,
		`{"action":"hello"}`: `{"error":{"code":"unknown_action","field":"action","message":"the only action is ping"},"type":"error"}`,
		`{}`:                 `{"error":{"code":"invalid_frame","field":"action","message":"a frame is a JSON object with an action"},"type":"error"}`,
		`[1]`:                `{"error":{"code":"invalid_frame","field":"action","message":"a frame is a JSON object with an action"},"type":"error"}`,
	} {
		if got := string(s.Frame(body)); got != want {
			t.Errorf("Frame(%s) = %s, want %s", body, got, want)
		}
	}
}

func TestDedupByConversationAndSeq(t *testing.T) {
	var d Dedup
	a := Event{ID: "r1", Type: MessageCreated, ConversationID: "c", Seq: 1}
	again := Event{ID: "r1-retried-elsewhere", Type: MessageCreated, ConversationID: "c", Seq: 1}
	next := Event{ID: "r2", Type: MessageCreated, ConversationID: "c", Seq: 2}
	read := Event{ID: "r3", Type: ConversationRead, ConversationID: "c", Seq: 2}
	var got []bool
	for _, e := range []Event{a, again, next, read, read} {
		got = append(got, d.First(e))
	}
	want := []bool{true, false, true, true, false}
	b1, _ := json.Marshal(got)
	b2, _ := json.Marshal(want)
	if string(b1) != string(b2) {
		t.Errorf("First = %s, want %s", b1, b2)
	}
}
