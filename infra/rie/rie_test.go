package rie_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"workbench/infra/localstack"
	"workbench/infra/moto"
	"workbench/infra/rie"
	"workbench/infra/template"
)

// TestPlatformBootstrap runs the platform function's real Lambda binary
// under the Runtime Interface Emulator, on a moto-backed stack, and checks
// its health route: what Lambda itself would run, down to main.
func TestPlatformBootstrap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	emulator, err := rie.Find(ctx)
	if errors.Is(err, rie.ErrNotInstalled) {
		t.Logf("installing %s", rie.Module)
		emulator, err = rie.Install(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	bootstrap, err := rie.Build(ctx, "workbench/functions/platform", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	tmpl, err := template.ParseFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	server, err := moto.Start(ctx, moto.Options{Dir: "../.."})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	ls, err := localstack.New(localstack.Config{Template: tmpl, Endpoint: server.Endpoint, Prefix: "rie" + strings.ToLower(rand.Text()[:6]) + "-"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	env, err := ls.Env("PlatformFunction")
	if err != nil {
		t.Fatal(err)
	}
	fn, _ := tmpl.Function("PlatformFunction")
	env["AWS_LAMBDA_FUNCTION_NAME"] = ls.Name("PlatformFunction")
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(fn.Timeout)
	env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(fn.MemorySize)

	var log strings.Builder
	out := &syncWriter{w: &log}
	emu, err := rie.Start(ctx, rie.Options{RIE: emulator, Bootstrap: bootstrap, Env: env, Log: out})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		emu.Stop()
		if t.Failed() {
			out.mu.Lock()
			t.Logf("emulator and function output:\n%s", log.String())
			out.mu.Unlock()
		}
	}()

	requestID := "rie-" + rand.Text()[:10]
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: "GET /v1/health",
		RawPath:  "/v1/health",
		Headers:  map[string]string{"host": "127.0.0.1:3000", "user-agent": "rie-test"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID:  "123456789012",
			APIID:      "local",
			DomainName: "127.0.0.1:3000",
			RequestID:  requestID,
			RouteKey:   "GET /v1/health",
			Stage:      "$default",
			Time:       time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  time.Now().UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: "GET", Path: "/v1/health", Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: "rie-test",
			},
		},
	}
	payload, _ := json.Marshal(ev)
	for i := range 2 { // a cold invocation, then a warm one
		out, err := emu.Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("invocation %d: %v: %s", i, err, out)
		}
		var body map[string]any
		if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &body) != nil || len(body) != 1 || body["status"] != "ok" {
			t.Errorf("invocation %d: %d %q", i, resp.StatusCode, resp.Body)
		}
		if got := header(resp, "X-Request-Id"); got != requestID {
			t.Errorf("invocation %d: X-Request-Id = %q, want the event's requestId %q", i, got, requestID)
		}
	}

	// The same binary behind the local gateway: the emulator is a
	// lambda.Handler like any other.
	gw, err := ls.Gateway(map[string]*localstack.Function{"PlatformFunction": {LogicalID: "PlatformFunction", Handler: emu}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ok"}` || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("through the gateway: %d %s %v", resp.StatusCode, b, resp.Header)
	}
}

func header(resp events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, vs := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// syncWriter serialises the writes of the emulator's two output streams.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
