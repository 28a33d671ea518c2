// Command marketplace is the Lambda function serving the marketplace's signed instance callbacks.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Marketplace(ctx, env)))
}
