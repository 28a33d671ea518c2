// Command push is the Lambda function that reads the chat and notices streams and posts their events to open WebSocket connections.
package main

import (
	"workbench/shared/stack/realtimefn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(realtimefn.Push) }
