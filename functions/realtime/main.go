// Command realtime is the Lambda function serving the WebSocket API's $connect, $disconnect and $default routes.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Realtime(ctx, env)))
}
