// Command login is the Lambda function that serves logins, sessions, the member's own password, admin password resets and login logs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Login(ctx, env)))
}
