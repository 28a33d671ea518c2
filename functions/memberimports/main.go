// Command memberimports is the Lambda function serving member bulk import
// (upload, status, error report, template) and the directory export.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.MemberImports(ctx, env)))
}
