// Command calendarreminder is the scheduled Lambda function sending due calendar
// reminders (a system notice, and SMS for meetings that ask for it).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"workbench/shared/stack"
)

func main() {
	ctx := context.Background()
	env := stack.Boot(ctx)
	lambda.Start(stack.Must(stack.CalendarReminder(ctx, env)))
}
