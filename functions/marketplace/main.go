// Command marketplace is the Lambda function serving the marketplace's signed instance callbacks.
package main

import (
	"workbench/shared/stack/partnerfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(partnerfn.Marketplace) }
