// Command chatsend is the Lambda function serving sending chat messages and rocket messages.
package main

import (
	"workbench/shared/stack/chatfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(chatfn.ChatSend) }
