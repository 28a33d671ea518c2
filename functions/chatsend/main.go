// Command chatsend is the Lambda function serving sending chat messages and rocket messages.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.ChatSend(ctx, env)))
}
