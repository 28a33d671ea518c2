// Command platform is the Lambda function serving health and the platform
// operator's tenant routes.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Platform(ctx, env)))
}
