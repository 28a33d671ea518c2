// Command platform is the Lambda function serving health and the platform
package main

import (
	"workbench/shared/stack/platformfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(platformfn.Platform) }
