package realtime_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"workbench/infra/localstack"
	"workbench/infra/stacktest"
	"workbench/shared/chat"
	"workbench/shared/dynamo"
	"workbench/shared/realtime"
)

// BenchmarkSendToReceive measures how long a message takes from the send
// request to the peer's WebSocket, on the local stack with the stream
// mappings polling every localstack.DefaultStreamPoll: "polled" waits for
// the poll, "nudged" is make run, where the gateway also wakes the
// mappings after every request that may have written. Each iteration is
// 20 sends; p50 and p95 are over all of them.
func BenchmarkSendToReceive(b *testing.B) {
	for _, mode := range []struct {
		name  string
		nudge bool
	}{{"polled", false}, {"nudged", true}} {
		b.Run(mode.name, func(b *testing.B) {
			st := stacktest.New(b)
			tn := st.NewTenant(b)
			ann, bob := tn.Admin, st.Member(b, tn, "member")
			conv := conversation(b, st, ann.Token, map[string]any{"memberIds": []string{bob.ID}})
			st.StartStreams(b, localstack.DefaultStreamPoll, mode.nudge)
			peer := st.Dial(b, bob.Token)
			var lat []time.Duration
			b.ResetTimer()
			for range b.N {
				for range 20 {
					n := len(peer.Frames())
					start := time.Now()
					seq := send(b, st, ann.Token, conv, "ping")
					for {
						frames := peer.WaitFrames(b, n+1)
						n = len(frames)
						var e realtime.Event
						if err := json.Unmarshal(frames[n-1], &e); err != nil {
							b.Fatal(err)
						}
						if e.Type == realtime.MessageCreated && e.Seq == seq {
							break
						}
					}
					lat = append(lat, time.Since(start))
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(localstack.DefaultStreamPoll.Milliseconds()), "poll-ms")
		})
	}
}

// BenchmarkFanOut sends to a 500-member group with 50 members connected
// and reports the PostToConnection calls per message (the open recipient
// connections), the push function's DynamoDB round trips per message, and
// the send's own round trips with live delivery on, against the same send
// with nobody connected and no push running, measured in the same run.
func BenchmarkFanOut(b *testing.B) {
	counter := &dynamo.Counter{}
	st := stacktest.New(b, stacktest.WithCounter(counter))
	st.Streams(b)
	tn := st.NewTenant(b)
	others := st.SeedMembers(b, tn, chat.MaxGroupMembers-1)
	conv := conversation(b, st, tn.Admin.Token, map[string]any{"memberIds": others, "name": "全员"})
	st.Drain(b)

	// Before: nobody listens, nothing pushes.
	counter.Reset()
	for range b.N {
		sendTo(b, st, tn.Admin.Token, conv)
	}
	baseline := float64(counter.Calls()) / float64(b.N)
	st.Drain(b) // the baseline's messages, to no one

	for _, id := range others[:50] {
		st.Dial(b, st.Token(b, tn.ID, tn.Code, id))
	}
	var sendCalls, pushCalls, posts int
	b.ResetTimer()
	for range b.N {
		counter.Reset()
		sendTo(b, st, tn.Admin.Token, conv)
		sendCalls += counter.Calls()
		counter.Reset()
		before := st.Posts()
		st.Drain(b)
		pushCalls += counter.Calls()
		posts += st.Posts() - before
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(posts)/n, "posts/msg")
	b.ReportMetric(50, "open-conns")
	b.ReportMetric(float64(pushCalls)/n, "push-ddbcalls/msg")
	b.ReportMetric(baseline, "send-ddbcalls-before")
	b.ReportMetric(float64(sendCalls)/n, "send-ddbcalls-after")
	b.ReportMetric(float64(sendCalls)/n/baseline, "send-ddbcalls-ratio")
}

func sendTo(b *testing.B, st *stacktest.Stack, token, conv string) {
	b.Helper()
	if r := st.Call(b, http.MethodPost, "/v1/conversations/"+conv+"/messages", token, map[string]string{"text": "早上好"}); r.Status != http.StatusCreated {
		b.Fatalf("send: %d %s", r.Status, r.Body)
	}
}
