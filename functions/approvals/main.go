// Command approvals is the Lambda function serving the approvals app
// (/v1/approvals/...).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Approvals(ctx, env)))
}
