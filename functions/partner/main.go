// Command partner is the Lambda function serving the partner routes: the operator's partner registration, partners' apps and tenant admins' bindings, visibility, extension data and sync logs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Partner(ctx, env)))
}
