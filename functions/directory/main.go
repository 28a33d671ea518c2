// Command directory is the Lambda function serving departments, custom fields,
package main

import (
	"workbench/shared/stack/directoryfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(directoryfn.Directory) }
