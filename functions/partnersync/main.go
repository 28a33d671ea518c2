// Command partnersync is the Lambda function running the partner sync delivery worker, triggered right away by the API functions and every minute by a schedule for due retries.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.PartnerSync(ctx, env)))
}
