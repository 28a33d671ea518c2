// Command calendar is the Lambda function serving the schedules app
// (/v1/calendar/...).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Calendar(ctx, env)))
}
