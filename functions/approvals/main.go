// Command approvals is the Lambda function serving the approvals app
package main

import (
	"workbench/shared/stack/approvalfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(approvalfn.Approvals) }
