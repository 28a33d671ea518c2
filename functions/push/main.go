// Command push is the Lambda function that reads the chat and notices streams and posts their events to open WebSocket connections.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Push(ctx, env)))
}
