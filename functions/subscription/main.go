// Command subscription is the Lambda function serving the operator's
package main

import (
	"workbench/shared/stack/billingfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(billingfn.Subscription) }
