// Command announcements is the Lambda function serving news and announcements
package main

import (
	"workbench/shared/stack/announcefn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(announcefn.Announcements) }
