// Command members is the Lambda function serving member CRUD (create, read,
package main

import (
	"workbench/shared/stack/directoryfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(directoryfn.Members) }
