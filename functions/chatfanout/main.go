// Command chatfanout is the Lambda function that reads the chat stream and moves large groups' members' conversation-list entries to their newest message.
package main

import (
	"workbench/shared/stack/chatfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(chatfn.ChatFanout) }
