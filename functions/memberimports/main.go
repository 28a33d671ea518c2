// Command memberimports is the Lambda function serving member bulk import
// (upload, status, error report, template) and the directory export.
package main

import (
	"workbench/shared/stack/memberimportfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(memberimportfn.MemberImports) }
