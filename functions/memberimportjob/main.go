// Command memberimportjob is the Lambda function running member import
// jobs, invoked asynchronously by the import route and by itself to go on.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.MemberImportJob(ctx, env)))
}
