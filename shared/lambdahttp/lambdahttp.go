// Package lambdahttp runs an http.Handler as a Lambda function behind an
// API Gateway HTTP API (payload format 2.0).
//
// It is the only package that sees API Gateway types: it moves what the
// gateway vouches for (request id, source IP) into the request context, and
// it drops X-GoLambdaProxy-* headers a client may have sent, since the
// proxy library's header accessors would believe them.
package lambdahttp

import (
	"context"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"workbench/shared/httpapi"
)

// Handler returns the Lambda handler serving h. h is wrapped with
// httpapi.Serve, so every response carries the gateway's request id.
func Handler(h http.Handler) lambda.Handler {
	adapter := httpadapter.NewV2(httpapi.Serve(h))
	return lambda.NewHandler(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		for name := range ev.Headers {
			if strings.HasPrefix(strings.ToLower(name), "x-golambdaproxy") {
				delete(ev.Headers, name)
			}
		}
		ctx = httpapi.WithRequest(ctx, httpapi.Request{
			ID:        ev.RequestContext.RequestID,
			SourceIP:  ev.RequestContext.HTTP.SourceIP,
			UserAgent: ev.RequestContext.HTTP.UserAgent,
		})
		return adapter.ProxyWithContext(ctx, ev)
	})
}
