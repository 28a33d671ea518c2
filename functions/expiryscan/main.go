// Command expiryscan is the scheduled Lambda function that sends the
package main

import (
	"workbench/shared/stack/billingfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(billingfn.ExpiryScan) }
