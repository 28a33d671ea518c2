// Command expiryscan is the scheduled Lambda function that sends the
// subscription expiry notices that are due.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.ExpiryScan(ctx, env)))
}
