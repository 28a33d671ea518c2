// Command realtime is the Lambda function serving the WebSocket API's $connect, $disconnect and $default routes.
package main

import (
	"workbench/shared/stack/realtimefn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(realtimefn.Realtime) }
