// Package realtimefn builds the live-delivery functions: RealtimeFunction
// (the WebSocket API's routes) and PushFunction (the streams' consumer).
package realtimefn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"workbench/shared/chat"
	"workbench/shared/cloud"
	"workbench/shared/config"
	"workbench/shared/errs"
	"workbench/shared/httpapi"
	"workbench/shared/logging"
	"workbench/shared/realtime"
	"workbench/shared/stack/wire"
)

// Realtime serves the WebSocket API's routes: $connect checks the access
// token and stores the connection, $disconnect forgets it, $default
// answers pings.
func Realtime(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	table := c.Required("CONNECTIONS_TABLE")
	if err := c.Err(); err != nil {
		return nil, err
	}
	members, err := wire.MemberAuth(ctx, env)
	if err != nil {
		return nil, err
	}
	s := &realtime.Sockets{
		Tokens: members.Tokens, Sessions: members.Sessions,
		Connections: &realtime.Connections{DB: env.DynamoDB, Table: table},
		Now:         env.Now,
	}
	return lambda.NewHandler(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		rc := ev.RequestContext
		ctx = logging.WithRequestID(ctx, rc.RequestID)
		switch rc.EventType {
		case "CONNECT":
			conn, err := s.Connect(ctx, realtime.TokenOf(ev.QueryStringParameters["token"], header(ev.Headers, "Sec-WebSocket-Protocol")), rc.ConnectionID)
			if err != nil {
				return refusal(ctx, err), nil
			}
			slog.InfoContext(ctx, "connected", "connection", conn.ID, "tenant", conn.TenantID, "member", conn.MemberID)
			resp := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
			if header(ev.Headers, "Sec-WebSocket-Protocol") != "" {
				// A browser drops a handshake whose answer names no protocol it offered.
				resp.Headers = map[string]string{"Sec-WebSocket-Protocol": realtime.Subprotocol}
			}
			return resp, nil
		case "DISCONNECT":
			if err := s.Disconnect(ctx, rc.ConnectionID); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
			return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK, Body: string(s.Frame(ev.Body))}, nil
	}), nil
}

// refusal is the answer that refuses a handshake: the error's status and
// JSON body, as every HTTP route answers.
func refusal(ctx context.Context, err error) events.APIGatewayProxyResponse {
	e := errs.As(err)
	status := httpapi.StatusOf(e)
	if status >= 500 {
		slog.ErrorContext(ctx, "connect failed", "error", e.Error())
		e = errs.E(errs.Internal, "internal", "internal error")
	}
	type detail struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	body, _ := json.Marshal(map[string]detail{"error": {Code: e.Code, Message: e.Message, Field: e.Field}})
	return events.APIGatewayProxyResponse{StatusCode: status, Body: string(body), Headers: map[string]string{"Content-Type": "application/json"}}
}

// header reads a header whatever the case API Gateway gives its name in.
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Push consumes the chat and notices tables' streams and posts their
// events to the open connections of the members they concern.
func Push(ctx context.Context, env *cloud.Env) (lambda.Handler, error) {
	c := config.NewReader(env.Config)
	chatTable := c.Required("CHAT_TABLE")
	noticesTable := c.Required("NOTICES_TABLE")
	connTable := c.Required("CONNECTIONS_TABLE")
	endpoint := c.Required("CONNECTIONS_URL")
	if err := c.Err(); err != nil {
		return nil, err
	}
	api := apigatewaymanagementapi.NewFromConfig(env.AWS, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
	p := &realtime.Pusher{
		Roster:      &chat.Roster{DB: env.DynamoDB, Table: chatTable},
		Connections: &realtime.Connections{DB: env.DynamoDB, Table: connTable},
		Poster:      managementAPI{api},
	}
	sources := map[string]string{chatTable: realtime.SourceChat, noticesTable: realtime.SourceNotices}
	return lambda.NewHandler(func(ctx context.Context, ev events.DynamoDBEvent) (realtime.Result, error) {
		recs, err := streamRecords(ev, sources)
		if err != nil {
			return realtime.Result{}, err
		}
		res, err := p.Push(ctx, recs)
		slog.InfoContext(ctx, "push", "records", res.Records, "events", res.Events, "posts", res.Posts, "gone", res.Gone, "failed", res.Failed)
		return res, err
	}), nil
}

// managementAPI posts through API Gateway's Management API.
type managementAPI struct {
	api *apigatewaymanagementapi.Client
}

func (m managementAPI) Post(ctx context.Context, id string, data []byte) error {
	_, err := m.api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: data})
	var gone *apitypes.GoneException
	if errors.As(err, &gone) {
		return realtime.ErrGone
	}
	return err
}

// streamRecords converts a stream batch, telling the tables apart by the
// table name in each record's stream ARN
// (arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>).
func streamRecords(ev events.DynamoDBEvent, sources map[string]string) ([]realtime.Record, error) {
	recs := make([]realtime.Record, 0, len(ev.Records))
	for _, r := range ev.Records {
		_, rest, _ := strings.Cut(r.EventSourceArn, ":table/")
		name, _, _ := strings.Cut(rest, "/stream/")
		src, ok := sources[name]
		if !ok {
			return nil, fmt.Errorf("record %s: stream %q is of no table this function reads", r.EventID, r.EventSourceArn)
		}
		rec := realtime.Record{Source: src, EventID: r.EventID, At: r.Change.ApproximateCreationDateTime.Time}
		var err error
		if rec.Keys, err = attributes(r.Change.Keys); err == nil {
			if rec.Old, err = attributes(r.Change.OldImage); err == nil {
				rec.New, err = attributes(r.Change.NewImage)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", r.EventID, err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// attributes converts the stream event's attribute values to the SDK's;
// nil stays nil (no image).
func attributes(m map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		a, err := attribute(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = a
	}
	return out, nil
}

func attribute(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		var l []types.AttributeValue
		for _, e := range v.List() {
			a, err := attribute(e)
			if err != nil {
				return nil, err
			}
			l = append(l, a)
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case events.DataTypeMap:
		m, err := attributes(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("attribute of unknown type %v", v.DataType())
}
