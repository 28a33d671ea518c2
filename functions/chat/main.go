// Command chat is the Lambda function serving conversations, history, read state, group management, notices and chat settings.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Chat(ctx, env)))
}
