// Command memberimportjob is the Lambda function running member import
// jobs, invoked asynchronously by the import route and by itself to go on.
package main

import (
	"workbench/shared/stack/importjobfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(importjobfn.MemberImportJob) }
