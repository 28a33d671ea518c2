package localstack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestNewEvent(t *testing.T) {
	body := `{"name":"ü"}`
	r := httptest.NewRequest("POST", "http://127.0.0.1:3000/v1/members/a%2Fb/notes?x=1&x=2&y=%20z", strings.NewReader(body))
	r.RemoteAddr = "10.1.2.3:5555"
	r.Header.Set("User-Agent", "test-agent/1")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", "b")
	r.Header.Add("Cookie", "s=1; t=2")
	r.Header.Add("Cookie", "u=3")
	r.Header.Set("X-Forwarded-For", "192.0.2.1")
	route, _ := ParseRoute("POST /v1/members/{id}/notes", "F")
	now := time.Date(2026, 3, 12, 19, 3, 58, 123e6, time.UTC)

	ev := newEvent(r, route, map[string]string{"id": "a/b"}, []byte(body), now)

	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("version", ev.Version, "2.0")
	check("routeKey", ev.RouteKey, "POST /v1/members/{id}/notes")
	check("rawPath", ev.RawPath, "/v1/members/a%2Fb/notes")
	check("rawQueryString", ev.RawQueryString, "x=1&x=2&y=%20z")
	check("cookies", ev.Cookies, []string{"s=1", "t=2", "u=3"})
	check("queryStringParameters", ev.QueryStringParameters, map[string]string{"x": "1,2", "y": " z"})
	check("pathParameters", ev.PathParameters, map[string]string{"id": "a/b"})
	check("body", ev.Body, body)
	check("isBase64Encoded", ev.IsBase64Encoded, false)

	h := ev.Headers
	check("headers.user-agent", h["user-agent"], "test-agent/1")
	check("headers.content-type", h["content-type"], "application/json")
	check("headers.x-multi", h["x-multi"], "a,b")
	check("headers.host", h["host"], "127.0.0.1:3000")
	check("headers.content-length", h["content-length"], "13")
	check("headers.x-forwarded-for", h["x-forwarded-for"], "192.0.2.1, 10.1.2.3")
	check("headers.x-forwarded-proto", h["x-forwarded-proto"], "http")
	check("headers.x-forwarded-port", h["x-forwarded-port"], "3000")
	if _, ok := h["cookie"]; ok {
		t.Error("cookie header kept; payload 2.0 moves it to cookies")
	}
	if !strings.HasPrefix(h["x-amzn-trace-id"], "Root=1-") || len(h["x-amzn-trace-id"]) != len("Root=1-")+8+1+24 {
		t.Errorf("x-amzn-trace-id = %q", h["x-amzn-trace-id"])
	}
	for name := range h {
		if name != strings.ToLower(name) {
			t.Errorf("header %q is not lower case", name)
		}
	}

	rc := ev.RequestContext
	check("requestContext.routeKey", rc.RouteKey, ev.RouteKey)
	check("requestContext.accountId", rc.AccountID, "123456789012")
	check("requestContext.apiId", rc.APIID, "local")
	check("requestContext.stage", rc.Stage, "$default")
	check("requestContext.domainName", rc.DomainName, "127.0.0.1:3000")
	check("requestContext.domainPrefix", rc.DomainPrefix, "127")
	check("requestContext.time", rc.Time, "12/Mar/2026:19:03:58 +0000")
	check("requestContext.timeEpoch", rc.TimeEpoch, now.UnixMilli())
	check("requestContext.http", rc.HTTP, events.APIGatewayV2HTTPRequestContextHTTPDescription{
		Method: "POST", Path: "/v1/members/a%2Fb/notes", Protocol: "HTTP/1.1", SourceIP: "10.1.2.3", UserAgent: "test-agent/1",
	})
	if id, err := base64.StdEncoding.DecodeString(rc.RequestID); err != nil || len(id) != 10 {
		t.Errorf("requestId = %q, want API Gateway's form", rc.RequestID)
	}
	if other := newEvent(r, route, nil, nil, now); other.RequestContext.RequestID == rc.RequestID {
		t.Error("two events share a request id")
	}

	// What goes over the wire is API Gateway's JSON.
	raw, _ := json.Marshal(ev)
	var wire map[string]any
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers", "queryStringParameters", "pathParameters", "requestContext", "body", "isBase64Encoded"} {
		if _, ok := wire[key]; !ok {
			t.Errorf("event JSON lacks %q", key)
		}
	}

	// A body that is not UTF-8 travels base64-encoded; no body, no field.
	bin := []byte{0xff, 0x00, 0xfe}
	ev = newEvent(httptest.NewRequest("PUT", "/v1/x", bytes.NewReader(bin)), route, nil, bin, now)
	if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString(bin) {
		t.Errorf("binary body = %q base64 %v", ev.Body, ev.IsBase64Encoded)
	}
	ev = newEvent(httptest.NewRequest("GET", "/v1/x", nil), route, nil, nil, now)
	if ev.Body != "" || ev.IsBase64Encoded || ev.QueryStringParameters != nil || ev.Cookies != nil {
		t.Errorf("empty request: %+v", ev)
	}
}

// echo is a tiny function: it answers with what it was given.
func echo(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	_, hasDeadline := ctx.Deadline()
	switch ev.RawPath {
	case "/fail":
		return events.APIGatewayV2HTTPResponse{}, errors.New("boom")
	case "/panic":
		panic("kaboom")
	case "/binary":
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: base64.StdEncoding.EncodeToString([]byte{0xff, 1}), IsBase64Encoded: true}, nil
	}
	b, _ := json.Marshal(map[string]any{
		"event":       ev,
		"awsRequest":  lc.AwsRequestID,
		"arn":         lc.InvokedFunctionArn,
		"hasDeadline": hasDeadline,
	})
	return events.APIGatewayV2HTTPResponse{
		StatusCode:        201,
		Headers:           map[string]string{"Content-Type": "application/json", "X-Request-Id": ev.RequestContext.RequestID},
		MultiValueHeaders: map[string][]string{"X-Many": {"1", "2"}},
		Cookies:           []string{"a=1; Path=/", "b=2"},
		Body:              string(b),
	}, nil
}

func testGateway(t *testing.T) *httptest.Server {
	t.Helper()
	routes := mustRoutesFor(t, map[string]string{
		"GET /v1/echo/{id}": "Echo",
		"POST /fail":        "Echo",
		"GET /panic":        "Echo",
		"GET /binary":       "Echo",
		"GET /plain":        "Plain",
		"GET /gone":         "Missing",
	})
	plain := lambda.NewHandler(func(ctx context.Context, in json.RawMessage) (any, error) {
		if string(in) == `{"null":true}` {
			return nil, nil
		}
		return map[string]any{"got": in}, nil
	})
	failing := lambda.NewHandler(func() error { return errors.New("scan failed") })
	scheduled := lambda.NewHandler(func(ctx context.Context, ev events.EventBridgeEvent) error { return nil })
	g := &Gateway{
		Routes: routes,
		Functions: map[string]*Function{
			"Echo":  {LogicalID: "Echo", ARN: "arn:aws:lambda:us-east-1:123456789012:function:Echo", Timeout: 3 * time.Second, Handler: lambda.NewHandler(echo)},
			"Plain": {LogicalID: "Plain", Handler: plain},
			"Fail":  {LogicalID: "Fail", Handler: failing},
			"Scan":  {LogicalID: "Scan", Handler: scheduled},
		},
	}
	srv := httptest.NewUnstartedServer(g)
	srv.Listener = Listener(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func mustRoutesFor(t *testing.T, m map[string]string) []Route {
	var rs []Route
	for k, fn := range m {
		r, err := ParseRoute(k, fn)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func do(t *testing.T, method, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Error.Code
}

func TestGatewayRoundTrip(t *testing.T) {
	srv := testGateway(t)

	resp, body := do(t, "GET", srv.URL+"/v1/echo/7?q=x", "", "Cookie", "c=1", "X-Test", "yes")
	if resp.StatusCode != 201 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Event       events.APIGatewayV2HTTPRequest
		AwsRequest  string
		ARN         string
		HasDeadline bool
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	ev := got.Event
	if ev.RouteKey != "GET /v1/echo/{id}" || ev.PathParameters["id"] != "7" || ev.QueryStringParameters["q"] != "x" ||
		ev.Headers["x-test"] != "yes" || !reflect.DeepEqual(ev.Cookies, []string{"c=1"}) || ev.RequestContext.HTTP.SourceIP != "127.0.0.1" {
		t.Errorf("event = %+v", ev)
	}
	if resp.Header.Get("X-Request-Id") != ev.RequestContext.RequestID || ev.RequestContext.RequestID == "" {
		t.Errorf("X-Request-Id = %q, event's requestId %q", resp.Header.Get("X-Request-Id"), ev.RequestContext.RequestID)
	}
	if len(got.AwsRequest) != 36 || got.ARN != "arn:aws:lambda:us-east-1:123456789012:function:Echo" || !got.HasDeadline {
		t.Errorf("Lambda context: request %q arn %q deadline %v", got.AwsRequest, got.ARN, got.HasDeadline)
	}
	if v := resp.Header.Values("X-Many"); !reflect.DeepEqual(v, []string{"1", "2"}) {
		t.Errorf("X-Many = %v", v)
	}
	if v := resp.Header.Values("Set-Cookie"); !reflect.DeepEqual(v, []string{"a=1; Path=/", "b=2"}) {
		t.Errorf("Set-Cookie = %v", v)
	}

	resp, body = do(t, "GET", srv.URL+"/binary", "")
	if resp.StatusCode != 200 || !bytes.Equal(body, []byte{0xff, 1}) {
		t.Errorf("binary: %d %v", resp.StatusCode, body)
	}

	// A result without statusCode is a 200 with the result as JSON body.
	resp, body = do(t, "GET", srv.URL+"/plain", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"got":{`) {
		t.Errorf("plain: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nowhere", 404, "route_not_found"},
		{"DELETE", "/v1/echo/7", 405, "method_not_allowed"},
		{"GET", "/v1/echo/a%2Fb", 400, "invalid_path"},
		{"GET", "/v1/echo/a%2fb", 400, "invalid_path"},
		{"POST", "/fail", 502, "function_error"},
		{"GET", "/panic", 502, "function_error"},
		{"GET", "/gone", 502, "function_error"},
		{"GET", "/_local/nothing", 404, "route_not_found"},
		{"GET", "/_local/invoke/Echo", 405, "method_not_allowed"},
		{"POST", "/_local/invoke/Nobody", 404, "function_not_found"},
		{"POST", "/_local/invoke/Fail", 502, "function_error"},
		{"GET", "/_local/sms", 400, "required"},
		{"GET", "/_local/sms?mobile=12345", 400, "invalid_mobile"},
		{"GET", "/_local/sms?mobile=%2B86139000000001", 400, "invalid_mobile"},
		{"POST", "/_local/sms?mobile=13900000000", 405, "method_not_allowed"},
	} {
		resp, body := do(t, tc.method, srv.URL+tc.path, "")
		if resp.StatusCode != tc.status || errorCode(t, body) != tc.code {
			t.Errorf("%s %s = %d %s, want %d %s", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.code)
		}
		for _, leak := range []string{"boom", "kaboom", "panic", "runtime", "goroutine"} {
			if strings.Contains(string(body), leak) {
				t.Errorf("%s %s leaks %q: %s", tc.method, tc.path, leak, body)
			}
		}
	}

	resp, body = do(t, "POST", srv.URL+"/fail", strings.Repeat("x", MaxBodyBytes+1))
	if resp.StatusCode != 413 || errorCode(t, body) != "body_too_large" {
		t.Errorf("large body: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "DELETE", srv.URL+"/v1/echo/7", "")
	if resp.Header.Get("Allow") != "GET" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("405: Allow %q, X-Request-Id %q: %s", resp.Header.Get("Allow"), resp.Header.Get("X-Request-Id"), body)
	}
}

// Requests net/http refuses before any handler runs get the API's JSON
// error with a request id, not the server's plain text.
func TestGatewayMalformedRequests(t *testing.T) {
	srv := testGateway(t)
	for _, raw := range []string{
		"GET /v1/echo/7 HTTP/1.1\r\nHost: x\r\nX-Test: a\x00b\r\n\r\n",
		"GET /v1/echo/7 HTTP/1.1\r\nHost: x\r\nX-Te\x00st: ab\r\n\r\n",
		"GET /v1/echo/7 HTTP/1.1\r\nHost: x\r\nX-Test: a\rb\r\n\r\n",
	} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 400 || errorCode(t, body) != "bad_request" || resp.Header.Get("X-Request-Id") == "" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%q: %d %v %s", raw, resp.StatusCode, resp.Header, body)
		}
	}
	// A handler's own 400 passes through untouched.
	resp, body := do(t, "GET", srv.URL+"/_local/sms", "")
	if resp.StatusCode != 400 || errorCode(t, body) != "required" {
		t.Errorf("handler 400: %d %s", resp.StatusCode, body)
	}
}

func TestLocalInvoke(t *testing.T) {
	srv := testGateway(t)
	for _, tc := range []struct{ body, want string }{
		{`{"time":"2026-01-01T00:00:00Z"}`, `{"got":{"time":"2026-01-01T00:00:00Z"}}`},
		{``, `{"got":{}}`},
		{`{"null":true}`, `{}`},
	} {
		resp, body := do(t, "POST", srv.URL+"/_local/invoke/Plain", tc.body)
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != tc.want {
			t.Errorf("invoke with %q = %d %s, want %s", tc.body, resp.StatusCode, body, tc.want)
		}
	}
}

func TestGatewayOnMutation(t *testing.T) {
	n := 0
	g := &Gateway{OnMutation: func() { n++ }}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
		g.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, "/x", nil))
	}
	if n != 4 {
		t.Errorf("OnMutation ran %d times, want 4", n)
	}
}

// Bad events are the caller's fault (400); a failing function is a 502. The
// gateway's own answers carry a request id like every other response.
func TestLocalInvokeErrorsAndGatewayRequestIDs(t *testing.T) {
	srv := testGateway(t)
	for _, tc := range []struct {
		fn, body string
		status   int
		code     string
	}{
		{"Scan", `{bad`, 400, "invalid_event"},
		{"Scan", `{"time":"garbage"}`, 400, "invalid_event"},
		{"Scan", `{"time":"2026-01-01T00:00:00Z"}`, 200, ""},
		{"Fail", `{}`, 502, "function_error"},
		{"Nope", `{}`, 404, "function_not_found"},
	} {
		resp, body := do(t, "POST", srv.URL+"/_local/invoke/"+tc.fn, tc.body)
		var e struct{ Error struct{ Code string } }
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: %d %s", tc.fn, resp.StatusCode, body)
		}
		if resp.StatusCode != tc.status || e.Error.Code != tc.code {
			t.Errorf("invoke %s with %s = %d %s, want %d %s", tc.fn, tc.body, resp.StatusCode, body, tc.status, tc.code)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("invoke %s: no X-Request-Id", tc.fn)
		}
	}
	for _, path := range []string{"/v1/nowhere", "/_local/nowhere", "/_local/sms"} {
		resp, _ := do(t, "GET", srv.URL+path, "")
		if resp.StatusCode < 400 || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: %d, X-Request-Id %q", path, resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
	}
}
