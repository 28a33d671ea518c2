package localstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"workbench/infra/template"
)

// Limits API Gateway puts on WebSocket messages.
const (
	maxFrameBytes = 128 << 10 // a message, from a client or posted to one
)

// WebSockets is the local API Gateway WebSocket API: it serves the
// handshake at /<stage> (ws://127.0.0.1:3000/ws), invokes the route
// functions with the events API Gateway sends ($connect, $disconnect,
// and a route per frame chosen by the route selection expression), sends
// a two-way route's answer back, and serves the Management API
// (/@connections/{id}, also under /<stage>/) that PostToConnection calls.
type WebSockets struct {
	API       template.WebSocketAPI
	Functions map[string]*Function // by logical id
	Now       func() time.Time
	Logger    *slog.Logger

	mu    sync.Mutex
	conns map[string]*socket
	posts atomic.Int64
}

// socket is one open connection.
type socket struct {
	id          string
	conn        *websocket.Conn
	connectedAt time.Time
	sourceIP    string
	userAgent   string
	mu          sync.Mutex
	lastActive  time.Time
	// ready is closed once the upgrade is done (conn set) or failed (conn
	// nil). The socket is listed before: a client that sees the upgrade
	// may be posted to at once.
	ready chan struct{}
}

// WebSockets returns the stack's WebSocket API served with fns, or nil if
// the template declares none.
func (s *Stack) WebSockets(fns map[string]*Function) *WebSockets {
	if len(s.cfg.Template.WebSocketAPIs) == 0 {
		return nil
	}
	return &WebSockets{API: s.cfg.Template.WebSocketAPIs[0], Functions: fns, Now: s.cfg.Now, Logger: s.log}
}

// Path is where clients connect: /<stage>.
func (ws *WebSockets) Path() string { return "/" + ws.API.Stage }

// handles reports whether the request is the WebSocket API's.
func (ws *WebSockets) handles(path string) bool {
	return path == ws.Path() || strings.HasPrefix(path, "/@connections/") || strings.HasPrefix(path, ws.Path()+"/@connections/")
}

func (ws *WebSockets) serve(w http.ResponseWriter, r *http.Request) []slog.Attr {
	if _, id, ok := strings.Cut(r.URL.EscapedPath(), "/@connections/"); ok {
		if v, err := url.PathUnescape(id); err == nil {
			id = v
		}
		ws.manage(w, r, id)
		return []slog.Attr{slog.String("route", "@connections"), slog.String("connection", id)}
	}
	return ws.handshake(w, r)
}

func (ws *WebSockets) now() time.Time {
	if ws.Now != nil {
		return ws.Now()
	}
	return time.Now()
}

func (ws *WebSockets) logger() *slog.Logger {
	if ws.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return ws.Logger
}

// handshake runs $connect and, if the function lets the client in,
// upgrades the connection.
func (ws *WebSockets) handshake(w http.ResponseWriter, r *http.Request) []slog.Attr {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeError(w, http.StatusUpgradeRequired, "websocket_required", "connect with a WebSocket client: "+ws.Path()+"?token=<access token>")
		return nil
	}
	now := ws.now()
	s := &socket{id: connectionID(), connectedAt: now, lastActive: now, sourceIP: sourceIP(r), userAgent: r.UserAgent(), ready: make(chan struct{})}
	attrs := []slog.Attr{slog.String("route", "$connect"), slog.String("connection", s.id)}
	ev := ws.event(s, "$connect", "CONNECT", "")
	ev.Headers, ev.MultiValueHeaders = map[string]string{}, map[string][]string{}
	for name, vs := range r.Header {
		ev.Headers[name] = strings.Join(vs, ",")
		ev.MultiValueHeaders[name] = vs
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = map[string]string{}, map[string][]string(q)
		for k, vs := range q {
			ev.QueryStringParameters[k] = vs[len(vs)-1]
		}
	}
	resp, ok := ws.invoke(r.Context(), "$connect", ev)
	if !ok {
		writeError(w, http.StatusBadGateway, "function_error", "the $connect function failed")
		return attrs
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body) // the status is sent: a client that went away cannot be told more
		return attrs
	}
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true} // API Gateway checks no Origin
	if p := resp.Headers["Sec-WebSocket-Protocol"]; p != "" {
		opts.Subprotocols = []string{p}
	}
	ws.mu.Lock()
	if ws.conns == nil {
		ws.conns = map[string]*socket{}
	}
	ws.conns[s.id] = s
	ws.mu.Unlock()
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		ws.forget(s)
		close(s.ready)
		ws.logger().Warn("websocket accept", "err", err)
		ws.invoke(context.Background(), "$disconnect", ws.event(s, "$disconnect", "DISCONNECT", ""))
		return attrs
	}
	conn.SetReadLimit(maxFrameBytes)
	s.conn = conn
	close(s.ready)
	go ws.read(s)
	return attrs
}

func (ws *WebSockets) forget(s *socket) {
	ws.mu.Lock()
	delete(ws.conns, s.id)
	ws.mu.Unlock()
}

// socket returns the open connection with the given id, waiting for an
// upgrade under way.
func (ws *WebSockets) socket(id string) *socket {
	ws.mu.Lock()
	s := ws.conns[id]
	ws.mu.Unlock()
	if s == nil {
		return nil
	}
	select {
	case <-s.ready:
	case <-time.After(10 * time.Second):
		return nil
	}
	if s.conn == nil {
		return nil
	}
	return s
}

// read invokes a route per frame until the connection closes, then
// $disconnect.
func (ws *WebSockets) read(s *socket) {
	ctx := context.Background()
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			break
		}
		s.mu.Lock()
		s.lastActive = ws.now()
		s.mu.Unlock()
		route := ws.selectRoute(data)
		ev := ws.event(s, route.Key, "MESSAGE", string(data))
		resp, ok := ws.invoke(ctx, route.Key, ev)
		if !ok {
			// API Gateway answers a failed integration with this frame.
			// A frame that cannot be written means a closed connection,
			// which the next Read reports.
			_ = s.conn.Write(ctx, websocket.MessageText, []byte(`{"message": "Internal server error", "connectionId":"`+s.id+`"}`))
			continue
		}
		if route.TwoWay && resp.Body != "" {
			_ = s.conn.Write(ctx, websocket.MessageText, []byte(resp.Body)) // as above
		}
	}
	ws.forget(s)
	_ = s.conn.CloseNow() // the connection is done with either way
	ws.invoke(ctx, "$disconnect", ws.event(s, "$disconnect", "DISCONNECT", ""))
}

// selectRoute applies the route selection expression
// ($request.body.<field>) to a frame: the route whose key is the field's
// value, else $default.
func (ws *WebSockets) selectRoute(data []byte) template.WebSocketRoute {
	if field, ok := strings.CutPrefix(ws.API.RouteSelection, "$request.body."); ok {
		var body map[string]any
		if json.Unmarshal(data, &body) == nil {
			if key, ok := body[field].(string); ok && !strings.HasPrefix(key, "$") {
				if r, ok := ws.API.Route(key); ok {
					return r
				}
			}
		}
	}
	r, _ := ws.API.Route("$default")
	if r.Key == "" {
		r.Key = "$default"
	}
	return r
}

// event builds the event API Gateway sends for a route.
func (ws *WebSockets) event(s *socket, routeKey, eventType, body string) events.APIGatewayWebsocketProxyRequest {
	now := ws.now()
	ev := events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			AccountID:         accountID,
			Stage:             ws.API.Stage,
			RequestID:         base64.StdEncoding.EncodeToString(random(10)),
			ExtendedRequestID: base64.StdEncoding.EncodeToString(random(10)),
			Identity:          events.APIGatewayRequestIdentity{SourceIP: s.sourceIP, UserAgent: s.userAgent},
			APIID:             apiID,
			ConnectedAt:       s.connectedAt.UnixMilli(),
			ConnectionID:      s.id,
			DomainName:        "127.0.0.1",
			EventType:         eventType,
			MessageDirection:  "IN",
			RequestTime:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch:  now.UnixMilli(),
			RouteKey:          routeKey,
		},
	}
	if eventType == "MESSAGE" {
		ev.RequestContext.MessageID = base64.StdEncoding.EncodeToString(random(10))
	}
	return ev
}

// invoke runs the function of a route; ok is false when it failed. A route
// the template does not declare answers 200 with nothing, as API Gateway
// lets a connection in without a $connect route.
func (ws *WebSockets) invoke(ctx context.Context, routeKey string, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, bool) {
	var resp events.APIGatewayProxyResponse
	route, ok := ws.API.Route(routeKey)
	if !ok {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, true
	}
	fn, ok := ws.Functions[route.Function]
	if !ok {
		ws.logger().Error("websocket route function not built", "route", routeKey, "function", route.Function)
		return resp, false
	}
	payload, err := json.Marshal(ev)
	if err == nil {
		var out []byte
		if out, err = fn.Invoke(ctx, payload); err == nil && len(out) > 0 && string(out) != "null" {
			err = json.Unmarshal(out, &resp)
		}
	}
	if err != nil {
		ws.logger().Error("function failed", "function", fn.LogicalID, "route", routeKey, "err", err)
		return resp, false
	}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	return resp, true
}

// manage serves the Management API for one connection.
func (ws *WebSockets) manage(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method == http.MethodPost {
		ws.posts.Add(1)
	}
	s := ws.socket(id)
	if s == nil {
		w.Header().Set("X-Amzn-ErrorType", "GoneException")
		writeJSON(w, http.StatusGone, map[string]string{"message": "connection " + id + " is gone"})
		return
	}
	switch r.Method {
	case http.MethodPost:
		data, err := io.ReadAll(io.LimitReader(r.Body, maxFrameBytes+1))
		if err != nil || len(data) > maxFrameBytes {
			w.Header().Set("X-Amzn-ErrorType", "PayloadTooLargeException")
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"message": fmt.Sprintf("data is larger than %d bytes", maxFrameBytes)})
			return
		}
		typ := websocket.MessageText
		if !utf8.Valid(data) {
			typ = websocket.MessageBinary
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.conn.Write(ctx, typ, data); err != nil {
			w.Header().Set("X-Amzn-ErrorType", "GoneException")
			writeJSON(w, http.StatusGone, map[string]string{"message": "connection " + id + " is gone"})
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		s.mu.Lock()
		last := s.lastActive
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"ConnectedAt":  s.connectedAt.UTC().Format(time.RFC3339Nano),
			"LastActiveAt": last.UTC().Format(time.RFC3339Nano),
			"Identity":     map[string]string{"SourceIp": s.sourceIP, "UserAgent": s.userAgent},
		})
	case http.MethodDelete:
		s.conn.Close(websocket.StatusNormalClosure, "closed by the server")
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "@connections takes GET, POST or DELETE")
	}
}

// Posts returns the number of PostToConnection calls served so far, to
// open connections or not.
func (ws *WebSockets) Posts() int { return int(ws.posts.Load()) }

// Open returns the ids of the open connections.
func (ws *WebSockets) Open() []string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ids := make([]string, 0, len(ws.conns))
	for id := range ws.conns {
		ids = append(ids, id)
	}
	return ids
}

// Close closes every connection (each then runs $disconnect).
func (ws *WebSockets) Close() {
	ws.mu.Lock()
	ids := make([]string, 0, len(ws.conns))
	for id := range ws.conns {
		ids = append(ids, id)
	}
	ws.mu.Unlock()
	for _, id := range ids {
		if s := ws.socket(id); s != nil {
			s.conn.Close(websocket.StatusGoingAway, "the server is stopping")
		}
	}
}

// connectionID makes an id of the shape API Gateway gives ("L0SM9cOFvHcCIhw="),
// without / or +, which would need escaping in /@connections/{id}.
func connectionID() string {
	return base64.RawURLEncoding.EncodeToString(random(9))[:11] + "="
}

func sourceIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
