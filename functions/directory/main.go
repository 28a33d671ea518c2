// Command directory is the Lambda function serving departments, custom fields,
// invitations, self-registration and frequent contacts.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Directory(ctx, env)))
}
