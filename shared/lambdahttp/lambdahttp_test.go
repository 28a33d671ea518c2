package lambdahttp

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"workbench/shared/httpapi"
)

// The adapter hands the handler what the gateway vouches for and drops
// proxy headers a client sent, so they cannot pose as the gateway.
func TestHandlerUsesGatewayContextAndDropsProxyHeaders(t *testing.T) {
	var seen httpapi.Request
	var smuggled string
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = httpapi.RequestOf(r.Context())
		smuggled = r.Header.Get("X-GoLambdaProxy-ApiGw-Context")
		httpapi.JSON(w, http.StatusCreated, map[string]string{"path": r.URL.Path, "q": r.URL.Query().Get("q")})
	}))
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /v1/x", RawPath: "/v1/x", RawQueryString: "q=%E5%BC%A0",
		Headers: map[string]string{
			"content-type":                  "application/json",
			"x-golambdaproxy-apigw-context": `{"requestId":"spoofed","http":{"sourceIp":"10.0.0.1"}}`,
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "gw-req-1",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/v1/x", SourceIP: "203.0.113.7", UserAgent: "curl/8"},
		},
		Body: `{}`,
	}
	payload, _ := json.Marshal(ev)
	out, err := h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || resp.Headers["X-Request-Id"] != "gw-req-1" {
		t.Errorf("status %d, headers %v", resp.StatusCode, resp.Headers)
	}
	if seen.ID != "gw-req-1" || seen.SourceIP != "203.0.113.7" || seen.UserAgent != "curl/8" {
		t.Errorf("handler saw %+v", seen)
	}
	if smuggled != "" {
		t.Errorf("a client-sent proxy header reached the handler: %q", smuggled)
	}
	var body map[string]string
	if json.Unmarshal([]byte(resp.Body), &body) != nil || body["path"] != "/v1/x" || body["q"] != "张" {
		t.Errorf("body %q", resp.Body)
	}
}

// On AWS the gateway passes the raw path on: a %2F inside an id reaches the
// function's router, which refuses it rather than reading another route.
func TestEncodedSlashInAPathIDIsRefused(t *testing.T) {
	r := httpapi.NewRouter()
	r.Handle("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) error {
		httpapi.JSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
		return nil
	})
	r.Handle("GET /v1/things/{id}/parts/{part}", func(w http.ResponseWriter, r *http.Request) error {
		httpapi.JSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
		return nil
	})
	h := Handler(r)
	for raw, want := range map[string]int{"/v1/things/a%2Fparts%2Fb": 400, "/v1/things/a": 200} {
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "GET /v1/things/{id}", RawPath: raw,
			RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "gw-req-2",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: raw, SourceIP: "203.0.113.7"}},
		}
		payload, _ := json.Marshal(ev)
		out, err := h.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want || resp.Headers["X-Request-Id"] != "gw-req-2" {
			t.Errorf("%s: %d %s", raw, resp.StatusCode, resp.Body)
		}
	}
}
