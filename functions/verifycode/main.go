// Command verifycode is the Lambda function that sends SMS verification codes (POST /v1/auth/sms-codes).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.VerifyCode(ctx, env)))
}
