// Command calendar is the Lambda function serving the schedules app
package main

import (
	"workbench/shared/stack/calendarfn"
	"workbench/shared/stack/wire"
)

func main() { wire.Start(calendarfn.Calendar) }
