// Command members is the Lambda function serving member CRUD (create, read,
// update, enable/disable, delete, list and search).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Members(ctx, env)))
}
