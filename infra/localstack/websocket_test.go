package localstack

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"

	"workbench/infra/template"
)

// The local WebSocket API sends the events API Gateway sends, refuses a
// handshake its $connect function refuses, answers frames through a
// two-way route, and serves the Management API to the real SDK client.
func TestWebSocketsServeTheRoutesAndTheManagementAPI(t *testing.T) {
	var mu sync.Mutex
	var seen []events.APIGatewayWebsocketProxyRequest
	disconnected := make(chan string, 1)
	fn := &Function{LogicalID: "Sockets", Handler: lambda.NewHandler(func(ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		mu.Lock()
		seen = append(seen, ev)
		mu.Unlock()
		switch ev.RequestContext.EventType {
		case "CONNECT":
			if ev.QueryStringParameters["token"] != "good" {
				return events.APIGatewayProxyResponse{StatusCode: 401, Body: `{"error":{"code":"invalid_token"}}`}, nil
			}
		case "DISCONNECT":
			disconnected <- ev.RequestContext.ConnectionID
		case "MESSAGE":
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: "echo " + ev.RequestContext.RouteKey + " " + ev.Body}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	})}
	ws := &WebSockets{
		API: template.WebSocketAPI{LogicalID: "Api", RouteSelection: "$request.body.action", Stage: "ws", Routes: []template.WebSocketRoute{
			{Key: "$connect", Function: "Sockets"}, {Key: "$disconnect", Function: "Sockets"},
			{Key: "$default", Function: "Sockets", TwoWay: true}, {Key: "hello", Function: "Sockets"},
		}},
		Functions: map[string]*Function{"Sockets": fn},
	}
	srv := httptest.NewServer(&Gateway{WebSockets: ws})
	defer srv.Close()
	defer ws.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, resp, err := websocket.Dial(ctx, url+"?token=bad", nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("bad token: %v, %v; want the function's 401", resp, err)
	}
	conn, _, err := websocket.Dial(ctx, url+"?token=good", &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {"probe/1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.CloseNow() }()
	open := ws.Open()
	if len(open) != 1 {
		t.Fatalf("open connections %v", open)
	}
	id := open[0]
	mu.Lock()
	c := seen[1].RequestContext
	mu.Unlock()
	if c.RouteKey != "$connect" || c.EventType != "CONNECT" || c.ConnectionID != id || c.ConnectedAt == 0 ||
		c.Identity.SourceIP != "127.0.0.1" || c.Identity.UserAgent != "probe/1" || c.Stage != "ws" || c.MessageDirection != "IN" {
		t.Errorf("$connect request context %+v", c)
	}

	// $default answers (two-way); an action route runs but sends nothing back.
	for _, frame := range []string{`{"action":"hello"}`, `{"action":"other"}`} {
		if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	if _, got, err := conn.Read(ctx); err != nil || string(got) != `echo $default {"action":"other"}` {
		t.Errorf("frame %q, %v", got, err)
	}

	mu.Lock()
	if hello := seen[2].RequestContext; hello.RouteKey != "hello" || hello.EventType != "MESSAGE" || hello.ConnectionID != id || seen[2].Body != `{"action":"hello"}` {
		t.Errorf("the hello frame ran %+v", seen[2])
	}
	mu.Unlock()

	api := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region: Region, BaseEndpoint: aws.String(srv.URL + "/ws"),
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	})
	if _, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(`{"type":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, got, err := conn.Read(ctx); err != nil || string(got) != `{"type":"x"}` {
		t.Errorf("posted frame %q, %v", got, err)
	}
	info, err := api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	if err != nil || info.Identity == nil || aws.ToString(info.Identity.UserAgent) != "probe/1" || info.ConnectedAt == nil {
		t.Errorf("GetConnection = %+v, %v", info, err)
	}
	var gone *apitypes.GoneException
	if _, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("nobody="), Data: []byte("x")}); !errors.As(err, &gone) {
		t.Errorf("post to an unknown connection: %v, want GoneException", err)
	}
	if _, err := api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-disconnected:
		if got != id {
			t.Errorf("$disconnect for %q, want %q", got, id)
		}
	case <-ctx.Done():
		t.Fatal("no $disconnect after DeleteConnection")
	}
	if posts := ws.Posts(); posts != 2 {
		t.Errorf("Posts = %d, want 2", posts)
	}
}
