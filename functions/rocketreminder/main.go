// Command rocketreminder is the Lambda function serving the scheduled sweep sending rocket-message SMS reminders.
package main

import (
	"workbench/shared/stack/chatfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(chatfn.RocketReminder) }
