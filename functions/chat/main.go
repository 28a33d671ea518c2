// Command chat is the Lambda function serving conversations, history, read state, group management, notices and chat settings.
package main

import (
	"workbench/shared/stack/chatfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(chatfn.Chat) }
