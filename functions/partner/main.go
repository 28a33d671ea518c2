// Command partner is the Lambda function serving the partner routes: the operator's partner registration, partners' apps and tenant admins' bindings, visibility, extension data and sync logs.
package main

import (
	"workbench/shared/stack/partnerfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(partnerfn.Partner) }
