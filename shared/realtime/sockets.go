package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"workbench/shared/auth"
	"workbench/shared/billing"
	"workbench/shared/errs"
)

// Subprotocol is the WebSocket subprotocol a browser names, beside its
// access token, in Sec-WebSocket-Protocol; the handshake's answer names it
// back.
const Subprotocol = "workbench"

// Sockets serves the WebSocket routes: the handshake checks the member's
// access token as every HTTP route does, and stores the connection.
type Sockets struct {
	Tokens      *auth.Tokens
	Sessions    auth.SessionChecker
	Connections *Connections
	Now         func() time.Time
}

// TokenOf returns the access token of a handshake: the query parameter
// token, or else the entry of Sec-WebSocket-Protocol that is not
// Subprotocol (browsers cannot set an Authorization header).
func TokenOf(query, protocols string) string {
	if query != "" {
		return query
	}
	for p := range strings.SplitSeq(protocols, ",") {
		if p = strings.TrimSpace(p); p != "" && p != Subprotocol {
			return p
		}
	}
	return ""
}

// Connect checks the handshake's token (a live session of an enabled
// member of a tenant whose subscription is not released) and stores the
// connection. Nothing is stored when the check fails.
func (s *Sockets) Connect(ctx context.Context, token, connID string) (Connection, error) {
	if token == "" {
		return Connection{}, errs.E(errs.Unauthenticated, "missing_token", "an access token is required (?token=<token>, or Sec-WebSocket-Protocol: workbench, <token>)")
	}
	p, err := s.Tokens.Verify(token)
	if err != nil {
		return Connection{}, err
	}
	st, err := s.Sessions.CheckSession(ctx, p)
	if err != nil {
		return Connection{}, err
	}
	// Listening is reading: allowed in retention, not once released.
	if err := billing.Allow(st.Subscription, "GET"); err != nil {
		return Connection{}, err
	}
	conn := Connection{ID: connID, TenantID: p.TenantID, MemberID: p.MemberID, ConnectedAt: s.Now().UTC().Truncate(time.Millisecond)}
	return conn, s.Connections.Open(ctx, conn)
}

// Disconnect forgets a connection.
func (s *Sockets) Disconnect(ctx context.Context, connID string) error {
	return s.Connections.Close(ctx, connID)
}

// Frame answers a frame a client sent: {"action":"ping"} gets a pong,
// anything else an error frame naming what was wrong.
func (s *Sockets) Frame(body string) []byte {
	var in struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		return errorFrame("invalid_frame", "action", "a frame is a JSON object with an action")
	}
	switch in.Action {
	case "ping":
		b, _ := json.Marshal(map[string]any{"type": "pong", "at": s.Now().UTC().Truncate(time.Millisecond)})
		return b
	case "":
		return errorFrame("invalid_frame", "action", "a frame is a JSON object with an action")
	}
	return errorFrame("unknown_action", "action", "the only action is ping")
}

func errorFrame(code, field, message string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"code": code, "field": field, "message": message}})
	return b
}
