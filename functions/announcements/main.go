// Command announcements is the Lambda function serving news and announcements
// (/v1/announcements/...).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.Announcements(ctx, env)))
}
