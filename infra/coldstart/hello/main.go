// Command hello is the cold-start baseline: a Lambda function with the
// DynamoDB and SNS clients every Workbench function has and nothing else.
// infra/coldstart builds it with the functions' flags and measures each
// function against it.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func main() {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		panic(err)
	}
	db, topics := dynamodb.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	// The handler calls both clients so that the linker keeps them.
	lambda.Start(func(ctx context.Context) (int, error) {
		tables, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil {
			return 0, err
		}
		list, err := topics.ListTopics(ctx, &sns.ListTopicsInput{})
		if err != nil {
			return 0, err
		}
		return len(tables.TableNames) + len(list.Topics), nil
	})
}
