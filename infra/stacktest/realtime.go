package stacktest

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"workbench/infra/localstack"
)

// Streams returns the stack's stream event source mappings, positioned at
// the end of their streams on the first call: changes made after it are
// delivered to the push function by Drain (or, once Start is called, by
// polling).
func (s *Stack) Streams(t testing.TB) *localstack.Streams {
	t.Helper()
	s.streamsOnce.Do(func() {
		st, err := s.local.Streams(s.fns)
		if err == nil {
			err = st.Open(context.Background())
		}
		if err != nil {
			t.Fatalf("stacktest: streams: %v", err)
		}
		s.streams = st
	})
	return s.streams
}

// StartStreams polls the streams every interval until the test ends, as
// make run does; with nudge, the gateway also makes them poll after every
// request that may have written (make run's behaviour).
func (s *Stack) StartStreams(t testing.TB, interval time.Duration, nudge bool) {
	t.Helper()
	st := s.Streams(t)
	st.Interval = interval
	ctx, cancel := context.WithCancel(context.Background())
	if err := st.Start(ctx); err != nil {
		cancel()
		t.Fatalf("stacktest: streams: %v", err)
	}
	if nudge {
		s.gw.OnMutation = st.Nudge
	}
	t.Cleanup(func() {
		s.gw.OnMutation = nil
		cancel()
		st.Wait()
	})
}

// Drain delivers every stream change made so far to the push function.
func (s *Stack) Drain(t testing.TB) {
	t.Helper()
	s.Streams(t).Drain(context.Background())
}

// WebSocketURL is the URL clients connect to (ws://.../ws).
func (s *Stack) WebSocketURL() string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + s.gw.WebSockets.Path()
}

// Posts returns the number of PostToConnection calls the gateway served.
func (s *Stack) Posts() int { return s.gw.WebSockets.Posts() }

// OpenConnections returns the ids of the gateway's open connections.
func (s *Stack) OpenConnections() []string { return s.gw.WebSockets.Open() }

// Client is a WebSocket client of the stack that records every frame it
// receives.
type Client struct {
	Conn *websocket.Conn

	mu     sync.Mutex
	frames []json.RawMessage
	more   chan struct{}
	done   chan struct{}
}

// Dial connects with an access token in the query, as a command-line
// client would. It fails the test when the handshake is refused; use
// DialStatus to see a refusal.
func (s *Stack) Dial(t testing.TB, token string) *Client {
	t.Helper()
	c, status, err := s.DialStatus(token)
	if err != nil {
		t.Fatalf("stacktest: dial: %d %v", status, err)
	}
	t.Cleanup(func() { _ = c.Conn.CloseNow() })
	return c
}

// DialStatus connects and returns the client, or the handshake's status
// and error.
func (s *Stack) DialStatus(token string) (*Client, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, s.WebSocketURL()+"?token="+token, nil)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err != nil {
		return nil, status, err
	}
	c := &Client{Conn: conn, more: make(chan struct{}, 1), done: make(chan struct{})}
	go c.read()
	return c, status, nil
}

func (c *Client) read() {
	defer close(c.done)
	for {
		_, data, err := c.Conn.Read(context.Background())
		if err != nil {
			return
		}
		c.mu.Lock()
		c.frames = append(c.frames, data)
		c.mu.Unlock()
		select {
		case c.more <- struct{}{}:
		default:
		}
	}
}

// Frames returns the frames received so far, oldest first.
func (c *Client) Frames() []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]json.RawMessage(nil), c.frames...)
}

// WaitFrames waits until at least n frames have arrived (or a minute has
// passed, which fails the test) and returns them all.
func (c *Client) WaitFrames(t testing.TB, n int) []json.RawMessage {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		if f := c.Frames(); len(f) >= n {
			return f
		}
		select {
		case <-c.more:
		case <-c.done:
			if f := c.Frames(); len(f) < n {
				t.Fatalf("stacktest: the connection closed after %d frames, want %d", len(f), n)
			}
		case <-deadline:
			t.Fatalf("stacktest: %d frames after a minute, want %d", len(c.Frames()), n)
		}
	}
}

// Send sends a text frame.
func (c *Client) Send(t testing.TB, frame string) {
	t.Helper()
	if err := c.Conn.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		t.Fatalf("stacktest: send: %v", err)
	}
}
