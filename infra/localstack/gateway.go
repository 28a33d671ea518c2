package localstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"workbench/infra/moto"
	"workbench/shared/httpapi"
)

// MaxBodyBytes is the largest request body the gateway passes on: Lambda's
// limit on a synchronous invocation's payload.
const MaxBodyBytes = 6 << 20

// Made-up identity of the local API, as it appears in events.
const (
	accountID = "123456789012"
	apiID     = "local"
)

// Gateway is the local API Gateway: an http.Handler that routes each
// request to the function whose HttpApi event matches it, invoking it with
// the payload format 2.0 event API Gateway would send. It also serves the
// local-only routes under /_local/.
type Gateway struct {
	Routes    []Route
	Functions map[string]*Function // by logical id
	// Endpoint is the moto server's base URL, where /_local/sms reads.
	Endpoint string
	// Now stamps requestContext.time; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// OnMutation, if set, runs after each POST, PUT, PATCH or DELETE has
	// been answered.
	OnMutation func()
	// WebSockets, if set, is the WebSocket API served beside the HTTP API.
	WebSockets *WebSockets
}

// Gateway returns the gateway serving fns, as built by Build.
func (s *Stack) Gateway(fns map[string]*Function) (*Gateway, error) {
	routes, err := Routes(s.cfg.Template)
	if err != nil {
		return nil, err
	}
	return &Gateway{
		Routes:     routes,
		Functions:  fns,
		Endpoint:   s.cfg.Endpoint,
		Now:        s.cfg.Now,
		Logger:     s.log,
		WebSockets: s.WebSockets(fns),
	}, nil
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	attrs := g.serve(rec, r)
	g.logger().LogAttrs(r.Context(), slog.LevelInfo, "request", append(attrs,
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rec.status),
		slog.Int64("duration_ms", time.Since(start).Milliseconds()),
	)...)
	if g.WebSockets != nil && g.WebSockets.handles(r.URL.Path) {
		return // posts to connections change no table
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		if g.OnMutation != nil {
			g.OnMutation()
		}
	}
}

// serve answers r and returns what the request log should say about it.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) []slog.Attr {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/_local/"); ok {
		return g.serveLocal(w, r, rest)
	}
	if g.WebSockets != nil && g.WebSockets.handles(r.URL.Path) {
		return g.WebSockets.serve(w, r)
	}
	route, params, ok := Match(g.Routes, r.Method, r.URL.EscapedPath())
	if !ok {
		if methods := Allowed(g.Routes, r.URL.EscapedPath()); len(methods) > 0 {
			// API Gateway's HTTP API answers its own 404 here; the local
			// stack answers as the API.md contract has it, and as a function
			// whose router knows the path does.
			w.Header().Set("Allow", strings.Join(methods, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("%s is not allowed on %s; it takes %s", r.Method, r.URL.Path, strings.Join(methods, ", ")))
			return nil
		}
		writeError(w, http.StatusNotFound, "route_not_found", fmt.Sprintf("no route matches %s %s", r.Method, r.URL.Path))
		return nil
	}
	if err := httpapi.CheckPath(r.URL.EscapedPath()); err != nil {
		// API Gateway would pass the decoded id on to the function, whose
		// router refuses it the same way.
		writeFieldError(w, http.StatusBadRequest, "invalid_path", "path", "a path segment must not hold an encoded slash (%2F)")
		return nil
	}
	attrs := []slog.Attr{slog.String("route", route.Key), slog.String("function", route.Function)}
	fn, ok := g.Functions[route.Function]
	if !ok {
		writeError(w, http.StatusBadGateway, "function_error", route.Function+" is not built")
		return attrs
	}
	body, ok := readBody(w, r)
	if !ok {
		return attrs
	}
	ev := newEvent(r, route, params, body, g.now())
	attrs = append(attrs, slog.String("request_id", ev.RequestContext.RequestID))
	payload, err := json.Marshal(ev)
	if err != nil {
		g.logger().ErrorContext(r.Context(), "encode event", "err", err)
		writeError(w, http.StatusInternalServerError, "gateway_error", "the gateway could not build the event; its log has the cause")
		return attrs
	}
	out, err := fn.Invoke(r.Context(), payload)
	if err != nil {
		g.functionFailed(r.Context(), w, fn.LogicalID, err)
		return attrs
	}
	if err := writeResponse(w, out); err != nil {
		g.functionFailed(r.Context(), w, fn.LogicalID, err)
	}
	return attrs
}

func (g *Gateway) serveLocal(w http.ResponseWriter, r *http.Request, rest string) []slog.Attr {
	switch {
	case rest == "sms":
		if !allow(w, r, http.MethodGet) {
			return nil
		}
		g.serveSMS(w, r)
		return nil
	case strings.HasPrefix(rest, "invoke/"):
		id := strings.TrimPrefix(rest, "invoke/")
		attrs := []slog.Attr{slog.String("function", id)}
		if !allow(w, r, http.MethodPost) {
			return attrs
		}
		fn, ok := g.Functions[id]
		if !ok {
			writeError(w, http.StatusNotFound, "function_not_found", fmt.Sprintf("no function %q", id))
			return attrs
		}
		body, ok := readBody(w, r)
		if !ok {
			return attrs
		}
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("{}")
		}
		if !json.Valid(body) {
			writeError(w, http.StatusBadRequest, "invalid_event", "the body is the event given to the function: it must be JSON")
			return attrs
		}
		out, err := fn.Invoke(r.Context(), body)
		if badEvent(err) {
			writeError(w, http.StatusBadRequest, "invalid_event", fmt.Sprintf("%s cannot read this event: %v", id, err))
			return attrs
		}
		if err != nil {
			g.functionFailed(r.Context(), w, id, err)
			return attrs
		}
		if t := bytes.TrimSpace(out); len(t) == 0 || string(t) == "null" {
			out = []byte("{}")
		}
		w.Header().Set("Content-Type", "application/json")
		// A shell prompt does not run on after it. The status is sent: a
		// client that went away cannot be told more.
		_, _ = w.Write(append(bytes.TrimRight(out, "\n"), '\n'))
		return attrs
	}
	writeError(w, http.StatusNotFound, "route_not_found", fmt.Sprintf("no local route %s", r.URL.Path))
	return nil
}

// serveSMS lists the SMS sent to one mobile, oldest first.
func (g *Gateway) serveSMS(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("mobile")
	if q == "" {
		writeFieldError(w, http.StatusBadRequest, "required", "mobile", "mobile is required: 11 digits, or +86 and 11 digits")
		return
	}
	mobile, ok := localMobile(q)
	if !ok {
		writeFieldError(w, http.StatusBadRequest, "invalid_mobile", "mobile", fmt.Sprintf("mobile %q is not 11 digits, or +86 and 11 digits", q))
		return
	}
	all, err := moto.Messages(r.Context(), g.Endpoint)
	if err != nil {
		writeError(w, http.StatusBadGateway, "moto_error", err.Error())
		return
	}
	type item struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}
	items := []item{}
	for _, m := range all {
		if to, ok := localMobile(m.PhoneNumber); ok && to == mobile {
			items = append(items, item{To: to, Text: m.Message})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// localMobile returns the 11-digit mainland mobile that s names, whether
// written as 11 digits or in E.164 (+86…).
func localMobile(s string) (string, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "+86")
	if len(s) != 11 {
		return "", false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return s, true
}

// badEvent reports whether an invocation failed because the runtime could
// not decode the event into the handler's type: the caller's fault, not the
// function's.
func badEvent(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var parse *time.ParseError
	return err != nil && (errors.As(err, &syntax) || errors.As(err, &typ) || errors.As(err, &parse) ||
		strings.HasPrefix(err.Error(), "Time.UnmarshalJSON"))
}

func (g *Gateway) functionFailed(ctx context.Context, w http.ResponseWriter, id string, err error) {
	attrs := []any{"function", id, "err", err}
	var pe *PanicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.Stack))
	}
	g.logger().ErrorContext(ctx, "function failed", attrs...)
	// The cause is in the log; the caller gets no Go internals, as API
	// Gateway answers a failed invocation with a bare message.
	writeError(w, http.StatusBadGateway, "function_error", id+" failed; the local stack's log has the cause")
}

func (g *Gateway) logger() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

func (g *Gateway) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// newEvent builds the event API Gateway's HTTP API sends for r
// (payload format 2.0).
func newEvent(r *http.Request, route Route, params map[string]string, body []byte, now time.Time) events.APIGatewayV2HTTPRequest {
	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	headers := map[string]string{}
	var cookies []string
	for name, values := range r.Header {
		name = strings.ToLower(name)
		if name == "cookie" {
			// Payload 2.0 moves cookies out of the headers.
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[name] = strings.Join(values, ",")
	}
	// What API Gateway itself adds.
	headers["host"] = r.Host
	if len(body) > 0 {
		headers["content-length"] = fmt.Sprint(len(body))
	}
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = "http"
	if r.TLS != nil {
		headers["x-forwarded-proto"] = "https"
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		headers["x-forwarded-port"] = port
	} else if r.TLS != nil {
		headers["x-forwarded-port"] = "443"
	} else {
		headers["x-forwarded-port"] = "80"
	}
	headers["x-amzn-trace-id"] = fmt.Sprintf("Root=1-%08x-%x", now.Unix(), random(12))

	var query map[string]string
	if r.URL.RawQuery != "" {
		values, _ := url.ParseQuery(r.URL.RawQuery)
		query = make(map[string]string, len(values))
		for k, vs := range values {
			query[k] = strings.Join(vs, ",")
		}
	}

	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	domainPrefix, _, _ := strings.Cut(host, ".")

	path := r.URL.EscapedPath()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.Key,
		RawPath:               path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.Key,
			AccountID:    accountID,
			Stage:        "$default",
			RequestID:    base64.StdEncoding.EncodeToString(random(10)),
			APIID:        apiID,
			DomainName:   r.Host,
			DomainPrefix: domainPrefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// writeResponse writes a function's result as API Gateway would. A result
// without a statusCode is, as payload format 2.0 has it, a 200 whose JSON
// body is the result itself.
func writeResponse(w http.ResponseWriter, out []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(out, &probe); err != nil || probe["statusCode"] == nil {
		if !json.Valid(out) {
			return fmt.Errorf("the result is not JSON: %.200q", out)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out) // the status is sent: a client that went away cannot be told more
		return nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("the result is not an API Gateway response: %w", err)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return fmt.Errorf("the response body is not base64: %w", err)
		}
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return fmt.Errorf("the response has status %d", resp.StatusCode)
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body) // the status is sent: a client that went away cannot be told more
	return nil
}

// readBody reads r's body, answering 413 when it is too large.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, "bad_body", "the request body could not be read")
		}
		return nil, false
	}
	return body, true
}

func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s wants %s", r.URL.Path, method))
	return false
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeFieldError(w, status, code, "", message)
}

func writeFieldError(w http.ResponseWriter, status int, code, field, message string) {
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	writeJSON(w, status, map[string]detail{"error": {Code: code, Message: message, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: a client that went away cannot be told more
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// statusRecorder remembers the status written, for the request log, and
// gives every answer a request id: functions set their own (the event's),
// and the gateway's own answers (no route, local routes) get one here, as
// every response of the API carries one.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		if s.Header().Get("X-Request-Id") == "" {
			s.Header().Set("X-Request-Id", base64.StdEncoding.EncodeToString(random(10)))
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
