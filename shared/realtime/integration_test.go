package realtime_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"workbench/infra/stacktest"
	"workbench/shared/realtime"
)

// event decodes a frame.
func event(t *testing.T, frame json.RawMessage) realtime.Event {
	t.Helper()
	var e realtime.Event
	if err := json.Unmarshal(frame, &e); err != nil {
		t.Fatalf("frame %s: %v", frame, err)
	}
	return e
}

// events returns the client's frames up to the pong of a ping sent now:
// every event posted before the ping's answer (posts and the pong travel
// the same connection in order), so "nothing arrived" can be checked
// without waiting.
func events(t *testing.T, c *stacktest.Client) []realtime.Event {
	t.Helper()
	before := len(c.Frames())
	c.Send(t, `{"action":"ping"}`)
	for n := before + 1; ; n++ {
		frames := c.WaitFrames(t, n)
		last := frames[len(frames)-1]
		var probe struct{ Type string }
		json.Unmarshal(last, &probe)
		if probe.Type != "pong" {
			continue
		}
		var out []realtime.Event
		for _, f := range frames {
			json.Unmarshal(f, &probe)
			if probe.Type != "pong" {
				out = append(out, event(t, f))
			}
		}
		return out
	}
}

func conversation(t *testing.T, st *stacktest.Stack, token string, body any) string {
	t.Helper()
	r := st.Call(t, http.MethodPost, "/v1/conversations", token, body)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("create conversation: %d %s", r.Status, r.Body)
	}
	var c struct{ ID string }
	r.Decode(t, &c)
	return c.ID
}

func send(t *testing.T, st *stacktest.Stack, token, convID, text string) int64 {
	t.Helper()
	r := st.Call(t, http.MethodPost, "/v1/conversations/"+convID+"/messages", token, map[string]string{"text": text})
	stacktest.Want(t, r, http.StatusCreated)
	var m struct{ Seq int64 }
	r.Decode(t, &m)
	return m.Seq
}

func TestDirectMessageReachesPeerAndSendersOtherDevice(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t)
	st.Streams(t)
	tn := st.NewTenant(t)
	ann, bob := tn.Admin, st.Member(t, tn, "member")
	conv := conversation(t, st, ann.Token, map[string]any{"memberIds": []string{bob.ID}})
	st.Drain(t) // the conversation's creation

	bobPhone := st.Dial(t, bob.Token)
	annPhone, annLaptop := st.Dial(t, ann.Token), st.Dial(t, ann.Token)
	seq := send(t, st, ann.Token, conv, "你好")
	st.Drain(t)

	for name, c := range map[string]*stacktest.Client{"peer": bobPhone, "sender's phone": annPhone, "sender's laptop": annLaptop} {
		evs := events(t, c)
		if len(evs) != 1 {
			t.Fatalf("%s got %d events, want 1: %+v", name, len(evs), evs)
		}
		e := evs[0]
		if e.Type != realtime.MessageCreated || e.ConversationID != conv || e.Seq != seq || e.Message == nil ||
			e.Message.Text != "你好" || e.Message.SenderID != ann.ID || e.Message.ConversationID != conv || e.ID == "" || e.At.IsZero() {
			t.Errorf("%s got %+v", name, e)
		}
	}
}
