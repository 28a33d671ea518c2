// Command partnersync is the Lambda function running the partner sync delivery worker, triggered right away by the API functions and every minute by a schedule for due retries.
package main

import (
	"workbench/shared/stack/partnerfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(partnerfn.PartnerSync) }
