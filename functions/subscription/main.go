// Command subscription is the Lambda function serving the operator's
// subscription route and the admins' subscription and expiry notice
// settings.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Subscription(ctx, env)))
}
