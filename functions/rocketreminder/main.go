// Command rocketreminder is the Lambda function serving the scheduled sweep sending rocket-message SMS reminders.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.RocketReminder(ctx, env)))
}
